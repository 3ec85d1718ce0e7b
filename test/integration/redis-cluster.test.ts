/**
 * The hub on a real Redis Cluster (and behind a real Sentinel): three masters on spare loopback ports (test/support/redis-cluster.ts), the
 * gateway and a worker started the way `leadgate gateway|worker` start them (src/runtime/gateway.ts,
 * src/pipeline/worker.ts) with `REDIS_URL=redis-cluster://…`, a form posted, the lead delivered into the amoCRM
 * emulator once. The key prefix is chosen so its slot is NOT on the first seed node: a client that did not follow
 * the cluster's slot map would fail on MOVED.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolve } from 'node:path';
import pino from 'pino';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { resolveConfig } from '../../src/config/load.ts';
import { registry } from '../../src/runtime/load-runtime-config.ts';
import { startGateway, type RunningGateway } from '../../src/runtime/gateway.ts';
import { startWorkers, type RunningWorkers } from '../../src/pipeline/worker.ts';
import { createRedis, parseClusterUrl, parseSentinelUrl } from '../../src/infra/redis.ts';
import { QUEUE_INTAKE } from '../../src/pipeline/queues.ts';
import { startAmoEmulator, type RunningAmoEmulator } from '../emulators/amocrm/start.ts';
import { hasRedisBinaries, PrivateRedisCluster, PrivateSentinel } from '../support/redis-cluster.ts';
import { uniquePrefix } from '../support/redis.ts';
import { runDoctor } from '../../src/cli/doctor.command.ts';

describe('REDIS_URL forms', () => {
  it('redis-cluster:// lists the seed nodes, with credentials and TLS when given', () => {
    expect(parseClusterUrl('redis-cluster://10.0.0.1:7000,10.0.0.2:7001,redis-3')).toEqual({
      nodes: [
        { host: '10.0.0.1', port: 7000 },
        { host: '10.0.0.2', port: 7001 },
        { host: 'redis-3', port: 6379 },
      ],
    });
    expect(parseClusterUrl('rediss-cluster://app:s%40cret@[::1]:7000/')).toEqual({ nodes: [{ host: '::1', port: 7000 }], username: 'app', password: 's@cret', tls: true });
    expect(parseClusterUrl('redis-cluster://:pw@h:7000')).toEqual({ nodes: [{ host: 'h', port: 7000 }], password: 'pw' });
  });
  it('a seed that is not host:port is named in the error', () => {
    expect(() => parseClusterUrl('redis-cluster://h1:7000,h2:notaport')).toThrow(/"h2:notaport" is not host:port/);
  });
  it('other forms are not cluster URLs, and Sentinel URLs still parse', () => {
    expect(parseClusterUrl('redis://127.0.0.1:6379')).toBeUndefined();
    expect(parseClusterUrl('redis-sentinel://h:26379/mymaster')).toBeUndefined();
    expect(parseSentinelUrl('redis-sentinel://:pw@10.0.0.1:26379,10.0.0.2/mymaster/1')).toEqual({ sentinels: [{ host: '10.0.0.1', port: 26379 }, { host: '10.0.0.2', port: 26379 }], name: 'mymaster', password: 'pw', db: 1 });
    expect(parseSentinelUrl('redis-cluster://h:7000')).toBeUndefined();
  });
});

const binaries = hasRedisBinaries();
if (!binaries) console.warn('redis-cluster.test: SKIPPED the live Cluster and Sentinel tests — redis-server/redis-cli not on PATH (apt-get install redis-server)');

/** The gateway and a worker as `leadgate gateway|worker` start them, against `redisUrl`, delivering into the emulator. */
/** A config with no CRM account: what `leadgate doctor` needs to check Redis alone. */
function bareConfig(prefix: string) {
  return resolveConfig({ file: '(doctor test)', value: { redisPrefix: prefix, sources: [{ id: 'site', connector: 'form', name: 'Сайт' }] }, lineOf: () => undefined }, registry, {}, resolve('.'));
}

