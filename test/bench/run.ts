/**
 * `npm run bench`: prints figures (never a pass/fail test) and writes bench-results.json.
 * 1. Gateway intake (secret check + durable enqueue) vs a bare Fastify + BullMQ baseline, same run, 50 connections.
 * 2. Delivery into the amoCRM emulator at its 7 req/s limit: leads/s, requests per lead, share of the ceiling.
 * 3. Received → in-CRM latency p50/p95 at 10 leads/s (above amoCRM's ceiling: a backlog builds) and at 1 lead/s.
 * 4. Redis memory per queued event (intake job + idempotency key) and per delivered event kept afterwards.
 * 3. Caller-ID lookup: p50/p99 on a miss (the CRM asked) and from the Redis cache.
 */
import { writeFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { Agent, request } from 'undici';
import { startHarness } from '../support/harness.ts';
import { TEST_REDIS_URL } from '../support/redis.ts';
import { startAmoEmulator } from '../emulators/amocrm/start.ts';
import { startBitrixEmulator } from '../emulators/bitrix24/start.ts';
import { benchIntake } from './intake.ts';

const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 8000);
const LEADS = Number(process.env.BENCH_LEADS ?? 42);

/**
 * Delivery into the amoCRM emulator at its 7 req/s limit, per-lead (`crm[].batch: false`, one request per write)
 * or batched (concurrent deliveries share the array writes: Unsorted forms / `/leads/complex`, notes, tasks).
 * Contact searches are one GET per phone/e-mail whatever the mode, so they bound the batched ceiling.
 */
async function benchDelivery(mode: { batch: boolean; pipeline?: string }) {
  const emu = await startAmoEmulator();
  const h = await startHarness({
    config: {
      crm: [{ id: 'amo', connector: 'amocrm', batch: mode.batch, settings: { baseUrl: emu.url, auth: 'long-lived', tokenEnv: 'BENCH_AMO_TOKEN' } }],
      sources: [{ id: 'site', connector: 'form', name: 'Bench', rateLimitPerMinute: 100_000, ...(mode.pipeline ? { pipeline: mode.pipeline } : {}) }],
    },
    env: { BENCH_AMO_TOKEN: emu.token },
  });
  const tag = `${mode.batch ? 'b' : 'p'}${mode.pipeline ? 'x' : 'u'}`;
  const before = emu.stats.requests.length;
  const t0 = performance.now();
  for (let i = 0; i < LEADS; i++) {
    await h.post('/hooks/form/site', JSON.stringify({ name: `Клиент ${i}`, phone: `8 915 ${String(1000000 + i)}`, email: `d${i}-${tag}@example.ru`, utm_source: 'bench', submission_id: `d-${tag}-${i}` }), { 'content-type': 'application/json' });
  }
  await h.drain(600_000);
  const secs = (performance.now() - t0) / 1000;
  const log = emu.stats.requests.slice(before);
  const requests = log.length;
  const perLead = requests / LEADS;
  const ceilingLeadsPerSec = 7 / perLead;
  const writes = log.filter((r) => r.method === 'POST' && r.items !== undefined);
  const out = {
    mode: mode.batch ? 'batched' : 'per-lead',
    placement: mode.pipeline ? `pipeline ${mode.pipeline} (/leads/complex)` : 'incoming (Unsorted forms)',
    deliverConcurrency: mode.batch ? 32 : 8,
    leads: LEADS,
    seconds: secs,
    leadsPerSec: LEADS / secs,
    requestsPerLead: perLead,
    ceilingLeadsPerSec,
    shareOfCeiling: LEADS / secs / ceilingLeadsPerSec,
    requestShareOfLimit: requests / secs / 7,
    writeRequests: writes.length,
    itemsPerWrite: writes.reduce((n, r) => n + (r.items ?? 0), 0) / Math.max(1, writes.length),
    maxItemsPerWrite: Math.max(0, ...writes.map((r) => r.items ?? 0)),
    maxRequestsInAnySecond: emu.stats.maxPerWindow,
    limitExceeded: emu.stats.limitExceeded,
    staleSlots: h.workers!.ctx.accounts.get('amo')!.limiter.staleSlots,
    own429: log.filter((r) => r.status === 429 && !r.fault).length,
    counts: emu.state.counts(),
  };
  await h.close();
  await emu.close();
  return out;
}

