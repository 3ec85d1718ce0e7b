/**
 * The shared CRM limiter on a real Redis: the sliding window with its guard, and stale slots — a request that
 * could not leave soon after its grant takes a fresh slot, so requests never reach the vendor bunched.
 */
import nock from 'nock';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { RedisLimiter, limitSpecFor } from './limiter.ts';
import { createHttpClient } from './http.ts';
import { cleanupPrefix, TEST_REDIS_URL, uniquePrefix } from '../../test/support/redis.ts';

const prefix = uniquePrefix();
const redis = new Redis(TEST_REDIS_URL);
let n = 0;
const limiter = (spec = limitSpecFor({ perSecond: 7, burst: 7 })) => new RedisLimiter(redis, `${prefix}:lim:${++n}`, `${prefix}:pause:${n}`, spec);
afterEach(() => nock.cleanAll());
afterAll(async () => {
  redis.disconnect();
  await cleanupPrefix(prefix);
});

describe('limitSpecFor', () => {
  it('amoCRM-style limits: 7 per 1.08 s (93 % of the vendor rate), sends at most 40 ms after asking; large bursts: a bucket', () => {
    expect(limitSpecFor({ perSecond: 7, burst: 7 })).toEqual({ kind: 'window', max: 7, windowMs: 1080, maxSendLagMs: 40 });
    expect(limitSpecFor({ perSecond: 2, burst: 50 })).toEqual({ kind: 'bucket', ratePerSec: 2, burst: 50 });
  });
});

describe('RedisLimiter window', () => {
  it('grants max slots, then answers how long to wait until the oldest leaves the window', async () => {
    const l = limiter();
    for (let i = 0; i < 7; i++) expect(await l.tryAcquire()).toBe(0);
    const wait = await l.tryAcquire();
    expect(wait).toBeGreaterThan(900);
    expect(wait).toBeLessThanOrEqual(1080);
  });

  it('acquire resolves to when the granting attempt was sent; stale() past maxSendLagMs, counted', async () => {
    const l = limiter();
    const before = Date.now();
    const askedAt = await l.acquire();
    expect(askedAt).toBeGreaterThanOrEqual(before);
    expect(askedAt).toBeLessThanOrEqual(Date.now());
    expect(l.stale(Date.now() - 10)).toBe(false);
    expect(l.stale(Date.now() - 41)).toBe(true);
    expect(l.staleSlots).toBe(1);
    // A bucket (Bitrix24) holds a burst: late sends cannot push it over, slots are never stale.
    const b = limiter({ kind: 'bucket', ratePerSec: 2, burst: 50 });
    expect(b.stale(Date.now() - 5_000)).toBe(false);
  });
});

describe('http client with a limiter', () => {
  it('a slot gone stale before the send is replaced by a fresh one; the request goes out once', async () => {
    const scope = nock('https://crm.example').post('/api/v4/leads').once().reply(200, { ok: 1 });
    const l = limiter();
    let asked = 0;
    // The first grant "arrives" 200 ms late (a busy event loop); the second is fresh.
    const realAcquire = l.acquire.bind(l);
    l.acquire = async (maxWaitMs?: number) => {
      const at = await realAcquire(maxWaitMs);
      return ++asked === 1 ? at - 200 : at;
    };
    const http = createHttpClient({ baseUrl: 'https://crm.example/', limiter: l });
    expect((await http.request<{ ok: number }>({ method: 'POST', url: 'api/v4/leads', data: [{}] })).data.ok).toBe(1);
    expect(asked).toBe(2);
    expect(l.staleSlots).toBe(1);
    scope.done();
    // Both slots stay counted in the shared window: 5 left of 7.
    for (let i = 0; i < 5; i++) expect(await l.tryAcquire()).toBe(0);
    expect(await l.tryAcquire()).toBeGreaterThan(0);
  });
});
