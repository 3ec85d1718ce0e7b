/**
 * Gateway intake vs a bare Fastify + BullMQ baseline, measured in the same run at `BENCH_CONNECTIONS` (50).
 * The hub path: secret check, decode, duplicate check + per-IP/source rate limit in Redis, durable `queue.add`.
 * The baseline: Fastify's JSON parser and one `queue.add` with a random job id, nothing else.
 * `BENCH_INTAKE_ROUNDS` (default 7, `BENCH_REQUESTS` 8000 each) alternates hub and baseline rounds so CPU noise
 * hits both alike; the figures are the medians of the rounds, the ratio the median of the per-round ratios. On 2
 * cores single rounds swing by ±20 % either way (GC and Redis share the second core), hence the rounds.
 * Run alone: `BENCH_ONLY=intake npm run bench`.
 */
import Fastify from 'fastify';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { Agent, request } from 'undici';
import { startHarness } from '../support/harness.ts';
import { cleanupPrefix, TEST_REDIS_URL, uniquePrefix } from '../support/redis.ts';

const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 8000);
const ROUNDS = Number(process.env.BENCH_INTAKE_ROUNDS ?? 7);

export interface LoadFigures {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}

export async function load(url: string, headers: Record<string, string>, body: (i: number) => string, requests = REQUESTS): Promise<LoadFigures> {
  const agent = new Agent({ connections: CONNECTIONS, pipelining: 1 });
  const lat: number[] = [];
  let next = 0;
  let errors = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      for (;;) {
        const i = next++;
        if (i >= requests) return;
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
  return { rps: requests / secs, p50: lat[Math.floor(lat.length * 0.5)]!, p99: lat[Math.floor(lat.length * 0.99)]!, errors };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const medianFigures = (rs: LoadFigures[]): LoadFigures => ({ rps: median(rs.map((r) => r.rps)), p50: median(rs.map((r) => r.p50)), p99: median(rs.map((r) => r.p99)), errors: rs.reduce((n, r) => n + r.errors, 0) });

export async function benchIntake(): Promise<{ hub: LoadFigures; baseline: LoadFigures; ratio: number; rounds: { hub: LoadFigures; baseline: LoadFigures; ratio: number }[] }> {
  const run = Date.now();
  // Every request is a new event (unique submission id per round), as in production.
  const body = (round: string) => (i: number) => JSON.stringify({ name: 'Иван', phone: `8912${String(1000000 + i)}`, email: `b${i}@example.ru`, submission_id: `bench-${round}-${i}-${run}` });

  const h = await startHarness({ config: { gateway: { rateLimitPerMinute: 10_000_000 }, sources: [{ id: 'bench', connector: 'form', name: 'Bench', secretEnv: 'BENCH_SECRET', rateLimitPerMinute: 10_000_000 }] }, env: { BENCH_SECRET: 'bench-secret-0123456789' }, workers: false });
  const hubUrl = `${h.gateway.url}/hooks/form/bench`;
  const hubHeaders = { 'content-type': 'application/json', 'x-leadgate-secret': 'bench-secret-0123456789' };

  const prefix = uniquePrefix();
  const conn = new Redis(TEST_REDIS_URL, { enableOfflineQueue: false });
  const q = new Queue('intake', { connection: conn, prefix });
  const bare = Fastify();
  bare.post('/in', async (req) => {
    await q.add('event', { body: req.body }, { jobId: `x-${Math.random()}` });
    return { ok: true };
  });
  const bareUrl = `${await bare.listen({ port: 0, host: '127.0.0.1' })}/in`;
  const bareHeaders = { 'content-type': 'application/json' };

  try {
    // Warm-up of both (JIT, connections, script cache), not counted.
    await load(hubUrl, hubHeaders, body('warm'), Math.min(REQUESTS, 2000));
    await load(bareUrl, bareHeaders, body('warm'), Math.min(REQUESTS, 2000));
    const rounds: { hub: LoadFigures; baseline: LoadFigures; ratio: number }[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      // Alternate which goes first: a load spike from elsewhere then does not always hit the same side.
      const first = r % 2 === 0 ? 'hub' : 'baseline';
      const a = first === 'hub' ? await load(hubUrl, hubHeaders, body(`h${r}`)) : await load(bareUrl, bareHeaders, body(`b${r}`));
      const b = first === 'hub' ? await load(bareUrl, bareHeaders, body(`b${r}`)) : await load(hubUrl, hubHeaders, body(`h${r}`));
      const hub = first === 'hub' ? a : b;
      const baseline = first === 'hub' ? b : a;
      rounds.push({ hub, baseline, ratio: hub.rps / baseline.rps });
    }
    return { hub: medianFigures(rounds.map((r) => r.hub)), baseline: medianFigures(rounds.map((r) => r.baseline)), ratio: median(rounds.map((r) => r.ratio)), rounds };
  } finally {
    await h.close();
    await bare.close();
    await q.close();
    conn.disconnect();
    await cleanupPrefix(prefix);
  }
}