/** Caller-ID lookups against the amoCRM emulator: each number once on a miss (CRM asked), then many from the cache. */
/**
 * Bitrix24 at 2 req/s (burst 50 on the portal, 40 in our bucket, spent before the run so the figures are the steady
 * state), per-lead (each delivery its own lookup batch and create batch) or batched (concurrent deliveries' commands
 * share `batch` requests, ≤ 50 commands). Ceiling: 2 requests/s divided by the requests a lead took.
 */
async function benchBitrixDelivery(batch: boolean) {
  const emu = await startBitrixEmulator();
  const h = await startHarness({
    config: { crm: [{ id: 'crm', connector: 'bitrix24', batch, settings: { auth: 'webhook', webhookUrlEnv: 'BENCH_B24_WEBHOOK' } }], sources: [{ id: 'site', connector: 'form', name: 'Bench', rateLimitPerMinute: 100_000 }] },
    env: { BENCH_B24_WEBHOOK: emu.webhookUrl },
  });
  const n = Number(process.env.BENCH_B24_LEADS ?? 60);
  const tag = batch ? 'b' : 'p';
  const before = emu.stats.requests.length; // start-up inspection done
  // Steady state at 2 req/s: the hub's bucket starts full (its burst spent), else 60 leads fit in the burst.
  const limiter = h.workers!.ctx.accounts.get('crm')!.limiter;
  for (let i = 0; i < 40; i++) await limiter.acquire();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    await h.post('/hooks/form/site', JSON.stringify({ name: `Клиент ${i}`, phone: `8 916 ${String(1000000 + i)}`, email: `b${i}-${tag}@example.ru`, utm_source: 'bench', submission_id: `b-${tag}-${i}` }), { 'content-type': 'application/json' });
  }
  await h.drain(600_000);
  const secs = (performance.now() - t0) / 1000;
  const log = emu.stats.requests.slice(before).filter((r) => r.method !== 'oauth.token');
  const requests = log.length;
  const perLead = requests / n;
  const ceilingLeadsPerSec = 2 / perLead;
  const batches = log.filter((r) => r.method === 'batch');
  const out = {
    mode: batch ? 'batched' : 'per-lead',
    deliverConcurrency: batch ? 32 : 8,
    leads: n,
    seconds: secs,
    leadsPerSec: n / secs,
    requestsPerLead: perLead,
    ceilingLeadsPerSec,
    shareOfCeiling: n / secs / ceilingLeadsPerSec,
    commandsPerBatch: batches.reduce((k, r) => k + (r.batchCommands ?? 0), 0) / Math.max(1, batches.length),
    maxCommandsPerBatch: Math.max(0, ...batches.map((r) => r.batchCommands ?? 0)),
    maxBucketFill: emu.stats.maxBucketFill,
    limitErrors: emu.stats.limitErrors,
    counts: { contacts: emu.state.contacts.size, leads: emu.state.leads.size, notes: emu.state.comments.size, tasks: [...emu.state.activities.values()].filter((a) => a.kind === 'todo').length },
  };
  await h.close();
  await emu.close();
  return out;
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
 * Offered load of `rate` leads/s, `n` leads, into the amoCRM emulator (7 req/s) or the Bitrix24 one (2 req/s, burst
 * 50; batched: ~0.13 requests a lead, so 10 leads/s is under its ceiling). Latency from the gateway's 200 to the
 * card (the lead, with its contact, in the CRM) and to the delivery done (note and task written too). Also the
 * Redis memory each delivered event keeps (completed job for 24 h, idempotency key and step journal for the
 * idempotency window).
 */
