import { spawnSync } from 'node:child_process';
import { Redis } from 'ioredis';
import { TEST_REDIS_URL } from './redis.ts';

/**
 * `npm test` works on a fresh machine: when nothing answers on the test Redis URL and redis-server is on PATH,
 * start a throw-away one (no persistence) the way .ci/run does.
 */
export default async function setup(): Promise<void> {
  if (await answers()) return;
  const url = new URL(TEST_REDIS_URL);
  const r = spawnSync('redis-server', ['--daemonize', 'yes', '--port', url.port || '6379', '--bind', url.hostname, '--save', '', '--appendonly', 'no'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    throw new Error(`Tests need Redis at ${TEST_REDIS_URL}: none answers and redis-server could not be started (${r.error?.message ?? r.stderr}). Install redis-server or set TEST_REDIS_URL.`);
  }
  for (let i = 0; i < 50; i++) {
    if (await answers()) return;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error(`started redis-server but ${TEST_REDIS_URL} does not answer`);
}

async function answers(): Promise<boolean> {
  const r = new Redis(TEST_REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 500, enableOfflineQueue: false });
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
