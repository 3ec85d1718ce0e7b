import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { Redis } from 'ioredis';

export interface RedisChoice {
  url: string;
  /** How we got it, said at start-up. */
  how: string;
  child?: ChildProcess;
}

async function answers(url: string, timeoutMs = 800): Promise<boolean> {
  const r = new Redis(url, { lazyConnect: true, connectTimeout: timeoutMs, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  r.on('error', () => {});
  try {
    await r.connect();
    return (await r.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    r.disconnect();
  }
}

/**
 * REDIS_URL if set; else a Redis already on 127.0.0.1:6379; else a private `redis-server` from PATH with
 * AOF `everysec` under ./var/redis (the embedded default). Without any, a message says how to get one.
 */
export async function chooseRedis(env: NodeJS.ProcessEnv = process.env, workDir = process.cwd()): Promise<RedisChoice> {
  if (env.REDIS_URL) return { url: env.REDIS_URL, how: 'REDIS_URL' };
  const local = 'redis://127.0.0.1:6379';
  if (await answers(local)) return { url: local, how: 'the Redis already running on 127.0.0.1:6379 (REDIS_URL is unset)' };
  const which = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' });
  const bin = which.stdout.trim();
  if (!bin) {
    throw new Error(
      'No Redis: REDIS_URL is unset, nothing answers on 127.0.0.1:6379 and redis-server is not on PATH.\n' +
        'Get one: `docker compose up -d redis` (then REDIS_URL=redis://127.0.0.1:6379), or install the distro package (`apt-get install redis-server`).',
    );
  }
  const dir = resolve(workDir, 'var/redis');
  mkdirSync(dir, { recursive: true });
  const port = Number(env.LEADGATE_EMBEDDED_REDIS_PORT ?? 6390);
  const url = `redis://127.0.0.1:${port}`;
  if (await answers(url)) return { url, how: `the embedded redis-server already running on port ${port} (data in ${dir})` };
  const child = spawn(bin, ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'everysec', '--save', '', '--maxmemory-policy', 'noeviction'], { stdio: 'ignore', detached: false });
  for (let i = 0; i < 50; i++) {
    if (await answers(url, 200)) return { url, how: `an embedded redis-server on port ${port} with AOF everysec in ${dir}`, child };
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill();
  throw new Error(`started ${bin} on port ${port} but it does not answer; see ${dir}`);
}
