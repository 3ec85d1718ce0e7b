import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.ts';
import { resolveConfig } from '../../src/config/load.ts';
import { registry } from '../../src/runtime/load-runtime-config.ts';
import { createIntakeStore } from '../../src/pipeline/enqueue.ts';
import { makeKeys } from '../../src/infra/keys.ts';
import { createRedis } from '../../src/infra/redis.ts';
import { fromStoredRaw, QUEUE_INTAKE, StoredEventSchema } from '../../src/pipeline/queues.ts';
import { cleanupPrefix, TEST_REDIS_URL, uniquePrefix } from '../support/redis.ts';
import { PrivateRedis } from '../support/redis-server.ts';

const SECRET = 'gateway-test-secret-123';

function configFor(prefix: string) {
  return resolveConfig(
    {
      file: '(test)',
      value: {
        redisPrefix: prefix,
        gateway: { bodyLimitBytes: 64 * 1024 },
        sources: [
          { id: 'open-form', connector: 'form', name: 'Открытая форма' },
          { id: 'signed-form', connector: 'form', name: 'Форма с секретом', secretEnv: 'GW_TEST_SECRET' },
        ],
      },
      lineOf: () => undefined,
    },
    registry,
    { GW_TEST_SECRET: SECRET },
    resolve('.'),
  );
}

async function appOn(redisUrl: string, prefix: string): Promise<{ app: FastifyInstance; queue: Queue; close: () => Promise<void> }> {
  const producer = createRedis(redisUrl, 'producer');
  const queue = new Queue(QUEUE_INTAKE, { connection: producer, prefix });
  queue.on('error', () => {});
  const intake = createIntakeStore({ queue, redis: producer, keys: makeKeys(prefix), ttlSec: 3600, timeoutMs: 1000 });
  const app = await buildApp({ config: configFor(prefix), intake });
  return {
    app,
    queue,
    close: async () => {
      await app.close();
      await queue.close().catch(() => undefined);
      producer.disconnect();
    },
  };
}

const lead = JSON.stringify({ name: 'Иван', phone: '8 912 345-67-89', email: 'ivan@example.ru', submission_id: 'abc-1' });

