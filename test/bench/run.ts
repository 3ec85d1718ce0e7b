/**
 * `npm run bench`: prints figures (never a pass/fail test) and writes bench-results.json.
 * 1. Gateway intake (secret check + durable enqueue) vs a bare Fastify + BullMQ baseline, same run, 50 connections.
 * 2. Delivery into the amoCRM emulator at its 7 req/s limit: leads/s, requests per lead, share of the ceiling.
 * 3. Received → in-CRM latency p50/p95 at 10 leads/s (above amoCRM's ceiling: a backlog builds) and at 1 lead/s.
 * 4. Redis memory per queued event (intake job + idempotency key) and per delivered event kept afterwards.
 * 3. Caller-ID lookup: p50/p99 on a miss (the CRM asked) and from the Redis cache.
 */
import { writeFileSync } from 'node:fs';
import Fastify from 'fastify';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { Agent, request } from 'undici';
import { startHarness } from '../support/harness.ts';
import { cleanupPrefix, TEST_REDIS_URL, uniquePrefix } from '../support/redis.ts';
import { startAmoEmulator } from '../emulators/amocrm/start.ts';

const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 4000);
const LEADS = Number(process.env.BENCH_LEADS ?? 42);

async function load(url: string, headers: Record<string, string>, body: (i: number) => string): Promise<{ rps: number; p50: number; p99: number; errors: number }> {
  const agent = new Agent({ connections: CONNECTIONS, pipelining: 1 });
  const lat: number[] = [];
  let next = 0;
  let errors = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      for (;;) {
        const i = next++;
        if (i >= REQUESTS) return;
        const s = performance.now();
        const res = await request(url, { method: 'POST', headers, body: body(i), dispatcher: agent });
        await res.body.dump();
        if (res.statusCode !== 200) errors++;
        lat.push(performance.now() - s);
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  await agent.close();
  lat.sort((a, b) => a - b);
  return { rps: REQUESTS / secs, p50: lat[Math.floor(lat.length * 0.5)]!, p99: lat[Math.floor(lat.length * 0.99)]!, errors };
}

async function benchIntake() {
  const h = await startHarness({ config: { gateway: { rateLimitPerMinute: 10_000_000 }, sources: [{ id: 'bench', connector: 'form', name: 'Bench', secretEnv: 'BENCH_SECRET', rateLimitPerMinute: 10_000_000 }] }, env: { BENCH_SECRET: 'bench-secret-0123456789' }, workers: false });
  const headers = { 'content-type': 'application/json', 'x-leadgate-secret': 'bench-secret-0123456789' };
  const body = (i: number) => JSON.stringify({ name: 'Иван', phone: `8912${String(1000000 + i)}`, email: `b${i}@example.ru`, submission_id: `bench-${i}-${Date.now()}` });
  await load(`${h.gateway.url}/hooks/form/bench`, headers, body); // warm-up
  const hub = await load(`${h.gateway.url}/hooks/form/bench`, headers, body);
  await h.close();

  const prefix = uniquePrefix();
  const conn = new Redis(TEST_REDIS_URL, { enableOfflineQueue: false });
  const q = new Queue('intake', { connection: conn, prefix });
  const bare = Fastify();
  bare.post('/in', async (req) => {
    await q.add('event', { body: req.body }, { jobId: `x-${Math.random()}` });
    return { ok: true };
  });
  const addr = await bare.listen({ port: 0, host: '127.0.0.1' });
  await load(`${addr}/in`, { 'content-type': 'application/json' }, body);
  const base = await load(`${addr}/in`, { 'content-type': 'application/json' }, body);
  await bare.close();
  await q.close();
  conn.disconnect();
  await cleanupPrefix(prefix);
  return { hub, baseline: base, ratio: hub.rps / base.rps };
}

async function benchDelivery() {
  const emu = await startAmoEmulator();
  const h = await startHarness({
    config: { crm: [{ id: 'amo', connector: 'amocrm', settings: { baseUrl: emu.url, auth: 'long-lived', tokenEnv: 'BENCH_AMO_TOKEN' } }], sources: [{ id: 'site', connector: 'form', name: 'Bench' }] },
    env: { BENCH_AMO_TOKEN: emu.token },
  });
  const before = emu.stats.requests.length;
  const t0 = performance.now();
  const receivedAt: number[] = [];
  for (let i = 0; i < LEADS; i++) {
    receivedAt.push(Date.now());
    await h.post('/hooks/form/site', JSON.stringify({ name: `Клиент ${i}`, phone: `8 915 ${String(1000000 + i)}`, email: `d${i}@example.ru`, utm_source: 'bench', submission_id: `d-${i}` }), { 'content-type': 'application/json' });
  }
  await h.drain(600_000);
  const secs = (performance.now() - t0) / 1000;
  const requests = emu.stats.requests.length - before;
  const perLead = requests / LEADS;
  const ceilingLeadsPerSec = 7 / perLead;
  const out = {
    leads: LEADS,
    seconds: secs,
    leadsPerSec: LEADS / secs,
    requestsPerLead: perLead,
    ceilingLeadsPerSec,
    shareOfCeiling: LEADS / secs / ceilingLeadsPerSec,
    requestShareOfLimit: requests / secs / 7,
    maxRequestsInAnySecond: emu.stats.maxPerWindow,
    limitExceeded: emu.stats.limitExceeded,
    counts: emu.state.counts(),
  };
  await h.close();
  await emu.close();
  return out;
}

/** Caller-ID lookups against the amoCRM emulator: each number once on a miss (CRM asked), then many from the cache. */
/** Bitrix24 at 2 req/s (burst held below 50): leads/s and share of the ceiling, per-lead path. */
async function benchBitrixDelivery() {
  const { crmAdapters } = await import('../support/crm-adapters/index.ts');
  const emu = await crmAdapters.bitrix24!();
  const h = await startHarness({ config: { crm: [emu.account], sources: [{ id: 'site', connector: 'form', name: 'Bench' }] }, env: emu.env });
  const n = Number(process.env.BENCH_B24_LEADS ?? 60);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    await h.post('/hooks/form/site', JSON.stringify({ name: `Клиент ${i}`, phone: `8 916 ${String(1000000 + i)}`, email: `b${i}@example.ru`, utm_source: 'bench', submission_id: `b-${i}` }), { 'content-type': 'application/json' });
  }
  await h.drain(600_000);
  const secs = (performance.now() - t0) / 1000;
  const counts = emu.counts();
  await h.close();
  await emu.close();
  // Ceiling: after the burst is spent the portal drains 2 requests/s; a new lead with a new contact is 3 requests
  // (duplicate lookup batch, confirm batch, create batch).
  return { leads: n, seconds: secs, leadsPerSec: n / secs, counts, limitErrors: emu.ownLimitErrors() };
}

