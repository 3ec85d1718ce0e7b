/**
 * Fault switches for tests: the next N (matching) requests fail with a 5xx, a 429, a hang
 * or a connection reset; a latency knob; token expiry; a manual API block.
 * Rules are consumed first-in, first-out; a request takes at most one rule.
 */
import type { RateLimiter } from './limiter.ts';
import type { AmoState } from './state.ts';

export type FaultKind = 'status' | 'rate-limit' | 'timeout' | 'reset';
export type GatewayStatus = 500 | 502 | 503 | 504;

export interface FaultMatch {
  /** HTTP method, any case. */
  method?: string;
  /** Exact path (no query) or a RegExp tested against the path. */
  path?: string | RegExp;
}

export interface FaultRule {
  kind: FaultKind;
  remaining: number;
  status?: GatewayStatus;
  match?: FaultMatch;
}

export class Faults {
  private rules: FaultRule[] = [];
  private latency: { ms: number; match?: FaultMatch } = { ms: 0 };

  constructor(
    private readonly state: AmoState,
    private readonly limiter: RateLimiter,
    private readonly clock: () => number,
  ) {}

  /** Next `count` matching requests answer `status` (500 problem+json; 502/503/504 nginx HTML). */
  failNext(count: number, opts: { status?: GatewayStatus } & FaultMatch = {}): this {
    const { status = 500, ...match } = opts;
    return this.add({ kind: 'status', remaining: count, status, match });
  }

  /** Next `count` matching requests get the rate-limit 429 (not counted toward the block). */
  rateLimitNext(count: number, match: FaultMatch = {}): this {
    return this.add({ kind: 'rate-limit', remaining: count, match });
  }

  /** Next `count` matching requests never get an answer; released when the app closes. */
  timeoutNext(count: number, match: FaultMatch = {}): this {
    return this.add({ kind: 'timeout', remaining: count, match });
  }

  /** Next `count` matching requests have their TCP connection destroyed (ECONNRESET / socket hang up). */
  resetNext(count: number, match: FaultMatch = {}): this {
    return this.add({ kind: 'reset', remaining: count, match });
  }

  /** Delay before handling every matching request, ms; 0 turns it off. */
  setLatency(ms: number, match?: FaultMatch): this {
    this.latency = match ? { ms, match } : { ms };
    return this;
  }

  latencyFor(method: string, path: string): number {
    return this.latency.ms > 0 && matches(this.latency.match, method, path) ? this.latency.ms : 0;
  }

  /** Every OAuth access token issued so far is now expired (long-lived ones too if asked). */
  expireAccessTokens(opts: { includeLongLived?: boolean } = {}): number {
    return this.state.auth.expireAccessTokens(opts.includeLongLived ?? false);
  }

  /** Revoke one access or refresh token (e.g. "integration disabled"). */
  revokeToken(token: string): boolean {
    return this.state.auth.revoke(token);
  }

  /** Start the 403 HTML block now, as if the account had abused the limit. */
  block(durationMs = 300_000): this {
    this.limiter.block(this.clock(), durationMs);
    return this;
  }

  /** Lift the block ("support unblocked the account"). */
  unblock(): this {
    this.limiter.unblock();
    return this;
  }

  get blocked(): boolean {
    return this.limiter.isBlocked(this.clock());
  }

  /** Rules not yet used up. */
  pending(): readonly FaultRule[] {
    return this.rules.filter((r) => r.remaining > 0);
  }

  /** Takes the first rule matching this request, decrementing its count. */
  take(method: string, path: string): FaultRule | undefined {
    const rule = this.rules.find((r) => r.remaining > 0 && matches(r.match, method, path));
    if (!rule) return undefined;
    rule.remaining -= 1;
    this.rules = this.rules.filter((r) => r.remaining > 0);
    return { ...rule };
  }

  clear(): void {
    this.rules = [];
    this.latency = { ms: 0 };
  }

  private add(rule: FaultRule): this {
    if (!Number.isInteger(rule.remaining) || rule.remaining < 1) {
      throw new RangeError(`amoCRM emulator: fault count must be a positive integer, got ${rule.remaining}`);
    }
    this.rules.push(rule);
    return this;
  }
}

function matches(m: FaultMatch | undefined, method: string, path: string): boolean {
  if (!m) return true;
  if (m.method && m.method.toUpperCase() !== method.toUpperCase()) return false;
  if (m.path !== undefined) {
    return typeof m.path === 'string' ? m.path === path : m.path.test(path);
  }
  return true;
}