describe('gateway with a real Redis', () => {
  let prefix: string;
  let h: Awaited<ReturnType<typeof appOn>>;
  beforeAll(async () => {
    prefix = uniquePrefix();
    h = await appOn(TEST_REDIS_URL, prefix);
  });
  afterAll(async () => {
    await h.close();
    await cleanupPrefix(prefix);
  });

  it('answers 200 only once the event is in the intake queue', async () => {
    const res = await h.app.inject({ method: 'POST', url: '/hooks/form/open-form', headers: { 'content-type': 'application/json' }, payload: lead });
    expect(res.statusCode).toBe(200);
    const body = res.json() as { ok: boolean; event: string };
    expect(body.ok).toBe(true);
    const job = await h.queue.getJob(`open-form.${body.event}`);
    expect(job).toBeTruthy();
    const raw = StoredEventSchema.parse(job!.data).raw;
    expect(raw.body).toBe(lead); // valid UTF-8: kept as text
    expect(fromStoredRaw(raw).body.toString()).toBe(lead);
  });

  it('the same delivery posted three times is stored once', async () => {
    const body = JSON.stringify({ name: 'Пётр', phone: '+7 999 111-22-33', submission_id: 'dup-1' });
    const answers = [];
    for (let i = 0; i < 3; i++) answers.push(await h.app.inject({ method: 'POST', url: '/hooks/form/open-form', headers: { 'content-type': 'application/json' }, payload: body }));
    expect(answers.map((a) => a.statusCode)).toEqual([200, 200, 200]);
    expect(answers.map((a) => (a.json() as { duplicate?: boolean }).duplicate ?? false)).toEqual([false, true, true]);
    const jobs = await h.queue.getJobs(['waiting', 'active', 'delayed', 'completed']);
    expect(jobs.filter((j) => (j.data as { eventId: string }).eventId.includes('dup-1'))).toHaveLength(1);
  });

  it('without a sender id, an identical body is one event (hash of the body)', async () => {
    const body = 'name=%D0%90%D0%BD%D0%BD%D0%B0&phone=89120000001';
    const a = await h.app.inject({ method: 'POST', url: '/hooks/form/open-form', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: body });
    const b = await h.app.inject({ method: 'POST', url: '/hooks/form/open-form', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: body });
    expect(a.statusCode).toBe(200);
    expect((b.json() as { duplicate?: boolean }).duplicate).toBe(true);
  });

  it('bad JSON → 400 naming the body', async () => {
    const res = await h.app.inject({ method: 'POST', url: '/hooks/form/open-form', headers: { 'content-type': 'application/json' }, payload: '{"name": "x",' });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: { code: 'LG_ERR_BAD_BODY', field: 'body', expected: 'valid JSON' } });
  });

  it('wrong content type → 415 naming content-type and what is accepted', async () => {
    const res = await h.app.inject({ method: 'POST', url: '/hooks/form/open-form', headers: { 'content-type': 'application/xml' }, payload: '<lead/>' });
    expect(res.statusCode).toBe(415);
    expect(res.json()).toMatchObject({ error: { field: 'content-type' } });
    expect((res.json() as { error: { expected: string } }).error.expected).toMatch(/application\/json/);
  });

  it('oversized body → 413 naming the limit', async () => {
    const res = await h.app.inject({ method: 'POST', url: '/hooks/form/open-form', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ message: 'x'.repeat(70 * 1024) }) });
    expect(res.statusCode).toBe(413);
    expect(res.json()).toMatchObject({ error: { code: 'LG_ERR_BODY_TOO_LARGE', field: 'body', expected: 'at most 65536 bytes' } });
  });

  it('a source with a secret fails closed: missing → 401, wrong → 403, right → 200', async () => {
    const url = '/hooks/form/signed-form';
    const h1 = { 'content-type': 'application/json' };
    expect((await h.app.inject({ method: 'POST', url, headers: h1, payload: lead })).statusCode).toBe(401);
    expect((await h.app.inject({ method: 'POST', url, headers: { ...h1, 'x-leadgate-secret': 'nope' }, payload: lead })).statusCode).toBe(403);
    expect((await h.app.inject({ method: 'POST', url: `${url}?secret=${SECRET}`, headers: h1, payload: lead })).statusCode).toBe(200);
    expect((await h.app.inject({ method: 'POST', url, headers: { ...h1, 'x-leadgate-secret': SECRET }, payload: lead })).statusCode).toBe(200);
  });

  it('unknown source or wrong channel → 404 saying to check the URL', async () => {
    const res = await h.app.inject({ method: 'POST', url: '/hooks/form/nope', headers: { 'content-type': 'application/json' }, payload: lead });
    expect(res.statusCode).toBe(404);
    expect((await h.app.inject({ method: 'POST', url: '/hooks/tilda/open-form', headers: { 'content-type': 'application/json' }, payload: lead })).statusCode).toBe(404);
  });

  it('healthz and readyz', async () => {
    expect((await h.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    expect((await h.app.inject({ method: 'GET', url: '/readyz' })).json()).toMatchObject({ status: 'ready' });
  });
});

describe('gateway when Redis is down', () => {
  let redis: PrivateRedis;
  let h: Awaited<ReturnType<typeof appOn>>;
  beforeAll(async () => {
    redis = await PrivateRedis.create(false);
    await redis.start();
    h = await appOn(redis.url, uniquePrefix());
  });
  afterAll(async () => {
    await h.close();
    await redis.destroy();
  });
  afterEach(async () => {
    if (!(await redis.answers())) await redis.start();
  });

  it('answers 503 with Retry-After within ~1 s, never a false 200; recovers when Redis is back', async () => {
    const ok = await h.app.inject({ method: 'POST', url: '/hooks/form/open-form', headers: { 'content-type': 'application/json' }, payload: lead });
    expect(ok.statusCode).toBe(200);
    await redis.kill();
    const t0 = Date.now();
    const res = await h.app.inject({ method: 'POST', url: '/hooks/form/open-form', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ name: 'X', phone: '89120000002' }) });
    const ms = Date.now() - t0;
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBeDefined();
    expect(ms).toBeLessThan(2500);
    expect((await h.app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(503);
    await redis.start();
    let status = 0;
    for (let i = 0; i < 40 && status !== 200; i++) {
      await new Promise((r) => setTimeout(r, 100));
      status = (await h.app.inject({ method: 'POST', url: '/hooks/form/open-form', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ name: 'Y', phone: '89120000003' }) })).statusCode;
    }
    expect(status).toBe(200);
  });
});

