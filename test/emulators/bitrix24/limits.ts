/**
 * Bitrix24 cloud limits (docs `limits.md`):
 * - request rate: leaky bucket per portal and caller IP; +1 per HTTP request, −Y per second;
 *   once the counter is at X the next request gets `503 QUERY_LIMIT_EXCEEDED`. A `batch` is one
 *   HTTP request. Refused requests do not raise the counter (not documented; a plain leaky bucket).
 * - operating: per app-or-webhook and per method, execution seconds summed in 10 one-minute
 *   buckets, each expiring 10 min after its first call; checked before each call, so the call that
 *   crosses the limit completes and the next gets `429 OPERATION_TIME_LIMIT`.
 */

export class LeakyBucket {
  private level = 0;
  private updatedAtMs: number;

  constructor(
    private readonly drainPerSec: number,
    private readonly burst: number,
    nowMs: number,
  ) {
    this.updatedAtMs = nowMs;
  }

  /** Current fill after draining up to `nowMs`. */
  peek(nowMs: number): number {
    const elapsedSec = Math.max(0, nowMs - this.updatedAtMs) / 1000;
    return Math.max(0, this.level - elapsedSec * this.drainPerSec);
  }

  /** Count one request; refused (and not counted) when the bucket already holds `burst`. */
  take(nowMs: number): { allowed: boolean; level: number } {
    this.level = this.peek(nowMs);
    this.updatedAtMs = Math.max(this.updatedAtMs, nowMs);
    if (this.level + 1 > this.burst + 1e-9) return { allowed: false, level: this.level };
    this.level += 1;
    return { allowed: true, level: this.level };
  }
}

export class RateLimiter {
  private readonly buckets = new Map<string, LeakyBucket>();

  constructor(private readonly config: { enabled: boolean; drainPerSec: number; burst: number }) {}

  take(clientKey: string, nowMs: number): { allowed: boolean; level: number } {
    if (!this.config.enabled) return { allowed: true, level: 0 };
    let bucket = this.buckets.get(clientKey);
    if (!bucket) {
      bucket = new LeakyBucket(this.config.drainPerSec, this.config.burst, nowMs);
      this.buckets.set(clientKey, bucket);
    }
    return bucket.take(nowMs);
  }

  level(clientKey: string, nowMs: number): number {
    return this.buckets.get(clientKey)?.peek(nowMs) ?? 0;
  }

  reset(): void {
    this.buckets.clear();
  }
}

const MINUTE_MS = 60_000;
const WINDOW_MS = 10 * MINUTE_MS;

interface MinuteBucket {
  startedAtMs: number;
  seconds: number;
}

export class OperatingBudget {
  private readonly buckets = new Map<string, MinuteBucket[]>();

  constructor(private readonly limitSec: number) {}

  private live(key: string, nowMs: number): MinuteBucket[] {
    const list = (this.buckets.get(key) ?? []).filter((b) => b.startedAtMs + WINDOW_MS > nowMs);
    this.buckets.set(key, list);
    return list;
  }

  /** Seconds accumulated for this app-or-webhook and method in the window. */
  used(key: string, nowMs: number): number {
    return this.live(key, nowMs).reduce((sum, b) => sum + b.seconds, 0);
  }

  isBlocked(key: string, nowMs: number): boolean {
    return this.used(key, nowMs) > this.limitSec;
  }

  add(key: string, nowMs: number, seconds: number): void {
    const list = this.live(key, nowMs);
    const last = list[list.length - 1];
    if (last && nowMs < last.startedAtMs + MINUTE_MS) last.seconds += seconds;
    else list.push({ startedAtMs: nowMs, seconds });
  }

  /** `time.operating` and `time.operating_reset_at` (Unix seconds the oldest bucket drops out). */
  snapshot(key: string, nowMs: number): { operating: number; resetAt: number } {
    const list = this.live(key, nowMs);
    const oldest = list[0];
    return {
      operating: list.reduce((sum, b) => sum + b.seconds, 0),
      resetAt: Math.floor(((oldest?.startedAtMs ?? nowMs) + WINDOW_MS) / 1000),
    };
  }

  reset(): void {
    this.buckets.clear();
  }
}