async function benchLatency(crm: 'amocrm' | 'bitrix24', rate: number, n: number) {
  const amo = crm === 'amocrm' ? await startAmoEmulator() : undefined;
  const b24 = crm === 'bitrix24' ? await startBitrixEmulator() : undefined;
  const source = { id: 'site', connector: 'form', name: 'Bench', rateLimitPerMinute: 100_000 };
  const h = amo
    ? await startHarness({ config: { crm: [{ id: 'amo', connector: 'amocrm', settings: { baseUrl: amo.url, auth: 'long-lived', tokenEnv: 'BENCH_AMO_TOKEN' } }], sources: [source] }, env: { BENCH_AMO_TOKEN: amo.token } })
    : await startHarness({ config: { crm: [{ id: 'crm', connector: 'bitrix24', settings: { auth: 'webhook', webhookUrlEnv: 'BENCH_B24_WEBHOOK' } }], sources: [source] }, env: { BENCH_B24_WEBHOOK: b24!.webhookUrl } });
  /** New leads in the emulator with the client name they belong to ("Клиент <i>"). */
  function* leadNames(): Generator<[number, string | undefined]> {
    if (amo) for (const lead of amo.state.leads.values()) yield [lead.id, lead.contacts.map((c) => amo.state.contacts.get(c.id)?.name).find((x) => x?.startsWith('Клиент '))];
    else for (const [id, lead] of b24!.state.leads) yield [id, typeof lead.NAME === 'string' ? lead.NAME : undefined];
  }
  const sentAt = new Map<string, number>();
  const doneAt = new Map<string, number>();
  // The card: when the emulator holds the lead (linked to the contact named after lead i), before its note and task.
  const cardAt = new Map<number, number>();
  const keyOf = new Map<number, string>();
  const seenLeads = new Set<number>();
  let seen = 0;
  const poll = setInterval(() => {
    for (; seen < h.delivered.length; seen++) doneAt.set(h.delivered[seen]!.deliveryKey, Date.now());
    for (const [id, name] of leadNames()) {
      if (seenLeads.has(id) || !name?.startsWith('Клиент ')) continue;
      seenLeads.add(id);
      cardAt.set(Number(name.slice('Клиент '.length)), Date.now());
    }
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
        keyOf.set(i, `site.${event}.0`);
      }),
    );
  }
  await Promise.all(posts);
  await h.drain(900_000);
  clearInterval(poll);
  for (; seen < h.delivered.length; seen++) doneAt.set(h.delivered[seen]!.deliveryKey, Date.now());
  const lat = [...sentAt].map(([k, at]) => (doneAt.get(k) ?? NaN) - at).filter(Number.isFinite);
  const card = [...keyOf].map(([i, k]) => (cardAt.get(i) ?? NaN) - sentAt.get(k)!).filter(Number.isFinite);
  const out = { rate, leads: n, delivered: lat.length, p50ms: pct(lat, 0.5), p95ms: pct(lat, 0.95), maxMs: Math.max(...lat), cards: card.length, cardP50ms: pct(card, 0.5), cardP95ms: pct(card, 0.95), seconds: (Date.now() - t0) / 1000, bytesKeptPerDeliveredEvent: (await prefixBytes(h.prefix)) / n, crm, limit: amo ? `max ${amo.stats.maxPerWindow} req in any 1 s of 7` : `${b24!.stats.limitErrors} × QUERY_LIMIT_EXCEEDED` };
  await h.close();
  await (amo ?? b24)!.close();
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
const delivery = want('delivery') ? { perLead: await benchDelivery({ batch: false }), batched: await benchDelivery({ batch: true }), batchedPipeline: await benchDelivery({ batch: true, pipeline: 'Партнёры' }) } : undefined;
const b24 = want('bitrix24') ? { perLead: await benchBitrixDelivery(false), batched: await benchBitrixDelivery(true) } : undefined;
const lookup = want('lookup') ? await benchLookup() : undefined;
const latency = want('latency')
  ? [
      await benchLatency('amocrm', 10, Number(process.env.BENCH_LATENCY_LEADS ?? 60)),
      await benchLatency('amocrm', 1, Number(process.env.BENCH_LATENCY_SLOW_LEADS ?? 40)),
      await benchLatency('bitrix24', 10, Number(process.env.BENCH_LATENCY_B24_LEADS ?? 200)),
    ]
  : [];