async function startHub(redisUrl: string, prefix: string, emu: RunningAmoEmulator) {
  // The CRM runtime reads credentials from process.env (as the harness sets them).
  process.env.CLUSTER_AMO_TOKEN = emu.token;
  const env = { ...process.env };
  const config = resolveConfig(
    {
      file: '(cluster test)',
      value: {
        redisPrefix: prefix,
        crm: [{ id: 'amo', connector: 'amocrm', settings: { baseUrl: emu.url, auth: 'long-lived', tokenEnv: 'CLUSTER_AMO_TOKEN' } }],
        sources: [{ id: 'site', connector: 'form', name: 'Сайт' }],
      },
      lineOf: () => undefined,
    },
    registry,
    env,
    resolve('.'),
  );
  const log = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const delivered: { deliveryKey: string; kind: string }[] = [];
  const workers: RunningWorkers = await startWorkers({ config, redisUrl, log, env, onDelivered: (e) => delivered.push(e) });
  const gateway: RunningGateway = await startGateway({ config, redisUrl, log, port: 0, host: '127.0.0.1', env });
  return {
    delivered,
    async post(body: unknown) {
      const res = await fetch(`${gateway.url}/hooks/form/site`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return { status: res.status, json: (await res.json()) as { ok?: boolean; duplicate?: boolean; event?: string } };
    },
    async close() {
      await gateway.close();
      await workers.close();
      delete process.env.CLUSTER_AMO_TOKEN;
    },
  };
}

/** Posts a form twice: one lead in the CRM, the second answer a duplicate, exactly one intake job (read through `redisUrl`). */
async function oneLeadOnce(hub: Awaited<ReturnType<typeof startHub>>, emu: RunningAmoEmulator, redisUrl: string, prefix: string, submissionId: string): Promise<void> {
  const form = { name: 'Ольга Кластерова', phone: '8 916 555-44-33', email: 'olga@example.ru', utm_source: 'cluster', submission_id: submissionId };
  const first = await hub.post(form);
  expect(first).toMatchObject({ status: 200, json: { ok: true } });
  expect(first.json.duplicate).toBeUndefined();

  await waitUntil(() => hub.delivered.some((d) => d.kind === 'lead'), 30_000, () => `no lead delivered; delivered: ${JSON.stringify(hub.delivered)}`);
  expect(emu.state.counts()).toMatchObject({ leads: 1, contacts: 1 });

  const again = await hub.post(form);
  expect(again).toMatchObject({ status: 200, json: { ok: true, duplicate: true, event: first.json.event } });

  const conn = createRedis(redisUrl, 'plain');
  const q = new Queue(QUEUE_INTAKE, { connection: conn, prefix });
  try {
    await waitUntil(async () => (await q.getJobCounts('waiting', 'active', 'delayed')).waiting === 0, 10_000, () => 'intake queue not drained');
    const jobs = await q.getJobs(['completed', 'waiting', 'active', 'delayed', 'failed']);
    expect(jobs.map((j) => j.id)).toEqual([`site.${first.json.event}`]);
  } finally {
    await q.close();
    conn.disconnect();
  }
  expect(hub.delivered.filter((d) => d.kind === 'lead')).toHaveLength(1);
  expect(emu.state.counts()).toMatchObject({ leads: 1, contacts: 1 });
}

describe.skipIf(!binaries)('the hub on a live 3-master Redis Cluster', () => {
  let cluster: PrivateRedisCluster;
  let emu: RunningAmoEmulator;
  let hub: Awaited<ReturnType<typeof startHub>> | undefined;
  let prefix: string;

  beforeAll(async () => {
    cluster = await PrivateRedisCluster.start(3);
    emu = await startAmoEmulator();
    // A prefix whose slot lives on another node than the first seed.
    do prefix = uniquePrefix();
    while ((await cluster.nodeFor(prefix)) === cluster.ports[0]);
    hub = await startHub(cluster.url, prefix, emu);
  }, 60_000);

  afterAll(async () => {
    await hub?.close();
    await emu?.close();
    await cluster?.stop();
  }, 30_000);

  it('a posted form becomes one lead in the CRM; the same delivery again is a duplicate, nothing doubled', async () => {
    await oneLeadOnce(hub!, emu, cluster.url, prefix, 'cluster-1');
  }, 60_000);

  it('`leadgate doctor` takes the cluster URL and checks the persistence of every master', async () => {
    const findings = await runDoctor({ config: bareConfig(prefix), redisUrl: cluster.url });
    const aof = findings.filter((f) => /AOF|appendonly/i.test(f.what));
    // One persistence finding per master, each naming its node (the private cluster runs without AOF: problems).
    for (const port of cluster.ports) expect(aof.some((f) => f.what.startsWith(`127.0.0.1:${port}: `)), `no AOF finding for :${port}`).toBe(true);
    expect(findings.some((f) => f.level === 'problem' && /does not answer/.test(f.what))).toBe(false);
  }, 30_000);

  it('the hub keys live in the prefix slot, on a node other than the first seed (MOVED was followed)', async () => {
    const owner = await cluster.nodeFor(prefix);
    expect(owner).not.toBe(cluster.ports[0]);
    const node = new Redis({ host: '127.0.0.1', port: owner });
    const seed = new Redis({ host: '127.0.0.1', port: cluster.ports[0]! });
    try {
      const keys = await node.keys(`${prefix}*`);
      expect(keys.some((k) => k.startsWith(`${prefix}:intake:`))).toBe(true);
      expect(await seed.dbsize()).toBe(0);
    } finally {
      node.disconnect();
      seed.disconnect();
    }
  });
});

describe.skipIf(!binaries)('the hub behind a live Sentinel', () => {
  let sentinel: PrivateSentinel;
  let emu: RunningAmoEmulator;
  let hub: Awaited<ReturnType<typeof startHub>> | undefined;
  const prefix = uniquePrefix();

  beforeAll(async () => {
    sentinel = await PrivateSentinel.start();
    emu = await startAmoEmulator();
    hub = await startHub(sentinel.url, prefix, emu);
  }, 60_000);

  afterAll(async () => {
    await hub?.close();
    await emu?.close();
    await sentinel?.stop();
  }, 30_000);

  it('`leadgate doctor` takes the Sentinel URL and checks the master it names', async () => {
    const findings = await runDoctor({ config: bareConfig(prefix), redisUrl: sentinel.url });
    expect(findings.some((f) => f.level === 'problem' && /does not answer/.test(f.what))).toBe(false);
    expect(findings.some((f) => /maxmemory-policy|AOF|appendonly/i.test(f.what))).toBe(true);
  }, 30_000);

  it('finds the master through the Sentinel: one lead in the CRM, the redelivery a duplicate', async () => {
    await oneLeadOnce(hub!, emu, sentinel.url, prefix, 'sentinel-1');
    // The data is on the master the Sentinel named, not on some default Redis.
    const master = new Redis({ host: '127.0.0.1', port: sentinel.masterPort });
    try {
      expect((await master.keys(`${prefix}:intake:*`)).length).toBeGreaterThan(0);
    } finally {
      master.disconnect();
    }
  }, 60_000);
});

async function waitUntil(ok: () => boolean | Promise<boolean>, timeoutMs: number, why: () => string): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > until) throw new Error(why());
    await new Promise((r) => setTimeout(r, 50));
  }
}
