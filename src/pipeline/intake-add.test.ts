/**
 * The one-round-trip add on a real Redis, against the installed BullMQ: the fast path must be taken (a BullMQ
 * upgrade that no longer fits fails here instead of silently halving the gateway's rate), and what it stores must be
 * what `queue.add` stores, down to the hash fields a worker reads.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { createOneTripAdd, type PreludeLua } from './intake-add.ts';
import { createRedis } from '../infra/redis.ts';
import { cleanupPrefix, TEST_REDIS_URL, uniquePrefix } from '../../test/support/redis.ts';

// A prelude with one key and one argument: `dup` if the key exists, `limited` for ARGV "stop", else add.
const prelude: PreludeLua = (k, a) => `
if ARGV[${a + 1}] == 'stop' then return {2, 1234} end
if redis.call('EXISTS', KEYS[${k + 1}]) == 1 then return {1} end`;

describe('one-round-trip intake add (BullMQ addStandardJob with a prelude)', () => {
  const prefix = uniquePrefix();
  const conn = createRedis(TEST_REDIS_URL, 'producer');
  const addConn = createRedis(TEST_REDIS_URL, 'intake');
  const plain = new Redis(TEST_REDIS_URL);
  const queue = new Queue('intake', { connection: conn, prefix, defaultJobOptions: { attempts: 10, backoff: { type: 'exponential', delay: 1000 }, removeOnComplete: { age: 86400 } } });
  afterAll(async () => {
    await queue.close();
    conn.disconnect();
    addConn.disconnect();
    plain.disconnect();
    await cleanupPrefix(prefix);
  });

  it('fits the installed BullMQ: template mode, the same job hash as queue.add, and a worker processes it', async () => {
    await queue.waitUntilReady();
    const add = createOneTripAdd(queue, addConn, 'event', prelude);
    expect(add, 'the installed BullMQ no longer fits the one-round-trip add: see src/pipeline/intake-add.ts').not.toBeNull();
    expect(add!.mode).toBe('template');

    const data = { sourceId: 'site', raw: { body: 'Иван "Петров"\n', n: 1 } };
    const before = Date.now();
    expect(await add!.add(data, 'site.fast-1', [`${prefix}:none`], ['go'])).toEqual({ kind: 'added' });
    await queue.add('event', data, { jobId: 'site.slow-1' });
    const fast = await plain.hgetall(queue.toKey('site.fast-1'));
    const slow = await plain.hgetall(queue.toKey('site.slow-1'));
    expect(Number(fast.timestamp)).toBeGreaterThanOrEqual(before);
    // Every field but the time of adding is byte-equal; the options carry each job's own id.
    const strip = (h: Record<string, string>) => ({ ...h, timestamp: 'T', opts: h.opts!.replace(/site\.(fast|slow)-1/, 'ID') });
    expect(strip(fast)).toEqual(strip(slow));
    expect(await queue.getWaitingCount()).toBe(2);

    const seen: string[] = [];
    const worker = new Worker('intake', async (job) => { seen.push(`${job.id}:${JSON.stringify(job.data)}:${job.opts.attempts}`); }, { connection: new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null }), prefix });
    await expect.poll(() => seen.length, { timeout: 5000 }).toBe(2);
    await worker.close();
    await worker.disconnect();
    expect(seen.sort()).toEqual([`site.fast-1:${JSON.stringify(data)}:10`, `site.slow-1:${JSON.stringify(data)}:10`]);
  });

  it('the prelude decides before anything is stored: limited and duplicate add nothing; the same id twice is one job', async () => {
    const add = createOneTripAdd(queue, addConn, 'event', prelude)!;
    expect(await add.add({ a: 1 }, 'site.p-1', [`${prefix}:none`], ['stop'])).toEqual({ kind: 'limited', waitMs: 1234 });
    expect(await plain.exists(queue.toKey('site.p-1'))).toBe(0);
    await plain.set(`${prefix}:seen`, '1');
    expect(await add.add({ a: 1 }, 'site.p-2', [`${prefix}:seen`], ['go'])).toEqual({ kind: 'duplicate' });
    expect(await plain.exists(queue.toKey('site.p-2'))).toBe(0);
    // Two concurrent adds of one id (no marker yet): BullMQ keeps one job.
    await Promise.all([add.add({ a: 1 }, 'site.p-3', [`${prefix}:none`], ['go']), add.add({ a: 2 }, 'site.p-3', [`${prefix}:none`], ['go'])]);
    expect(JSON.parse((await plain.hget(queue.toKey('site.p-3'), 'data'))!)).toEqual({ a: 1 });
  });
});
