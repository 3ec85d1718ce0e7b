import { Redis, type RedisOptions } from 'ioredis';

/**
 * Connections to the one Redis every process shares. Producers (the gateway) fail fast so a dead Redis
 * means an honest 503; workers wait and reconnect forever.
 */
export function createRedis(url: string, role: 'producer' | 'worker' | 'plain'): Redis {
  const common: RedisOptions = {
    lazyConnect: false,
    connectTimeout: 2_000,
    retryStrategy: (times) => Math.min(times * 200, 2_000),
  };
  const opts: RedisOptions =
    role === 'producer'
      ? { ...common, enableOfflineQueue: false, maxRetriesPerRequest: 1, commandTimeout: 1_500 }
      : role === 'worker'
        ? { ...common, maxRetriesPerRequest: null }
        : { ...common, maxRetriesPerRequest: 3 };
  const sentinel = parseSentinelUrl(url);
  const r = sentinel ? new Redis({ ...opts, ...sentinel }) : new Redis(url, opts);
  // An unhandled 'error' event would crash the process; the callers see failures on their commands.
  r.on('error', () => {});
  return r;
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
