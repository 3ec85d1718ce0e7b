/**
 * The gateway's intake store on a real Redis: one round trip checks the per-IP/source budget and whether the event
 * was seen, then the job is added. Duplicates are found by the job while it exists and by the worker's marker after
 * the job is gone; the budget is shared by every request of that client and source, stored or not.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue } from 'bullmq';
import { resolve } from 'node:path';
import { buildApp } from '../../src/app.ts';
import { resolveConfig } from '../../src/config/load.ts';
import { registry } from '../../src/runtime/load-runtime-config.ts';
import { createIntakeStore, intakeJobId, markSeen, RateLimitedError, type IntakeStore } from '../../src/pipeline/enqueue.ts';
import { makeKeys } from '../../src/infra/keys.ts';
import { createRedis } from '../../src/infra/redis.ts';
import { hashKey, QUEUE_INTAKE, type StoredEvent } from '../../src/pipeline/queues.ts';
import { cleanupPrefix, TEST_REDIS_URL, uniquePrefix } from '../support/redis.ts';
import { startHarness } from '../support/harness.ts';

const event = (id: string): StoredEvent => ({
  sourceId: 'site',
  connector: 'form',
  eventId: id,
  eventHash: hashKey(id),
  raw: { method: 'POST', subPath: '', headers: { 'content-type': 'application/json' }, query: {}, bodyB64: Buffer.from(`{"submission_id":"${id}"}`).toString('base64'), receivedAt: new Date().toISOString() },
});

// Both paths: one round trip (the check as a prelude of BullMQ's add, on a connection of its own as the gateway
// runs it) and two (check script, then queue.add), which the gateway falls back to when BullMQ does not fit.
describe.each([
  { path: 'one round trip', oneRoundTrip: true },
  { path: 'two round trips', oneRoundTrip: false },
])('intake store, $path', ({ oneRoundTrip }) => {
  const prefix = uniquePrefix();
  const keys = makeKeys(prefix);
  const producer = createRedis(TEST_REDIS_URL, 'producer');
  const addRedis = createRedis(TEST_REDIS_URL, 'intake');
  const queue = new Queue(QUEUE_INTAKE, { connection: producer, prefix });
  let store: IntakeStore;
  beforeAll(() => {
    store = createIntakeStore({ queue, redis: producer, addRedis, keys, ttlSec: 3600, timeoutMs: 1000, oneRoundTrip });
  });
  afterAll(async () => {
    await queue.close();
    producer.disconnect();
    addRedis.disconnect();
    await cleanupPrefix(prefix);
  });

  it('stores an event once: the job answers for it while it exists', async () => {
    const ev = event('e-1');
    expect(await store.put(ev)).toBe('accepted');
    expect(await store.put(ev)).toBe('duplicate');
    expect((await queue.getJobs(['waiting'])).filter((j) => j.id === intakeJobId(ev))).toHaveLength(1);
  });

  it('after the job is removed, the marker the worker wrote keeps it a duplicate; without a marker it is stored again', async () => {
    const seen = event('e-2');
    expect(await store.put(seen)).toBe('accepted');
    await markSeen(producer, keys, seen, 3600); // what the intake worker does first
    await (await queue.getJob(intakeJobId(seen)))!.remove();
    expect(await store.put(seen)).toBe('duplicate');
    expect(await queue.getJob(intakeJobId(seen))).toBeUndefined();

    const unseen = event('e-3');
    expect(await store.put(unseen)).toBe('accepted');
    await (await queue.getJob(intakeJobId(unseen)))!.remove();
    expect(await store.put(unseen)).toBe('accepted');
  });

  it('a spent budget refuses with the time to wait and stores nothing; charged requests count against it', async () => {
    const budget = { sourceId: 'site', client: '203.0.113.7', max: 3, windowMs: 60_000 };
    expect(await store.charge!(budget)).toBe(0); // e.g. a request rejected for a bad secret
    expect(await store.put(event('b-1'), budget)).toBe('accepted');
    expect(await store.put(event('b-1'), budget)).toBe('duplicate'); // duplicates count too
    const refused = await store.put(event('b-2'), budget).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(RateLimitedError);
    expect((refused as RateLimitedError).retryAfterMs).toBeGreaterThan(50_000);
    expect(await queue.getJob(intakeJobId(event('b-2')))).toBeUndefined();
    expect(await store.charge!(budget)).toBeGreaterThan(50_000);
    // Another client of the same source has its own budget.
    expect(await store.put(event('b-2'), { ...budget, client: '203.0.113.8' })).toBe('accepted');
  });

  it('the per-client budget over all sources (gateway.rateLimitPerMinute) refuses a client that spreads over sources', async () => {
    const client = '198.51.100.9';
    const at = (sourceId: string) => ({ sourceId, client, max: 100, clientMax: 3, windowMs: 60_000 });
    expect(await store.put(event('c-1'), at('site-a'))).toBe('accepted');
    expect(await store.charge!(at('site-b'))).toBe(0); // a rejected request elsewhere counts too
    expect(await store.put(event('c-2'), at('site-c'))).toBe('accepted');
    const refused = await store.put(event('c-3'), at('site-d')).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(RateLimitedError);
    expect(await queue.getJob(intakeJobId(event('c-3')))).toBeUndefined();
    expect(await store.charge!(at('site-e'))).toBeGreaterThan(50_000);
    // Another client is not affected.
    expect(await store.put(event('c-3'), { ...at('site-d'), client: '198.51.100.10' })).toBe('accepted');
  });
});

describe('gateway budget covers requests that store nothing', () => {
  it('wrong secrets are counted: after the budget, 429 instead of 403', async () => {
    const prefix = uniquePrefix();
    const producer = createRedis(TEST_REDIS_URL, 'producer');
    const queue = new Queue(QUEUE_INTAKE, { connection: producer, prefix });
    const config = resolveConfig(
      { file: '(test)', value: { redisPrefix: prefix, sources: [{ id: 'locked', connector: 'form', name: 'L', secretEnv: 'IS_TEST_SECRET', rateLimitPerMinute: 2 }] }, lineOf: () => undefined },
      registry,
      { IS_TEST_SECRET: 'the-right-secret-123' },
      resolve('.'),
    );
    const app = await buildApp({ config, intake: createIntakeStore({ queue, redis: producer, keys: makeKeys(prefix), ttlSec: 60, timeoutMs: 1000 }), rateLimitRedis: producer, docs: false });
    try {
      const codes: number[] = [];
      for (let i = 0; i < 3; i++) {
        const r = await app.inject({ method: 'POST', url: '/hooks/form/locked', headers: { 'content-type': 'application/json', 'x-leadgate-secret': `guess-${i}` }, payload: '{"name":"N","phone":"89120000000"}' });
        codes.push(r.statusCode);
        if (r.statusCode === 429) expect(Number(r.headers['retry-after'])).toBeGreaterThan(0);
      }
      expect(codes).toEqual([403, 403, 429]);
      const right = await app.inject({ method: 'POST', url: '/hooks/form/locked', headers: { 'content-type': 'application/json', 'x-leadgate-secret': 'the-right-secret-123' }, payload: '{"name":"N","phone":"89120000000"}' });
      expect(right.statusCode).toBe(429);
      expect(await queue.count()).toBe(0);
    } finally {
      await app.close();
      await queue.close();
      producer.disconnect();
      await cleanupPrefix(prefix);
    }
  });
});

describe('the intake worker marks what it has seen', () => {
  it('a redelivery after the completed job was removed is still a duplicate, and nothing is enqueued', async () => {
    const h = await startHarness({ config: { sources: [{ id: 'site', connector: 'form', name: 'Сайт' }] } });
    try {
      const body = JSON.stringify({ name: 'Анна', phone: '8 912 000-00-01', submission_id: 'worker-marks-1' });
      const first = await h.post('/hooks/form/site', body, { 'content-type': 'application/json' });
      expect(first.status).toBe(200);
      await h.drain();
      const { event } = JSON.parse(first.body) as { event: string };
      const q = new Queue(QUEUE_INTAKE, { connection: h.redis, prefix: h.prefix });
      try {
        await (await q.getJob(`site.${event}`))!.remove(); // what removeOnComplete does after 24 h
        const again = await h.post('/hooks/form/site', body, { 'content-type': 'application/json' });
        expect(JSON.parse(again.body)).toMatchObject({ ok: true, duplicate: true, event });
        expect(await q.getJob(`site.${event}`)).toBeUndefined();
      } finally {
        await q.close();
      }
    } finally {
      await h.close();
    }
  });
});
