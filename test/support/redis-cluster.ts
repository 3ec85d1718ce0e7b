import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

/** `redis-server` and `redis-cli` on PATH (the cluster and Sentinel tests are skipped without them). */
export function hasRedisBinaries(): boolean {
  const r = spawnSync('sh', ['-c', 'command -v redis-server && command -v redis-cli'], { encoding: 'utf8' });
  return r.status === 0;
}

const isFree = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });

/** A client port whose cluster bus port (client port + 10000) is free too. */
async function clusterPort(taken: Set<number>): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const p = 20_000 + Math.floor(Math.random() * 30_000);
    if (taken.has(p) || taken.has(p + 10_000)) continue;
    if ((await isFree(p)) && (await isFree(p + 10_000))) {
      taken.add(p);
      taken.add(p + 10_000);
      return p;
    }
  }
  throw new Error('no free port pair (port, port+10000) for a cluster node');
}

/**
 * A private Redis Cluster of `masters` nodes (no replicas) on spare loopback ports, slots spread by
 * `redis-cli --cluster create`. AOF off: this is about routing, not durability.
 */
export class PrivateRedisCluster {
  private readonly children: ChildProcess[] = [];
  private constructor(
    readonly ports: number[],
    readonly dir: string,
  ) {}

  /** `redis-cluster://127.0.0.1:p1,127.0.0.1:p2,…`, the form src/infra/redis.ts parses. */
  get url(): string {
    return `redis-cluster://${this.ports.map((p) => `127.0.0.1:${p}`).join(',')}`;
  }

  static async start(masters = 3): Promise<PrivateRedisCluster> {
    const taken = new Set<number>();
    const ports: number[] = [];
    for (let i = 0; i < masters; i++) ports.push(await clusterPort(taken));
    const c = new PrivateRedisCluster(ports, mkdtempSync(join(tmpdir(), 'lg-cluster-')));
    try {
      for (const port of ports) c.children.push(spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', c.dir, '--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--cluster-node-timeout', '3000', '--appendonly', 'no', '--save', ''], { stdio: 'ignore' }));
      for (const port of ports) await waitFor(async () => (await ask(port, (r) => r.ping())) === 'PONG', `redis-server on ${port} did not start`);
      const create = spawnSync('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'], { encoding: 'utf8', timeout: 30_000 });
      if (create.status !== 0) throw new Error(`redis-cli --cluster create failed: ${create.stdout}\n${create.stderr}`);
      // Every node must agree the cluster is up (all slots covered) before a client connects.
      for (const port of ports) await waitFor(async () => /cluster_state:ok/.test(String(await ask(port, (r) => r.cluster('INFO')))), `cluster node ${port} never reached cluster_state:ok`);
      return c;
    } catch (err) {
      await c.stop();
      throw err;
    }
  }

  /** The node serving `key`'s slot (so a test can show where the hub's keys live). */
  async nodeFor(key: string): Promise<number> {
    const slot = Number(await ask(this.ports[0]!, (r) => r.cluster('KEYSLOT', key)));
    const slots = (await ask(this.ports[0]!, (r) => r.cluster('SLOTS'))) as unknown as [number, number, [string, number]][];
    const owner = slots.find(([from, to]) => slot >= from && slot <= to);
    if (!owner) throw new Error(`slot ${slot} not served`);
    return owner[2][1];
  }

  async stop(): Promise<void> {
    await stopAll(this.children);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** One command on one node through a plain (non-cluster) connection. */
async function ask<T>(port: number, fn: (r: Redis) => Promise<T>): Promise<T | undefined> {
  const r = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 500, enableOfflineQueue: false });
  r.on('error', () => {});
  try {
    await r.connect();
    return await fn(r);
  } catch {
    return undefined;
  } finally {
    r.disconnect();
  }
}

async function waitFor(ok: () => Promise<boolean>, message: string, timeoutMs = 15_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await ok()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(message);
}

/**
 * A private Redis master plus one Sentinel watching it (`redis-server --sentinel`, quorum 1) on spare loopback
 * ports. Enough to show that clients find the master through the Sentinel; failover is Redis's own business.
 */
export class PrivateSentinel {
  private readonly children: ChildProcess[] = [];
  private constructor(
    readonly masterPort: number,
    readonly sentinelPort: number,
    readonly masterName: string,
    readonly dir: string,
  ) {}

  /** `redis-sentinel://127.0.0.1:<sentinel port>/<master name>`, the form src/infra/redis.ts parses. */
  get url(): string {
    return `redis-sentinel://127.0.0.1:${this.sentinelPort}/${this.masterName}`;
  }

  static async start(masterName = 'lgmaster'): Promise<PrivateSentinel> {
    const taken = new Set<number>();
    const s = new PrivateSentinel(await clusterPort(taken), await clusterPort(taken), masterName, mkdtempSync(join(tmpdir(), 'lg-sentinel-')));
    try {
      s.children.push(spawn('redis-server', ['--port', String(s.masterPort), '--bind', '127.0.0.1', '--dir', s.dir, '--appendonly', 'no', '--save', ''], { stdio: 'ignore' }));
      await waitFor(async () => (await ask(s.masterPort, (r) => r.ping())) === 'PONG', `redis-server on ${s.masterPort} did not start`);
      // Sentinel rewrites its config file, so it gets one of its own in the temp dir.
      const conf = join(s.dir, 'sentinel.conf');
      writeFileSync(conf, `port ${s.sentinelPort}\nbind 127.0.0.1\ndir ${s.dir}\nsentinel monitor ${masterName} 127.0.0.1 ${s.masterPort} 1\n`);
      s.children.push(spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' }));
      await waitFor(async () => {
        const addr = await ask(s.sentinelPort, (r) => r.call('SENTINEL', 'get-master-addr-by-name', masterName));
        return Array.isArray(addr) && Number(addr[1]) === s.masterPort;
      }, `sentinel on ${s.sentinelPort} never reported master ${masterName}`);
      return s;
    } catch (err) {
      await s.stop();
      throw err;
    }
  }

  async stop(): Promise<void> {
    await stopAll(this.children);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

async function stopAll(children: ChildProcess[]): Promise<void> {
  await Promise.all(
    children.map(
      (ch) =>
        new Promise<void>((resolve) => {
          if (ch.exitCode !== null || ch.signalCode !== null) return resolve();
          ch.once('exit', () => resolve());
          ch.kill('SIGTERM');
        }),
    ),
  );
  children.length = 0;
}
