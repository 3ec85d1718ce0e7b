import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { sleep } from './limiter.ts';

const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;
const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;

/**
 * A Redis lock (SET NX PX + owner token), renewed while its holder lives. A killed holder's lock expires within
 * `ttlMs`, so others are not blocked for long. Used for token refresh, per-contact and per-thread ordering, and
 * call merging, so that any number of worker processes agree.
 */
export async function withRedisLock<T>(redis: Redis, key: string, fn: () => Promise<T>, opts: { ttlMs?: number; waitMs?: number } = {}): Promise<T> {
  const ttlMs = Math.min(opts.ttlMs ?? 15_000, 15_000);
  const waitMs = opts.waitMs ?? 30_000;
  const token = randomUUID();
  const started = Date.now();
  for (;;) {
    const ok = await redis.set(key, token, 'PX', ttlMs, 'NX');
    if (ok === 'OK') break;
    if (Date.now() - started > waitMs) throw new LockTimeoutError(key);
    await sleep(25 + Math.floor(Math.random() * 50));
  }
  const renew = setInterval(() => {
    void redis.eval(RENEW, 1, key, token, String(ttlMs)).catch(() => undefined);
  }, Math.max(250, Math.floor(ttlMs / 3)));
  try {
    return await fn();
  } finally {
    clearInterval(renew);
    await redis.eval(RELEASE, 1, key, token).catch(() => undefined);
  }
}

export class LockTimeoutError extends Error {
  constructor(key: string) {
    super(`lock ${key.replace(/:[^:]*$/, ':…')} busy`);
    this.name = 'LockTimeoutError';
  }
}