async function benchLookup() {
  const N = Number(process.env.BENCH_LOOKUP_NUMBERS ?? 20);
  const emu = await startAmoEmulator();
  const token = 'bench-lookup-token-0123456789';
  const h = await startHarness({
    config: { crm: [{ id: 'amo', connector: 'amocrm', settings: { baseUrl: emu.url, auth: 'long-lived', tokenEnv: 'BENCH_AMO_TOKEN' }, extensions: { '8801235': '201' } }], telephony: { lookup: { tokenEnv: 'BENCH_LOOKUP_TOKEN', timeoutMs: 30_000 } } },
    env: { BENCH_AMO_TOKEN: emu.token, BENCH_LOOKUP_TOKEN: token },
    workers: false,
  });
  const phone = (i: number) => `+7916${String(3000000 + i)}`;
  for (let i = 0; i < N; i++) {
    // Seeding goes straight to the emulator: paced under its 7 req/s.
    await fetch(`${emu.url}/api/v4/contacts`, { method: 'POST', headers: { authorization: `Bearer ${emu.token}`, 'content-type': 'application/json' }, body: JSON.stringify([{ name: `Клиент ${i}`, responsible_user_id: 8801235, custom_fields_values: [{ field_code: 'PHONE', values: [{ value: phone(i), enum_code: 'WORK' }] }] }]) });
    await new Promise((r) => setTimeout(r, 160));
  }
  await new Promise((r) => setTimeout(r, 1_200));
  const agent = new Agent({ connections: CONNECTIONS, pipelining: 1 });
  const get = async (i: number): Promise<number> => {
    const s = performance.now();
    const res = await request(`${h.gateway.url}/lookup/phone/${encodeURIComponent(phone(i % N))}`, { headers: { authorization: `Bearer ${token}` }, dispatcher: agent });
    await res.body.dump();
    if (res.statusCode !== 200) throw new Error(`lookup answered ${res.statusCode}`);
    return performance.now() - s;
  };
  const stats = (lat: number[]) => {
    lat.sort((a, b) => a - b);
    return { n: lat.length, p50: lat[Math.floor(lat.length * 0.5)]!, p99: lat[Math.min(lat.length - 1, Math.floor(lat.length * 0.99))]! };
  };
  const before = emu.stats.requests.length;
  const miss: number[] = [];
  for (let i = 0; i < N; i++) miss.push(await get(i)); // one at a time: the CRM's own pace, not queueing
  const crmRequestsPerMiss = (emu.stats.requests.length - before) / N;
  const hits: number[] = [];
  let next = 0;
  const total = Math.max(REQUESTS, N);
  await Promise.all(Array.from({ length: CONNECTIONS }, async () => {
    for (let i = next++; i < total; i = next++) hits.push(await get(i));
  }));
  const crmRequestsDuringHits = emu.stats.requests.length - before - crmRequestsPerMiss * N;
  await agent.close();
  await h.close();
  await emu.close();
  return { miss: stats(miss), cache: stats(hits), crmRequestsPerMiss, crmRequestsDuringHits };
}

