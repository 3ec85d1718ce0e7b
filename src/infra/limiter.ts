import type { Redis } from 'ioredis';

/**
 * A per-account request budget shared by every process through Redis (never process memory).
 * - `window`: at most `max` requests in any `windowMs` (amoCRM: 7 per second, hard).
 * - `bucket`: leaky bucket draining `ratePerSec`, holding `burst` (Bitrix24: 2/s, burst 50).
 * Time comes from Redis (`TIME`) so clocks of different machines do not matter.
 */
export type LimitSpec =
  | {
      kind: 'window';
      max: number;
      windowMs: number;
      /** A slot whose request cannot leave within this many ms of asking is given up for a fresh one (see `stale`). */
      maxSendLagMs?: number;
    }
  | { kind: 'bucket'; ratePerSec: number; burst: number };

/**
 * amoCRM-style limits (burst ≤ rate) are a hard sliding window; larger bursts are a leaky bucket.
 *
 * The window is the vendor's second plus `guardMs`, because the vendor counts arrivals, not our grants: a request
 * granted early but sent late (event loop busy, GC) lands closer to the next ones. No request is sent more than
 * `guardMs / 2` after its slot was asked for (`stale`), which leaves the other half for network jitter. 80 ms →
 * 7 per 1.08 s, 93 % of the vendor's rate.
 */
export function limitSpecFor(l: { perSecond: number; burst: number }, guardMs = 80): LimitSpec {
  return l.burst <= l.perSecond ? { kind: 'window', max: l.perSecond, windowMs: 1000 + guardMs, maxSendLagMs: Math.floor(guardMs / 2) } : { kind: 'bucket', ratePerSec: l.perSecond, burst: l.burst };
}

// Returns 0 when a slot was taken, else ms to wait. KEYS[1] limiter key, KEYS[2] pause key.
const SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local pttl = redis.call('PTTL', KEYS[2])
if pttl and pttl > 0 then return pttl end
if ARGV[1] == 'window' then
  local max = tonumber(ARGV[2]); local win = tonumber(ARGV[3])
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - win)
  local n = redis.call('ZCARD', KEYS[1])
  if n < max then
    redis.call('ZADD', KEYS[1], now, now .. '-' .. ARGV[4])
    redis.call('PEXPIRE', KEYS[1], win + 1000)
    return 0
  end
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return math.max(1, tonumber(oldest[2]) + win - now)
else
  local rate = tonumber(ARGV[2]) / 1000; local burst = tonumber(ARGV[3])
  local v = redis.call('HMGET', KEYS[1], 'level', 'at')
  local level = tonumber(v[1]) or 0; local at = tonumber(v[2]) or now
  level = math.max(0, level - (now - at) * rate)
  if level + 1 <= burst then
    redis.call('HSET', KEYS[1], 'level', tostring(level + 1), 'at', tostring(now))
    redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate) + 1000)
    return 0
  end
  redis.call('HSET', KEYS[1], 'level', tostring(level), 'at', tostring(now))
  return math.max(1, math.ceil((level + 1 - burst) / rate))
end`;

let seq = 0;

export class RedisLimiter {
  constructor(
    private readonly redis: Redis,
    private readonly key: string,
    private readonly pauseKey: string,
    private readonly spec: LimitSpec,
  ) {}

  /** Try once: 0 = go, otherwise ms to wait. */
  async tryAcquire(): Promise<number> {
    const a = this.spec.kind === 'window' ? [String(this.spec.max), String(this.spec.windowMs)] : [String(this.spec.ratePerSec), String(this.spec.burst)];
    const res = await this.redis.eval(SCRIPT, 2, this.key, this.pauseKey, this.spec.kind, a[0]!, a[1]!, `${process.pid}-${++seq}-${Math.random()}`);
    return Number(res);
  }

  /** Slots given up because their request could not leave in time (see `stale`). */
  staleSlots = 0;

  /**
   * Waits for a slot; gives up after `maxWaitMs` (the job then retries later, nothing is lost). Resolves to the
   * local time the granting attempt was sent: the grant happened at or after it (see `stale`).
   */
  async acquire(maxWaitMs = 60_000): Promise<number> {
    const started = Date.now();
    for (;;) {
      const askedAt = Date.now();
      const wait = await this.tryAcquire();
      if (wait === 0) return askedAt;
      if (Date.now() - started + wait > maxWaitMs) throw new LimiterTimeoutError(wait);
      await sleep(Math.min(wait, 1_000) + Math.floor(Math.random() * 15));
    }
  }

  /**
   * True when a slot asked for at `askedAt` is too old to send on: its request would reach the vendor bunched with
   * requests granted after it. The caller takes a fresh slot; the old one stays counted (never over the limit).
   */
  stale(askedAt: number): boolean {
    if (this.spec.kind !== 'window' || this.spec.maxSendLagMs === undefined || Date.now() - askedAt <= this.spec.maxSendLagMs) return false;
    this.staleSlots += 1;
    return true;
  }

  /** Stop every process from calling this account for `ms` (429 storms, 403 IP block). */
  async pause(ms: number): Promise<void> {
    await this.redis.set(this.pauseKey, '1', 'PX', Math.max(1, Math.round(ms)));
  }

  async pausedForMs(): Promise<number> {
    return Math.max(0, await this.redis.pttl(this.pauseKey));
  }
}

/**
 * A fixed-window request counter (what @fastify/rate-limit's Redis store does), as a Lua fragment so the
 * gateway can run it inside its intake script: one round trip for the limit and the duplicate check.
 * Uses `KEYS[<keyIdx>]`, `ARGV[<maxIdx>]` (0 = no limit) and `ARGV[<maxIdx>+1]` (window ms); returns from
 * the script with `limitedReply(<ms until the window resets>)` (default `-<ms>`) when over the limit, else falls
 * through.
 */
export function fixedWindowLua(keyIdx: number, maxIdx: number, limitedReply: (msExpr: string) => string = (ms) => `-${ms}`): string {
  const key = `KEYS[${keyIdx}]`;
  const max = `tonumber(ARGV[${maxIdx}])`;
  const win = `ARGV[${maxIdx + 1}]`;
  return `
if ${max} > 0 then
  local n = redis.call('INCR', ${key})
  if n == 1 then redis.call('PEXPIRE', ${key}, ${win}) end
  if n > ${max} then
    local t = redis.call('PTTL', ${key})
    if t < 0 then redis.call('PEXPIRE', ${key}, ${win}); t = tonumber(${win}) end
    return ${limitedReply('math.max(t, 1)')}
  end
end`;
}

export class LimiterTimeoutError extends Error {
  constructor(readonly waitMs: number) {
    super(`rate limit slot not available, next in ${waitMs} ms`);
    this.name = 'LimiterTimeoutError';
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
