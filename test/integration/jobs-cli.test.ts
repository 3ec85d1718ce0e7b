/**
 * `leadgate jobs failed` and `leadgate replay` as an operator runs them (the real CLI, a child process): failed jobs
 * of every queue are listed — deliveries and reassignment checks alike — and a replay puts one back to work.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { QUEUE_DELIVER, QUEUE_REASSIGN } from '../../src/pipeline/queues.ts';
import { cleanupPrefix, TEST_REDIS_URL, uniquePrefix } from '../support/redis.ts';

const run = promisify(execFile);
const prefix = uniquePrefix();
const dir = mkdtempSync(join(tmpdir(), 'lg-jobs-'));
const configFile = join(dir, 'leadgate.yaml');
writeFileSync(configFile, `redisPrefix: "${prefix}"\nsources: []\n`);
const cli = (...args: string[]) => run(process.execPath, [resolve('bin/leadgate.mjs'), ...args], { env: { ...process.env, LEADGATE_CONFIG: configFile, REDIS_URL: TEST_REDIS_URL } });

afterAll(() => cleanupPrefix(prefix));

/** Adds a job to `name` and lets a worker fail it for good (1 attempt). */
async function failOne(name: string, data: Record<string, unknown>, reason: string): Promise<string> {
  const conn = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
  const q = new Queue(name, { connection: conn, prefix });
  const job = await q.add('x', data, { attempts: 1 });
  const w = new Worker(name, async () => { throw new Error(reason); }, { connection: conn.duplicate(), prefix });
  try {
    await expect.poll(async () => (await q.getJobState(job.id!)), { timeout: 10_000 }).toBe('failed');
  } finally {
    await w.close();
    await w.disconnect();
    await q.close();
    conn.disconnect();
  }
  return job.id!;
}

describe('leadgate jobs failed / replay', () => {
  it('lists failed deliveries and reassignment checks; replay puts the named one back in its queue', async () => {
    const d = await failOne(QUEUE_DELIVER, { sourceId: 'site', deliveryKey: 'k' }, 'amoCRM answered 400: field 620104 unknown');
    const r = await failOne(QUEUE_REASSIGN, { sourceId: 'site', leadId: '7' }, 'lead 7 not found');
    const listed = (await cli('jobs', 'failed')).stdout;
    expect(listed).toContain(`deliver/${d}\tsource=site`);
    expect(listed).toContain('amoCRM answered 400: field 620104 unknown');
    expect(listed).toContain(`reassign/${r}\tsource=site`);

    expect((await cli('replay', `reassign/${r}`)).stdout).toContain(`replaying reassign/${r}`);
    const conn = new Redis(TEST_REDIS_URL);
    const q = new Queue(QUEUE_REASSIGN, { connection: conn, prefix });
    try {
      expect(await q.getJobState(r)).toBe('waiting');
    } finally {
      await q.close();
      conn.disconnect();
    }
    const after = (await cli('jobs', 'failed')).stdout;
    expect(after).not.toContain(`reassign/${r}`);
    expect(after).toContain(`deliver/${d}`);
  }, 60_000);
});
