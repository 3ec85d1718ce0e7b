/**
 * Fault switches. Every switch can be limited to REST methods by a matcher: a method name
 * (case-insensitive, `.json` ignored), a RegExp or a predicate. The OAuth token endpoint is
 * matched as the pseudo-method `oauth.token`. A `batch` call is matched as `batch`.
 */

export type MethodMatcher = string | RegExp | ((method: string) => boolean);

export type FaultAction = (
  /** Answer with this HTTP status; 500 gets Bitrix's JSON body, 502/503/504 an nginx HTML page. */
  | { kind: 'status'; status: number; body?: string | Record<string, unknown>; contentType?: string }
  /** `503 {"error":"QUERY_LIMIT_EXCEEDED",…}` regardless of the bucket. */
  | { kind: 'query-limit' }
  /** Never answer; released (socket destroyed) by `releaseHangs()` or on close. */
  | { kind: 'hang' }
  /** Destroy the socket without a response (ECONNRESET on the client). */
  | { kind: 'reset' }
) & {
  /** Run the method first (records are created), then lose the answer this way. @defaultValue false */
  afterExecution?: boolean;
};

interface FaultRule {
  action: FaultAction;
  remaining: number;
  match?: MethodMatcher;
}

interface LatencyRule {
  minMs: number;
  maxMs: number;
  match?: MethodMatcher;
}

export interface FaultScope {
  /** Limit the switch to these methods. @defaultValue every method */
  method?: MethodMatcher;
}

export interface LostAnswerScope extends FaultScope {
  /**
   * Execute the request first, then fail it: the portal created the lead but the client never
   * learns its id (the case behind "never blindly retry `*.add`"). @defaultValue false
   */
  afterExecution?: boolean;
}

export function normaliseMethodName(method: string): string {
  return method.trim().toLowerCase().replace(/\.json$/, '');
}

function matches(matcher: MethodMatcher | undefined, method: string): boolean {
  if (matcher === undefined) return true;
  if (typeof matcher === 'string') return normaliseMethodName(matcher) === method;
  if (matcher instanceof RegExp) return matcher.test(method);
  return matcher(method);
}

export interface TokenHooks {
  expireAccessTokens(): number;
  revokeAccessTokens(): number;
}

export class FaultController {
  private rules: FaultRule[] = [];
  private latency: LatencyRule[] = [];
  private forcedOperating: MethodMatcher[] = [];
  private readonly costs = new Map<string, number>();
  private redirectRule: { to: string; remaining: number } | undefined;
  private readonly hangs = new Set<() => void>();

  constructor(private readonly tokens: TokenHooks) {}

  /** Next `count` matching requests get HTTP `status` (500 JSON, 502/503/504 HTML unless `body` given). */
  failNext(count: number, status: number, opts: LostAnswerScope & { body?: string | Record<string, unknown>; contentType?: string } = {}): this {
    return this.add(count, { kind: 'status', status, body: opts.body, contentType: opts.contentType, afterExecution: opts.afterExecution }, opts.method);
  }

  /** Next `count` matching requests get `503 QUERY_LIMIT_EXCEEDED` whatever the bucket says. */
  queryLimitNext(count: number, opts: FaultScope = {}): this {
    return this.add(count, { kind: 'query-limit' }, opts.method);
  }

  /** Next `count` matching requests hang until `releaseHangs()` or close. */
  hangNext(count: number, opts: LostAnswerScope = {}): this {
    return this.add(count, { kind: 'hang', afterExecution: opts.afterExecution }, opts.method);
  }

  /** Next `count` matching requests have their connection reset. */
  resetNext(count: number, opts: LostAnswerScope = {}): this {
    return this.add(count, { kind: 'reset', afterExecution: opts.afterExecution }, opts.method);
  }

  /** Delay matching requests by `ms`, or uniformly within `{minMs, maxMs}`. Later calls add rules. */
  setLatency(ms: number | { minMs: number; maxMs: number }, opts: FaultScope = {}): this {
    const range = typeof ms === 'number' ? { minMs: ms, maxMs: ms } : ms;
    this.latency.push({ ...range, match: opts.method });
    return this;
  }

  /** Matching methods answer `429 OPERATION_TIME_LIMIT` until `clear()`. @defaultValue every method */
  forceOperationTimeLimit(method: MethodMatcher = () => true): this {
    this.forcedOperating.push(method);
    return this;
  }

  /** Simulated execution time, in seconds, each call to `method` adds to its operating budget. */
  setMethodCost(method: string, seconds: number): this {
    this.costs.set(normaliseMethodName(method), seconds);
    return this;
  }

  /** Portal renamed: REST requests whose Host differs from `to`'s host get `302 Location: to + path`. */
  redirect(opts: { to: string; count?: number }): this {
    this.redirectRule = { to: opts.to.replace(/\/+$/, ''), remaining: opts.count ?? Number.POSITIVE_INFINITY };
    return this;
  }

  /** Every issued access token answers `401 expired_token` from now on. Returns how many. */
  expireAccessTokens(): number {
    return this.tokens.expireAccessTokens();
  }

  /** Every issued access token answers `401 invalid_token` from now on. Returns how many. */
  revokeAccessTokens(): number {
    return this.tokens.revokeAccessTokens();
  }

  /** Let every hung request go (their sockets are destroyed). */
  releaseHangs(): void {
    for (const release of [...this.hangs]) release();
    this.hangs.clear();
  }

  /** Drop every switch (hung requests are released). */
  clear(): void {
    this.rules = [];
    this.latency = [];
    this.forcedOperating = [];
    this.costs.clear();
    this.redirectRule = undefined;
    this.releaseHangs();
  }

  get pendingHangs(): number {
    return this.hangs.size;
  }

  // ---- used by the app ---------------------------------------------------------------

  /** @internal Consume the first matching one-shot fault. */
  take(method: string): FaultAction | undefined {
    const rule = this.rules.find((r) => r.remaining > 0 && matches(r.match, method));
    if (!rule) return undefined;
    rule.remaining -= 1;
    this.rules = this.rules.filter((r) => r.remaining > 0);
    return rule.action;
  }

  /** @internal */
  latencyMs(method: string): number {
    return this.latency
      .filter((r) => matches(r.match, method))
      .reduce((sum, r) => sum + r.minMs + Math.random() * (r.maxMs - r.minMs), 0);
  }

  /** @internal */
  isOperatingForced(method: string): boolean {
    return this.forcedOperating.some((m) => matches(m, method));
  }

  /** @internal */
  costSec(method: string): number | undefined {
    return this.costs.get(method);
  }

  /** @internal Location for a request to `host` + `pathAndQuery`, or undefined. */
  redirectFor(host: string | undefined, pathAndQuery: string): string | undefined {
    const rule = this.redirectRule;
    if (!rule || rule.remaining <= 0) return undefined;
    if (host && new URL(rule.to).host.toLowerCase() === host.toLowerCase()) return undefined;
    rule.remaining -= 1;
    return rule.to + pathAndQuery;
  }

  /** @internal A promise that settles when hangs are released. */
  hang(): Promise<void> {
    return new Promise((resolve) => {
      const release = (): void => {
        this.hangs.delete(release);
        resolve();
      };
      this.hangs.add(release);
    });
  }

  private add(count: number, action: FaultAction, match: MethodMatcher | undefined): this {
    if (!Number.isInteger(count) || count < 1) throw new RangeError(`faults: count must be a positive integer, got ${count}`);
    this.rules.push({ action, remaining: count, match });
    return this;
  }
}