describe('config errors name the file, key and fix', () => {
  it('a missing secret env var stops start-up', () => {
    expect(() =>
      resolveConfig({ file: 'leadgate.yaml', value: { sources: [{ id: 's', connector: 'form', name: 'S', secretEnv: 'NOT_SET_ANYWHERE' }] }, lineOf: () => 7 }, registry, {}, resolve('.')),
    ).toThrow(/leadgate\.yaml:7 sources\.0\.secretEnv: NOT_SET_ANYWHERE is empty\. Fix: set NOT_SET_ANYWHERE/);
  });
  it('an unknown channel lists the known ones', () => {
    expect(() => resolveConfig({ file: 'leadgate.yaml', value: { sources: [{ id: 's', connector: 'tildaa', name: 'S' }] }, lineOf: () => 3 }, registry, {}, resolve('.'))).toThrow(/unknown channel "tildaa".*use one of: .*tilda/);
  });
});



describe('per-IP/per-source rate limit, kept in Redis', () => {
  it('answers 429 with Retry-After once a source exceeds its budget', async () => {
    const prefix = uniquePrefix();
    const producer = createRedis(TEST_REDIS_URL, 'producer');
    const rl = new Redis(TEST_REDIS_URL);
    const queue = new Queue(QUEUE_INTAKE, { connection: producer, prefix });
    const config = resolveConfig(
      { file: '(test)', value: { redisPrefix: prefix, sources: [{ id: 'tight', connector: 'form', name: 'T', rateLimitPerMinute: 3 }] }, lineOf: () => undefined },
      registry,
      {},
      resolve('.'),
    );
    const app = await buildApp({ config, intake: createIntakeStore({ queue, redis: producer, keys: makeKeys(prefix), ttlSec: 60, timeoutMs: 1000 }), rateLimitRedis: rl });
    try {
      const codes: number[] = [];
      for (let i = 0; i < 5; i++) {
        const r = await app.inject({ method: 'POST', url: '/hooks/form/tight', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ name: 'N', phone: `8912000000${i}` }) });
        codes.push(r.statusCode);
        if (r.statusCode === 429) expect(r.headers['retry-after']).toBeDefined();
      }
      expect(codes).toEqual([200, 200, 200, 429, 429]);
    } finally {
      await app.close();
      await queue.close();
      producer.disconnect();
      rl.disconnect();
      await cleanupPrefix(prefix);
    }
  });
});

describe('polled channels have no webhook', () => {
  it('POST /hooks/email/<source> is 404, nothing stored', async () => {
    const prefix = uniquePrefix();
    const producer = createRedis(TEST_REDIS_URL, 'producer');
    const queue = new Queue(QUEUE_INTAKE, { connection: producer, prefix });
    const config = resolveConfig({ file: '(test)', value: { redisPrefix: prefix, sources: [{ id: 'mailbox', connector: 'email', name: 'Почта' }] }, lineOf: () => undefined }, registry, {}, resolve('.'));
    const app = await buildApp({ config, intake: createIntakeStore({ queue, redis: producer, keys: makeKeys(prefix), ttlSec: 60, timeoutMs: 1000 }) });
    try {
      const r = await app.inject({ method: 'POST', url: '/hooks/email/mailbox', headers: { 'content-type': 'message/rfc822' }, payload: 'From: a@b.ru\r\nSubject: hi\r\n\r\nbody' });
      expect(r.statusCode).toBe(404);
      expect(await queue.count()).toBe(0);
    } finally {
      await app.close();
      await queue.close();
      producer.disconnect();
      await cleanupPrefix(prefix);
    }
  });
});
