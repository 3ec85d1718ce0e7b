import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';

/**
 * Connections to the one Redis every process shares. Producers (the gateway) fail fast so a dead Redis
 * means an honest 503 (`intake`: a producer that also pipelines concurrent commands); workers wait and reconnect
 * forever.
 *
 * `REDIS_URL` forms: `redis://` / `rediss://` (one server), `redis-sentinel://` (a Sentinel set, see
 * parseSentinelUrl) and `redis-cluster://` / `rediss-cluster://` (Redis Cluster, see parseClusterUrl). A Cluster
 * connection is an ioredis `Cluster` returned under the `Redis` type: the commands the hub uses (keys of one
 * hash tag, Lua scripts, MULTI, BullMQ) behave the same; whole-keyspace commands (SCAN, KEYS) see one node only.
 */
export function createRedis(url: string, role: 'producer' | 'intake' | 'worker' | 'plain'): Redis {
  const common: RedisOptions = {
    lazyConnect: false,
    connectTimeout: 2_000,
    retryStrategy: (times) => Math.min(times * 200, 2_000),
  };
  const producer: RedisOptions = { enableOfflineQueue: false, maxRetriesPerRequest: 1, commandTimeout: 1_500 };
  const perRole: RedisOptions =
    role === 'producer'
      ? producer
      : role === 'intake'
        ? // The gateway's per-event write: commands of concurrent requests issued in one tick leave in one socket write.
          { ...producer, enableAutoPipelining: true }
      : role === 'worker'
        ? { maxRetriesPerRequest: null }
        : { maxRetriesPerRequest: 3 };
  const cluster = parseClusterUrl(url);
  if (cluster) return createCluster(cluster, perRole);
  const opts: RedisOptions = { ...common, ...perRole };
  const sentinel = parseSentinelUrl(url);
  const r = sentinel ? new Redis({ ...opts, ...sentinel }) : new Redis(url, opts);
  // An unhandled 'error' event would crash the process; the callers see failures on their commands.
  r.on('error', () => {});
  return r;
}

function createCluster(c: ClusterUrl, perRole: RedisOptions): Redis {
  const { enableOfflineQueue, ...nodeOptions } = perRole;
  const options: ClusterOptions = {
    // Producers must not queue while the cluster (re)discovers its slots: a 503 now beats a 200 never.
    enableOfflineQueue: enableOfflineQueue ?? true,
    clusterRetryStrategy: (times) => Math.min(times * 200, 2_000),
    slotsRefreshTimeout: 2_000,
    // A failover moves the hub's slot to a replica: retry soon, within the gateway's 1 s budget.
    retryDelayOnFailover: 100,
    retryDelayOnClusterDown: 100,
    redisOptions: {
      connectTimeout: 2_000,
      ...nodeOptions,
      ...(c.username ? { username: c.username } : {}),
      ...(c.password ? { password: c.password } : {}),
      ...(c.tls ? { tls: {} } : {}),
    },
  };
  const cluster = new Cluster(c.nodes, options);
  cluster.on('error', () => {});
  // The ioredis Cluster speaks the same commands as Redis for keys of one slot (every hub key carries `{prefix}`).
  return cluster as unknown as Redis;
}

export interface ClusterUrl {
  nodes: { host: string; port: number }[];
  username?: string;
  password?: string;
  tls?: boolean;
}

/**
 * `redis-cluster://[[user]:password@]h1:6379,h2:6379[,…][/]` (or `rediss-cluster://` for TLS) → the seed nodes of a
 * Redis Cluster; undefined for other URLs. Any reachable seed is enough: the client learns the rest of the cluster
 * (CLUSTER SLOTS) and follows MOVED/ASK redirections. No database number: a cluster has only db 0.
 */
export function parseClusterUrl(url: string): ClusterUrl | undefined {
  const m = /^(rediss?)-cluster:\/\/(?:([^:@/]*):([^@/]*)@)?([^/?#]+)\/?$/.exec(url);
  if (!m) return undefined;
  const nodes = m[4]!.split(',').map((hp) => {
    const i = hp.lastIndexOf(':');
    const host = i > 0 ? hp.slice(0, i) : hp;
    const port = i > 0 ? Number(hp.slice(i + 1)) : 6379;
    if (!host || !Number.isInteger(port) || port <= 0 || port > 65535) throw new Error(`REDIS_URL: "${hp}" is not host:port; write redis-cluster://host1:6379,host2:6379`);
    return { host: host.replace(/^\[(.*)\]$/, '$1'), port };
  });
  return {
    nodes,
    ...(m[2] ? { username: decodeURIComponent(m[2]) } : {}),
    ...(m[3] ? { password: decodeURIComponent(m[3]) } : {}),
    ...(m[1] === 'rediss' ? { tls: true } : {}),
  };
}

/** Wait until the connection is ready, or throw after `timeoutMs`. */
export async function waitReady(r: Redis, timeoutMs = 5_000): Promise<void> {
  if (r.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => {
      cleanup();
      reject(new Error(`Redis not ready after ${timeoutMs} ms (status ${r.status})`));
    }, timeoutMs);
    const onReady = (): void => {
      cleanup();
      resolve();
    };
    const cleanup = (): void => {
      clearTimeout(t);
      r.off('ready', onReady);
    };
    r.on('ready', onReady);
  });
}

/** The gateway must answer within ~1 s, never hang: every Redis wait goes through this. */
export { withTimeout } from '../sdk/timeout.ts';

/**
 * `redis-sentinel://[:password@]h1:26379,h2:26379/<master name>[/<db>]` → ioredis sentinel options; undefined for
 * plain `redis://` URLs. ioredis has no URL form for a sentinel set, so this is ours.
 */
export function parseSentinelUrl(url: string): Pick<RedisOptions, 'sentinels' | 'name' | 'password' | 'db'> | undefined {
  const m = /^redis-sentinel:\/\/(?:(?:[^:@/]*):([^@/]*)@)?([^/]+)\/([^/]+)(?:\/(\d+))?\/?$/.exec(url);
  if (!m) return undefined;
  const sentinels = m[2]!.split(',').map((hp) => {
    const [host, port] = hp.split(':');
    return { host: host!, port: Number(port ?? 26379) };
  });
  return { sentinels, name: decodeURIComponent(m[3]!), ...(m[1] ? { password: decodeURIComponent(m[1]) } : {}), ...(m[4] ? { db: Number(m[4]) } : {}) };
}