/** Bytes Redis holds for every key under a prefix (`MEMORY USAGE`, exact; other tenants of the Redis do not count). */
async function prefixBytes(prefix: string): Promise<number> {
  const r = new Redis(TEST_REDIS_URL);
  try {
    let total = 0;
    let cursor = '0';
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      for (const k of keys) total += Number((await r.call('MEMORY', 'USAGE', k, 'SAMPLES', '0')) ?? 0);
    } while (cursor !== '0');
    return total;
  } finally {
    r.disconnect();
  }
}

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * p))] ?? NaN;
};

/**
 * Offered load of `rate` leads/s, `n` leads: latency from the gateway's 200 to the delivery finished in the CRM
 * (lead, contact, note, task all written). Also the Redis memory each delivered event keeps (completed job for
 * 24 h, idempotency key and step journal for the idempotency window).
 */
async function benchLatency(rate: number, n: number) {
  const emu = await startAmoEmulator();
  const h = await startHarness({
    config: { crm: [{ id: 'amo', connector: 'amocrm', settings: { baseUrl: emu.url, auth: 'long-lived', tokenEnv: 'BENCH_AMO_TOKEN' } }], sources: [{ id: 'site', connector: 'form', name: 'Bench', rateLimitPerMinute: 100_000 }] },
    env: { BENCH_AMO_TOKEN: emu.token },
  });
  const sentAt = new Map<string, number>();
  const doneAt = new Map<string, number>();
  let seen = 0;
  const poll = setInterval(() => {
    for (; seen < h.delivered.length; seen++) doneAt.set(h.delivered[seen]!.deliveryKey, Date.now());
  }, 5);
  const t0 = Date.now();
  const posts: Promise<void>[] = [];
  for (let i = 0; i < n; i++) {
    const due = t0 + (i * 1000) / rate;
    await new Promise((r) => setTimeout(r, Math.max(0, due - Date.now())));
    posts.push(
      h.post('/hooks/form/site', JSON.stringify({ name: `Клиент ${i}`, phone: `8 916 ${String(2000000 + i)}`, email: `lat${i}-${t0}@example.ru`, submission_id: `lat-${rate}-${i}-${t0}` }), { 'content-type': 'application/json' }).then((res) => {
        const event = (JSON.parse(res.body) as { event: string }).event;
        sentAt.set(`site.${event}.0`, Date.now());
      }),
    );
  }
  await Promise.all(posts);
  await h.drain(900_000);
  clearInterval(poll);
  for (; seen < h.delivered.length; seen++) doneAt.set(h.delivered[seen]!.deliveryKey, Date.now());
  const lat = [...sentAt].map(([k, at]) => (doneAt.get(k) ?? NaN) - at).filter(Number.isFinite);
  const out = { rate, leads: n, delivered: lat.length, p50ms: pct(lat, 0.5), p95ms: pct(lat, 0.95), maxMs: Math.max(...lat), seconds: (Date.now() - t0) / 1000, bytesKeptPerDeliveredEvent: (await prefixBytes(h.prefix)) / n, maxRequestsInAnySecond: emu.stats.maxPerWindow };
  await h.close();
  await emu.close();
  return out;
}

/** Redis memory per event waiting in the intake queue (workers off), with a typical form body. */
async function benchMemory() {
  const N = Number(process.env.BENCH_MEMORY_EVENTS ?? 2000);
  const h = await startHarness({ config: { sources: [{ id: 'mem', connector: 'form', name: 'Bench', rateLimitPerMinute: 1_000_000 }] }, workers: false });
  const body = (i: number) => JSON.stringify({ name: 'Иван Петров', phone: `8912${String(1000000 + i)}`, email: `m${i}@example.ru`, message: 'Нужен расчёт кухни, 3 метра, перезвоните после обеда', utm_source: 'yandex', utm_medium: 'cpc', utm_campaign: 'brand', submission_id: `mem-${i}-${Date.now()}` });
  const agent = new Agent({ connections: 20, pipelining: 1 });
  let next = 0;
  await Promise.all(Array.from({ length: 20 }, async () => {
    for (let i = next++; i < N; i = next++) {
      const res = await request(`${h.gateway.url}/hooks/form/mem`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: body(i), dispatcher: agent });
      await res.body.dump();
    }
  }));
  await agent.close();
  const bytes = await prefixBytes(h.prefix);
  const counts = await h.counts();
  await h.close();
  return { events: N, waiting: counts.intake?.waiting ?? 0, bodyBytes: Buffer.byteLength(body(0)), bytesPerQueuedEvent: bytes / N };
}

