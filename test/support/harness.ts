import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import pino from 'pino';
import { resolveConfig, type RuntimeConfig } from '../../src/config/load.ts';
import { registry } from '../../src/runtime/load-runtime-config.ts';
import { startGateway, type RunningGateway } from '../../src/runtime/gateway.ts';
import { startWorkers, type RunningWorkers } from '../../src/pipeline/worker.ts';
import { QUEUE_DELIVER, QUEUE_INTAKE } from '../../src/pipeline/queues.ts';
import { cleanupPrefix, TEST_REDIS_URL, uniquePrefix } from './redis.ts';
import { join, resolve } from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';

export interface HarnessOptions {
  /** The config as it would be written in leadgate.yaml (redisPrefix is set for you). */
  config: Record<string, unknown>;
  env?: Record<string, string>;
  redisUrl?: string;
  /** @defaultValue true */
  workers?: boolean;
  workerConcurrency?: number;
  logLevel?: string;
}

export interface Harness {
  prefix: string;
  redisUrl: string;
  config: RuntimeConfig;
  gateway: RunningGateway;
  workers: RunningWorkers | null;
  redis: Redis;
  delivered: { deliveryKey: string; kind: string; receipt?: unknown; reason?: string }[];
  /** Waits for the lead ledger's writes in flight (they run in the background). */
  flushLedger(): Promise<void>;
  post(path: string, body: string | Buffer, headers?: Record<string, string>): Promise<{ status: number; body: string; headers: Headers }>;
  /** Resolves when both queues have nothing waiting, delayed or active (or throws after timeoutMs). */
  drain(timeoutMs?: number): Promise<void>;
  counts(): Promise<Record<string, Record<string, number>>>;
  close(): Promise<void>;
}

export async function startHarness(o: HarnessOptions): Promise<Harness> {
  const prefix = uniquePrefix();
  const redisUrl = o.redisUrl ?? TEST_REDIS_URL;
  const env = { ...process.env, ...(o.env ?? {}) };
  for (const [k, v] of Object.entries(o.env ?? {})) process.env[k] = v;
  // The lead ledger: a SQLite file of this harness's own unless the test configures one (`ledger:`).
  const ledgerDir = o.config.ledger === undefined ? mkdtempSync(join(tmpdir(), 'lg-harness-ledger-')) : undefined;
  const ledger = ledgerDir ? { ledger: { file: join(ledgerDir, 'ledger.sqlite') } } : {};
  const config = resolveConfig({ file: '(test config)', value: { ...o.config, ...ledger, redisPrefix: prefix }, lineOf: () => undefined }, registry, env, resolve('.'));
  const log = pino({ level: o.logLevel ?? process.env.TEST_LOG_LEVEL ?? 'silent' });
  const delivered: Harness['delivered'] = [];
  const workers = o.workers === false ? null : await startWorkers({ config, redisUrl, log, env, ...(o.workerConcurrency ? { concurrency: o.workerConcurrency } : {}), onDelivered: (e) => delivered.push(e) });
  const gateway = await startGateway({ config, redisUrl, log, port: 0, host: '127.0.0.1' });
  const redis = new Redis(redisUrl);
  const queueConn = new Redis(redisUrl, { maxRetriesPerRequest: null });
  queueConn.on('error', () => {});
  const queues = [QUEUE_INTAKE, QUEUE_DELIVER].map((n) => {
    const q = new Queue(n, { connection: queueConn, prefix });
    q.on('error', () => {}); // outage tests kill Redis on purpose
    return q;
  });
  const counts = async (): Promise<Record<string, Record<string, number>>> => {
    const out: Record<string, Record<string, number>> = {};
    for (const q of queues) out[q.name] = await q.getJobCounts('waiting', 'active', 'delayed', 'completed', 'failed', 'prioritized', 'waiting-children');
    return out;
  };
  return {
    prefix,
    redisUrl,
    config,
    gateway,
    workers,
    redis,
    delivered,
    async flushLedger() {
      await workers?.ctx.ledger?.flush();
    },
    async post(path, body, headers = {}) {
      const res = await fetch(`${gateway.url}${path}`, { method: "POST", body: typeof body === "string" ? body : new Uint8Array(body), headers });
      return { status: res.status, body: await res.text(), headers: res.headers };
    },
    counts,
    async drain(timeoutMs = 20_000) {
      const until = Date.now() + timeoutMs;
      let quietSince = 0;
      for (;;) {
        const c = await counts();
        const busy = Object.values(c).reduce((n, x) => n + (x.waiting ?? 0) + (x.active ?? 0) + (x.delayed ?? 0) + (x.prioritized ?? 0), 0);
        if (busy === 0) {
          if (!quietSince) quietSince = Date.now();
          if (Date.now() - quietSince > 150) return;
        } else quietSince = 0;
        if (Date.now() > until) throw new Error(`queues not drained after ${timeoutMs} ms: ${JSON.stringify(c)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async close() {
      await gateway.close();
      await workers?.close();
      for (const q of queues) {
        await q.close();
      }
      queueConn.disconnect();
      redis.disconnect();
      await cleanupPrefix(prefix, redisUrl);
      if (ledgerDir) rmSync(ledgerDir, { recursive: true, force: true });
    },
  };
}
