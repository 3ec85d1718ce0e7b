import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { sleep } from './limiter.ts';

const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

/**
 * A Redis lock (SET NX PX + owner token). Used for token refresh, per-contact and per-thread ordering,
 * and call merging, so that any number of worker processes agree.
 */
export async function withRedisLock<T>(redis: Redis, key: string, fn: () => Promise<T>, opts: { ttlMs?: number; waitMs?: number } = {}): Promise<T> {
  const ttlMs = opts.ttlMs ?? 30_000;
  const waitMs = opts.waitMs ?? 30_000;
  const token = randomUUID();
  const started = Date.now();
  for (;;) {
    const ok = await redis.set(key, token, 'PX', ttlMs, 'NX');
    if (ok === 'OK') break;
    if (Date.now() - started > waitMs) throw new LockTimeoutError(key);
    await sleep(25 + Math.floor(Math.random() * 50));
  }
  try {
    return await fn();
  } finally {
    await redis.eval(RELEASE, 1, key, token).catch(() => undefined);
  }
}

export class LockTimeoutError extends Error {
  constructor(key: string) {
    super(`lock ${key.replace(/:[^:]*$/, ':…')} busy`);
    this.name = 'LockTimeoutError';
  }
}