const memory = want('memory') ? await benchMemory() : undefined;
const fmt = (n: number) => n.toFixed(1);
if (intake) {
  console.log('\nGateway intake (%d requests, %d connections):', REQUESTS, CONNECTIONS);
  console.table({
    leadgate: { 'req/s': fmt(intake.hub.rps), 'p50 ms': fmt(intake.hub.p50), 'p99 ms': fmt(intake.hub.p99), errors: intake.hub.errors },
    'bare fastify+bullmq': { 'req/s': fmt(intake.baseline.rps), 'p50 ms': fmt(intake.baseline.p50), 'p99 ms': fmt(intake.baseline.p99), errors: intake.baseline.errors },
  });
  console.log('intake ratio to baseline: %s (target ≥ 0.8; median of %d alternating rounds: %s)', intake.ratio.toFixed(2), intake.rounds.length, intake.rounds.map((r) => r.ratio.toFixed(2)).join(' '));
}
if (delivery) {
  console.log('\nDelivery into the amoCRM emulator (7 req/s limit; hub window 7 per 1.08 s), per-lead vs batched:');
  const row = (d: typeof delivery.perLead) => ({ placement: d.placement, leads: d.leads, 'leads/s': d.leadsPerSec.toFixed(2), 'requests/lead': d.requestsPerLead.toFixed(2), 'items/write': d.itemsPerWrite.toFixed(1), 'ceiling leads/s': d.ceilingLeadsPerSec.toFixed(2), 'share of ceiling': `${(d.shareOfCeiling * 100).toFixed(0)}%`, 'max req in any 1 s': d.maxRequestsInAnySecond, 'limit exceeded': d.limitExceeded, 'own 429': d.own429, 'stale slots': d.staleSlots });
  console.table({ 'per-lead': row(delivery.perLead), batched: row(delivery.batched), 'batched, pipeline': row(delivery.batchedPipeline) });
}
if (b24) {
  console.log('\nDelivery into the Bitrix24 emulator at 2 req/s (hub bucket burst spent first: steady state), per-lead vs batched:');
  const row = (d: typeof b24.perLead) => ({ leads: d.leads, seconds: d.seconds.toFixed(1), 'leads/s': d.leadsPerSec.toFixed(2), 'requests/lead': d.requestsPerLead.toFixed(2), 'commands/batch': d.commandsPerBatch.toFixed(1), 'max commands': d.maxCommandsPerBatch, 'ceiling leads/s': d.ceilingLeadsPerSec.toFixed(2), 'share of ceiling': `${(d.shareOfCeiling * 100).toFixed(0)}%`, 'QUERY_LIMIT_EXCEEDED': d.limitErrors, contacts: d.counts.contacts, 'leads in CRM': d.counts.leads, notes: d.counts.notes, tasks: d.counts.tasks });
  console.table({ 'per-lead': row(b24.perLead), batched: row(b24.batched) });
}
if (lookup) {
  console.log('\nCaller-ID lookup (GET /lookup/phone/:number, amoCRM emulator):');
  console.table({
    'miss (CRM asked)': { lookups: lookup.miss.n, 'p50 ms': fmt(lookup.miss.p50), 'p99 ms': fmt(lookup.miss.p99), 'CRM requests each': lookup.crmRequestsPerMiss.toFixed(1) },
    'from cache': { lookups: lookup.cache.n, 'p50 ms': fmt(lookup.cache.p50), 'p99 ms': fmt(lookup.cache.p99), 'CRM requests each': (lookup.crmRequestsDuringHits / lookup.cache.n).toFixed(1) },
  });
}
if (latency.length) {
  console.log('\nReceived (gateway 200) → card in the CRM (lead with its contact) and → delivery done (note and task written too); amoCRM emulator at 7 req/s (ceiling ≈ 2.5 leads/s batched), Bitrix24 at 2 req/s (≈ 14 leads/s batched):');
  console.table(Object.fromEntries(latency.map((l) => [`${l.crm} ${l.rate} lead/s × ${l.leads}`, { delivered: l.delivered, 'card p50 s': (l.cardP50ms / 1000).toFixed(2), 'card p95 s': (l.cardP95ms / 1000).toFixed(2), 'done p50 s': (l.p50ms / 1000).toFixed(2), 'done p95 s': (l.p95ms / 1000).toFixed(2), 'done max s': (l.maxMs / 1000).toFixed(2), limit: l.limit, 'Redis kept per delivered event': `${Math.round(l.bytesKeptPerDeliveredEvent)} B` }])));
}
if (memory) console.log('\nRedis memory per queued event (%d events of %d-byte form bodies, workers off): %d bytes', memory.events, memory.bodyBytes, Math.round(memory.bytesPerQueuedEvent));
writeFileSync('bench-results.json', JSON.stringify({ at: new Date().toISOString(), intake, delivery, bitrix24: b24, lookup, latency, memory }, null, 2));
console.log('\nwritten bench-results.json');
process.exit(0);