// BENCH_ONLY=latency,memory runs a subset (intake, delivery, lookup, latency, memory).
const only = process.env.BENCH_ONLY?.split(',');
const want = (part: string): boolean => !only || only.includes(part);
const intake = want('intake') ? await benchIntake() : undefined;
const delivery = want('delivery') ? await benchDelivery() : undefined;
const b24 = want('bitrix24') ? await benchBitrixDelivery() : undefined;
const lookup = want('lookup') ? await benchLookup() : undefined;
const latency = want('latency') ? [await benchLatency(10, Number(process.env.BENCH_LATENCY_LEADS ?? 60)), await benchLatency(1, Number(process.env.BENCH_LATENCY_SLOW_LEADS ?? 20))] : [];
const memory = want('memory') ? await benchMemory() : undefined;
const fmt = (n: number) => n.toFixed(1);
if (intake) {
  console.log('\nGateway intake (%d requests, %d connections):', REQUESTS, CONNECTIONS);
  console.table({
    leadgate: { 'req/s': fmt(intake.hub.rps), 'p50 ms': fmt(intake.hub.p50), 'p99 ms': fmt(intake.hub.p99), errors: intake.hub.errors },
    'bare fastify+bullmq': { 'req/s': fmt(intake.baseline.rps), 'p50 ms': fmt(intake.baseline.p50), 'p99 ms': fmt(intake.baseline.p99), errors: intake.baseline.errors },
  });
  console.log('intake ratio to baseline: %s (target ≥ 0.8)', intake.ratio.toFixed(2));
}
if (delivery) {
  console.log('\nDelivery into the amoCRM emulator (7 req/s limit), per-lead path:');
  console.table({ amocrm: { leads: delivery.leads, 'leads/s': delivery.leadsPerSec.toFixed(2), 'requests/lead': delivery.requestsPerLead.toFixed(1), 'ceiling leads/s': delivery.ceilingLeadsPerSec.toFixed(2), 'share of ceiling': `${(delivery.shareOfCeiling * 100).toFixed(0)}%`, 'max req in any 1 s': delivery.maxRequestsInAnySecond, 'limit exceeded': delivery.limitExceeded } });
}
if (b24) {
  console.log('\nDelivery into the Bitrix24 emulator (2 req/s, burst 50; hub bucket 2/s burst 40), per-lead path:');
  console.table({ bitrix24: { leads: b24.leads, seconds: b24.seconds.toFixed(1), 'leads/s': b24.leadsPerSec.toFixed(2), 'QUERY_LIMIT_EXCEEDED': b24.limitErrors, contacts: b24.counts.contacts, 'leads in CRM': b24.counts.leads, notes: b24.counts.notes, tasks: b24.counts.tasks } });
}
if (lookup) {
  console.log('\nCaller-ID lookup (GET /lookup/phone/:number, amoCRM emulator):');
  console.table({
    'miss (CRM asked)': { lookups: lookup.miss.n, 'p50 ms': fmt(lookup.miss.p50), 'p99 ms': fmt(lookup.miss.p99), 'CRM requests each': lookup.crmRequestsPerMiss.toFixed(1) },
    'from cache': { lookups: lookup.cache.n, 'p50 ms': fmt(lookup.cache.p50), 'p99 ms': fmt(lookup.cache.p99), 'CRM requests each': (lookup.crmRequestsDuringHits / lookup.cache.n).toFixed(1) },
  });
}
if (latency.length) {
  console.log('\nReceived (gateway 200) → in amoCRM (lead, contact, note, task written), emulator at 7 req/s:');
  console.table(Object.fromEntries(latency.map((l) => [`${l.rate} lead/s × ${l.leads}`, { delivered: l.delivered, 'p50 s': (l.p50ms / 1000).toFixed(2), 'p95 s': (l.p95ms / 1000).toFixed(2), 'max s': (l.maxMs / 1000).toFixed(2), 'max req in any 1 s': l.maxRequestsInAnySecond, 'Redis kept per delivered event': `${Math.round(l.bytesKeptPerDeliveredEvent)} B` }])));
}
if (memory) console.log('\nRedis memory per queued event (%d events of %d-byte form bodies, workers off): %d bytes', memory.events, memory.bodyBytes, Math.round(memory.bytesPerQueuedEvent));
writeFileSync('bench-results.json', JSON.stringify({ at: new Date().toISOString(), intake, delivery, bitrix24: b24, lookup, latency, memory }, null, 2));
console.log('\nwritten bench-results.json');
process.exit(0);
