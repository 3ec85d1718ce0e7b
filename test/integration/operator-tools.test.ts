/**
 * Operator tools: /metrics (gateway and worker), the queue board behind basic auth, /docs, `leadgate doctor`.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pino from 'pino';
import { resolveConfig, type RuntimeConfig } from '../../src/config/load.ts';
import { registry } from '../../src/runtime/load-runtime-config.ts';
import { startGateway, type RunningGateway } from '../../src/runtime/gateway.ts';
import { startWorkers, type RunningWorkers } from '../../src/pipeline/worker.ts';
import { createMetrics, type Metrics } from '../../src/infra/metrics.ts';
import { startMetricsServer } from '../../src/gateway/metrics.plugin.ts';
import { judgeRedis, printFindings, runDoctor } from '../../src/cli/doctor.command.ts';
import { startAmoEmulator, type RunningAmoEmulator } from '../emulators/amocrm/start.ts';
import { cleanupPrefix, TEST_REDIS_URL, uniquePrefix } from '../support/redis.ts';
import { PrivateRedis } from '../support/redis-server.ts';
import { tempLedger } from '../support/ledger-file.ts';

const TOKEN_ENV = 'OPS_AMO_TOKEN';
const ADMIN = { LEADGATE_ADMIN_USER: 'ops', LEADGATE_ADMIN_PASSWORD: 'a-long-admin-password' };
const basic = (u: string, p: string) => ({ authorization: `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}` });

function configFor(prefix: string, crmUrl?: string, env: Record<string, string> = {}): RuntimeConfig {
  return resolveConfig(
    {
      file: '(ops test)',
      value: {
        redisPrefix: prefix,
        ledger: tempLedger(),
        crm: crmUrl ? [{ id: 'amo', connector: 'amocrm', mapping: resolve('mappings/amocrm.yaml'), settings: { baseUrl: crmUrl, auth: 'long-lived', tokenEnv: TOKEN_ENV } }] : [],
        sources: [{ id: 'site', connector: 'form', name: 'Сайт' }],
      },
      lineOf: () => undefined,
    },
    registry,
    { ...process.env, ...env },
    resolve('.'),
  );
}

const metricsFor = (config: RuntimeConfig, role: 'gateway' | 'worker' | 'start' = 'start'): Metrics =>
  createMetrics({ role, sources: new Map([...config.sources].map(([id, s]) => [id, { channel: s.connector.id }])), defaultMetrics: false });

const lead = (id: string) => JSON.stringify({ name: 'Иван', phone: '+7 912 345-67-89', email: 'ivan@example.ru', submission_id: id });

describe('metrics, queue board and docs on a running gateway + workers', () => {
  let emu: RunningAmoEmulator;
  let prefix: string;
  let gateway: RunningGateway;
  let workers: RunningWorkers;
  let metrics: Metrics;
  beforeAll(async () => {
    emu = await startAmoEmulator();
    prefix = uniquePrefix();
    process.env[TOKEN_ENV] = emu.token;
    const config = configFor(prefix, emu.url);
    metrics = metricsFor(config);
    const log = pino({ level: 'silent' });
    workers = await startWorkers({ config, redisUrl: TEST_REDIS_URL, log, metrics });
    gateway = await startGateway({ config, redisUrl: TEST_REDIS_URL, log, port: 0, host: '127.0.0.1', metrics, env: ADMIN });
  });
  afterAll(async () => {
    await gateway?.close();
    await workers?.close();
    await metrics?.close();
    await emu?.close();
    await cleanupPrefix(prefix);
  });

  async function metricsText(): Promise<string> {
    const res = await fetch(`${gateway.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    return res.text();
  }
  const value = (text: string, line: RegExp): number => Number(text.split('\n').find((l) => line.test(l))?.split(' ').pop() ?? NaN);

  it('counts accepted, duplicate and rejected requests per channel and source; unknown sources as (unknown)', async () => {
    const post = (path: string, body: string) => fetch(`${gateway.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect((await post('/hooks/form/site', lead('m-1'))).status).toBe(200);
    expect((await post('/hooks/form/site', lead('m-1'))).status).toBe(200);
    expect((await post('/hooks/form/site', '[1,2]')).status).toBe(400);
    expect((await post('/hooks/form/some-scanner-path', '{}')).status).toBe(404);
    const text = await metricsText();
    expect(value(text, /^leadgate_events_total\{channel="form",source="site",result="accepted"/)).toBe(1);
    expect(value(text, /^leadgate_events_total\{channel="form",source="site",result="duplicate"/)).toBe(1);
    expect(value(text, /^leadgate_events_total\{channel="form",source="site",result="rejected"/)).toBe(1);
    expect(value(text, /^leadgate_events_total\{channel="\(unknown\)",source="\(unknown\)",result="rejected"/)).toBe(1);
    expect(text).not.toContain('some-scanner-path');
    expect(text).toMatch(/^leadgate_queue_jobs\{queue="deliver",state="failed"/m);
    expect(text).toMatch(/^leadgate_queue_oldest_job_age_seconds\{queue="intake"/m);
  });

  it('after delivery: outcome delivered, latency observed, CRM requests by status', async () => {
    const until = Date.now() + 20_000;
    let text = '';
    while (Date.now() < until) {
      text = await metricsText();
      if (value(text, /^leadgate_delivery_latency_seconds_count\{.*account="amo",kind="lead"/) >= 1) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(value(text, /^leadgate_delivery_latency_seconds_count\{.*account="amo",kind="lead"/)).toBe(1);
    expect(value(text, /^leadgate_outcomes_total\{channel="form",source="site",kind="lead",result="delivered"/)).toBe(1);
    expect(value(text, /^leadgate_crm_requests_total\{account="amo",crm="amocrm",status="200"/)).toBeGreaterThan(0);
    expect(text).toMatch(/^leadgate_crm_errors_total\{account="amo",crm="amocrm"/m);
    expect(value(text, /^leadgate_crm_stale_slots_total\{account="amo",crm="amocrm"/)).toBe(0); // an idle worker sends on time
  });

  it('the queue board needs the admin password', async () => {
    const none = await fetch(`${gateway.url}/admin/queues`);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toContain('Basic');
    expect((await fetch(`${gateway.url}/admin/queues/api/queues`, { headers: basic('ops', 'wrong-password-123') })).status).toBe(401);
    expect((await fetch(`${gateway.url}/admin/queues/api/queues`, { headers: basic('nobody', ADMIN.LEADGATE_ADMIN_PASSWORD) })).status).toBe(401);
    const ok = await fetch(`${gateway.url}/admin/queues/api/queues`, { headers: basic(ADMIN.LEADGATE_ADMIN_USER, ADMIN.LEADGATE_ADMIN_PASSWORD) });
    expect(ok.status).toBe(200);
    const body = (await ok.json()) as { queues: { name: string }[] };
    expect(body.queues.map((q) => q.name).sort()).toEqual(['deliver', 'intake', 'reassign', 'respond']);
  });

  it('/docs describes the intake route with its answers', async () => {
    const res = await fetch(`${gateway.url}/docs/json`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as { openapi: string; paths: Record<string, Record<string, { responses: Record<string, unknown> }>> };
    expect(doc.openapi).toMatch(/^3\./);
    const hook = doc.paths['/hooks/{channel}/{sourceId}'];
    expect(Object.keys(hook?.post?.responses ?? {})).toEqual(expect.arrayContaining(['200', '400', '401', '403', '404', '503']));
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/healthz', '/readyz', '/metrics']));
    expect(Object.keys(doc.paths).some((p) => p.startsWith('/admin'))).toBe(false);
    expect((await fetch(`${gateway.url}/docs`)).status).toBe(200);
  });
});

describe('queue board off without credentials; worker metrics port', () => {
  it('no admin env → /admin/queues is not mounted, and the log says how to enable it', async () => {
    const prefix = uniquePrefix();
    const lines: string[] = [];
    const log = pino({ level: 'info' }, { write: (s: string) => lines.push(s) });
    const g = await startGateway({ config: configFor(prefix), redisUrl: TEST_REDIS_URL, log, port: 0, host: '127.0.0.1', env: {} });
    try {
      expect((await fetch(`${g.url}/admin/queues`)).status).toBe(404);
      expect(lines.join('')).toContain('LEADGATE_ADMIN_USER and LEADGATE_ADMIN_PASSWORD');
      expect((await fetch(`${g.url}/metrics`)).status).toBe(404); // no metrics object given
    } finally {
      await g.close();
      await cleanupPrefix(prefix);
    }
  });

  it('a lone worker serves GET /metrics on its own port', async () => {
    const m = createMetrics({ role: 'worker', sources: new Map(), defaultMetrics: true });
    m.jobFailed('deliver', true);
    const s = await startMetricsServer({ metrics: m, port: 0, host: '127.0.0.1' });
    try {
      const text = await (await fetch(s.url)).text();
      expect(text).toContain('leadgate_job_failures_total{queue="deliver",final="true",role="worker"} 1');
      expect(text).toContain('leadgate_process_cpu_user_seconds_total');
      expect((await fetch(s.url.replace('/metrics', '/other'))).status).toBe(404);
    } finally {
      await s.close();
      await m.close();
    }
  });
});

describe('leadgate doctor', () => {
  let emu: RunningAmoEmulator;
  let redis: PrivateRedis;
  afterEach(async () => {
    await emu?.close();
    await redis?.destroy();
  });

  it('judges Redis settings: AOF off and an evicting policy are problems with their fix', () => {
    const bad = judgeRedis({ redis_version: '7.2.4', aof_enabled: '0', maxmemory_policy: 'allkeys-lru' }, {});
    expect(bad.filter((f) => f.level === 'problem').map((f) => f.fix)).toEqual([expect.stringContaining('appendonly yes'), expect.stringContaining('noeviction')]);
    const good = judgeRedis({ redis_version: '7.2.4' }, { appendonly: 'yes', appendfsync: 'everysec', 'maxmemory-policy': 'noeviction' });
    expect(good.every((f) => f.level === 'ok')).toBe(true);
    expect(judgeRedis({ redis_version: '6.0.9' }, { appendonly: 'yes', 'maxmemory-policy': 'noeviction' })[0]?.level).toBe('problem');
  });

  it('a durable Redis and a working account → no problems; a rejected token → a problem naming the env var', async () => {
    emu = await startAmoEmulator();
    redis = await PrivateRedis.create(true);
    await redis.start();
    const prefix = uniquePrefix();
    process.env[TOKEN_ENV] = emu.token; // the connector reads its token from the environment at run time
    const good = await runDoctor({ config: configFor(prefix, emu.url), redisUrl: redis.url });
    expect(good.filter((f) => f.level === 'problem')).toEqual([]);
    expect(good.find((f) => f.what.includes('CRM account "amo"'))?.level).toBe('ok');
    process.env[TOKEN_ENV] = 'not-a-valid-token';
    const bad = await runDoctor({ config: configFor(prefix, emu.url), redisUrl: redis.url });
    const problem = bad.find((f) => f.level === 'problem');
    expect(problem?.what).toContain('401');
    expect(problem?.fix).toContain(TOKEN_ENV);
    const out: string[] = [];
    expect(printFindings(bad, (s) => out.push(s))).toBe(1);
    expect(out.join('')).toContain('fix:');
    process.env[TOKEN_ENV] = emu.token;
  });

  it('`leadgate doctor` exits ≠ 0 on a Redis without AOF, 0 on a durable one', async () => {
    redis = await PrivateRedis.create(false);
    await redis.start();
    const dir = mkdtempSync(join(tmpdir(), 'lg-doctor-'));
    try {
      const file = join(dir, 'leadgate.yaml');
      writeFileSync(file, JSON.stringify({ redisPrefix: uniquePrefix(), sources: [{ id: 'site', connector: 'form', name: 'Сайт', secretEnv: 'DOCTOR_SITE_SECRET' }] }));
      const run = (url: string) => spawnSync(process.execPath, ['bin/leadgate.mjs', 'doctor'], { env: { ...process.env, LEADGATE_CONFIG: file, REDIS_URL: url, DOCTOR_SITE_SECRET: 'doctor-secret-123' }, encoding: 'utf8', timeout: 30_000 });
      const off = run(redis.url);
      expect(off.status).toBe(1);
      expect(off.stdout).toContain('AOF is off');
      expect(off.stdout).toContain('fix: set `appendonly yes`');
      const durable = await PrivateRedis.create(true);
      await durable.start();
      try {
        const on = run(durable.url);
        expect(on.stdout).toContain('No problems');
        expect(on.status).toBe(0);
      } finally {
        await durable.destroy();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
