import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import type { BatchLane } from '../sdk/crm.ts';
import { coalesced } from '../sdk/crm.ts';
import { createCoalescer, SlotAwareLimiter } from './coalesce.ts';
import { cleanupPrefix, TEST_REDIS_URL, uniquePrefix } from '../../test/support/redis.ts';

/** A slot gate the test opens by hand, so items pile up while "waiting for the rate limit". */
function gate() {
  const waiting: (() => void)[] = [];
  let taken = 0;
  return {
    slot: () => new Promise<void>((r) => waiting.push(() => (taken++, r()))),
    open(n = 1) {
      for (let i = 0; i < n; i++) waiting.shift()?.();
    },
    get waiting() {
      return waiting.length;
    },
    get taken() {
      return taken;
    },
  };
}

const tick = () => new Promise((r) => setImmediate(r));

/** Doubles numbers; a negative number is rejected on its own. Records every request's items. */
function doubler(maxWeight = 50): BatchLane<number, number> & { sent: number[][] } {
  const sent: number[][] = [];
  return {
    sent,
    maxWeight,
    async send(items) {
      sent.push([...items]);
      return items.map((n) => (n < 0 ? { ok: false as const, error: new Error(`bad item ${n}`) } : { ok: true as const, value: n * 2 }));
    },
  };
}

describe('coalescer', () => {
  it('sends a lone item at once, in a request of its own', async () => {
    const lane = doubler();
    const c = createCoalescer({ slot: async () => undefined });
    await expect(c.submit('x', lane, 21)).resolves.toBe(42);
    expect(lane.sent).toEqual([[21]]);
  });

  it('items arriving while the slot is awaited go out together, each caller getting its own result', async () => {
    const g = gate();
    const lane = doubler();
    const c = createCoalescer({ slot: g.slot });
    const first = c.submit('x', lane, 1);
    await tick();
    const rest = [2, 3, 4].map((n) => c.submit('x', lane, n));
    g.open();
    expect(await Promise.all([first, ...rest])).toEqual([2, 4, 6, 8]);
    expect(lane.sent).toEqual([[1, 2, 3, 4]]);
    expect(g.taken).toBe(1);
  });

  it("one item's error fails that item only", async () => {
    const lane = doubler();
    const c = createCoalescer({ slot: async () => undefined });
    const results = await Promise.allSettled([5, -1, 7].map((n) => c.submit('x', lane, n)));
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason.message).toBe('bad item -1');
    expect((results[2] as PromiseFulfilledResult<number>).value).toBe(14);
  });

  it('never puts more than maxWeight into one request (items, or commands by weight)', async () => {
    const lane = doubler(50);
    const c = createCoalescer({ slot: async () => undefined });
    await Promise.all(Array.from({ length: 120 }, (_, i) => c.submit('x', lane, i)));
    expect(lane.sent.map((b) => b.length)).toEqual([50, 50, 20]);

    const weighted = { ...doubler(50), weight: () => 4 };
    const sent = weighted.sent;
    await Promise.all(Array.from({ length: 30 }, (_, i) => c.submit('w', weighted, i)));
    expect(sent.map((b) => b.length)).toEqual([12, 12, 6]);
    expect(Math.max(...sent.map((b) => b.length * 4))).toBeLessThanOrEqual(50);
  });

  it('a failed request fails its own items; the next batch still goes', async () => {
    const g = gate();
    let calls = 0;
    const lane: BatchLane<number, number> = {
      maxWeight: 2,
      async send(items) {
        calls++;
        if (calls === 1) throw new Error('HTTP 503');
        return items.map((n) => ({ ok: true as const, value: n }));
      },
    };
    const c = createCoalescer({ slot: g.slot });
    const ps = [1, 2, 3].map((n) => c.submit('x', lane, n).then((v) => `ok ${v}`, (e: Error) => e.message));
    g.open();
    await tick();
    g.open();
    expect(await Promise.all(ps)).toEqual(['HTTP 503', 'HTTP 503', 'ok 3']);
  });

  it('no slot in time → every waiting item fails (its delivery retries later)', async () => {
    const c = createCoalescer({ slot: async () => Promise.reject(new Error('rate limit slot not available')) });
    const lane = doubler();
    const rs = await Promise.allSettled([1, 2].map((n) => c.submit('x', lane, n)));
    expect(rs.every((r) => r.status === 'rejected')).toBe(true);
    expect(lane.sent).toEqual([]);
  });

  it('lanes are independent', async () => {
    const a = doubler();
    const b = doubler();
    const c = createCoalescer({ slot: async () => undefined });
    await Promise.all([c.submit('a', a, 1), c.submit('b', b, 2), c.submit('a', a, 3)]);
    expect(a.sent.flat().sort()).toEqual([1, 3]);
    expect(b.sent.flat()).toEqual([2]);
  });

  it('coalesced() without a coalescer sends the item alone and unwraps its outcome', async () => {
    const lane = doubler();
    await expect(coalesced({}, 'x', lane, 4)).resolves.toBe(8);
    await expect(coalesced({}, 'x', lane, -4)).rejects.toThrow('bad item -4');
  });
});

describe('SlotAwareLimiter with the coalescer (real Redis)', () => {
  let prefix = '';
  const redis = new Redis(TEST_REDIS_URL);
  afterEach(async () => {
    await cleanupPrefix(prefix);
  });
  afterAll(() => redis.disconnect());

  it('one slot per HTTP request: the request a flush sends uses the slot taken for it, any second request takes its own', async () => {
    prefix = uniquePrefix();
    const key = `${prefix}:limit:acct`;
    const limiter = new SlotAwareLimiter(redis, key, `${prefix}:pause:acct`, { kind: 'window', max: 100, windowMs: 60_000 });
    const slotsUsed = async () => redis.zcard(key);
    const c = createCoalescer({ slot: () => limiter.acquire() });
    // `send` stands for the HTTP client: it takes a slot before each request it makes.
    let httpRequests = 0;
    const lane: BatchLane<number, number> = {
      maxWeight: 50,
      async send(items) {
        await limiter.acquire();
        httpRequests++;
        if (items.includes(99)) {
          await limiter.acquire(); // e.g. sent again after a 401
          httpRequests++;
        }
        return items.map((n) => ({ ok: true as const, value: n }));
      },
    };
    await Promise.all([1, 2, 3].map((n) => c.submit('x', lane, n)));
    await c.submit('x', lane, 99);
    // A request outside any flush is counted as usual.
    await limiter.acquire();
    httpRequests++;
    expect(await slotsUsed()).toBe(httpRequests);
    expect(c.stats.requests).toBeLessThan(5);
  });

  it('under a real limit the batch waits for the slot and carries what piled up meanwhile', async () => {
    prefix = uniquePrefix();
    const key = `${prefix}:limit:acct`;
    const limiter = new SlotAwareLimiter(redis, key, `${prefix}:pause:acct`, { kind: 'window', max: 1, windowMs: 400 });
    await limiter.acquire(); // the window is full: the lane must wait
    const c = createCoalescer({ slot: () => limiter.acquire() });
    const lane = doubler();
    const results = await Promise.all([1, 2, 3, 4, 5].map((n) => c.submit('x', lane, n)));
    expect(results).toEqual([2, 4, 6, 8, 10]);
    expect(lane.sent).toEqual([[1, 2, 3, 4, 5]]);
  });
});
