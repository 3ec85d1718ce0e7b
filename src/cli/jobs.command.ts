import { Queue, type Job } from 'bullmq';
import { chooseRedis } from '../infra/embedded-redis.ts';
import { createRedis } from '../infra/redis.ts';
import { loadRuntimeConfig } from '../runtime/load-runtime-config.ts';
import { OPERATED_QUEUES } from '../pipeline/queues.ts';

/** `jobs failed` lists failed jobs of every queue; `replay` re-sends them through the same idempotent steps. */
export async function jobsCommand(cmd: 'jobs' | 'replay', args: string[]): Promise<number> {
  const config = loadRuntimeConfig();
  const prefix = config?.raw.redisPrefix ?? '{leadgate}';
  const redis = await chooseRedis();
  const conn = createRedis(redis.url, 'plain');
  const queues = OPERATED_QUEUES.map((name) => new Queue(name, { connection: conn, prefix }));
  try {
    const failed: Job[] = [];
    for (const q of queues) failed.push(...(await q.getFailed(0, 10_000)));
    failed.sort((a, b) => (a.finishedOn ?? 0) - (b.finishedOn ?? 0));
    if (cmd === 'jobs') {
      if (args[0] !== 'failed') {
        process.stderr.write('usage: leadgate jobs failed [--limit N]\n');
        return 2;
      }
      const limitIdx = args.indexOf('--limit');
      const limit = limitIdx >= 0 ? Number(args[limitIdx + 1]) : 100;
      if (!failed.length) process.stdout.write('No failed jobs.\n');
      for (const j of failed.slice(-limit)) {
        const d = j.data as { sourceId?: string };
        process.stdout.write(`${j.queueName}/${j.id}\tsource=${d.sourceId ?? '?'}\tfailed=${new Date(j.finishedOn ?? 0).toISOString()}\tattempts=${j.attemptsMade}\t${j.failedReason}\n`);
      }
      return 0;
    }
    const [first, second] = args;
    let pick: Job[];
    if (first === '--since' && second) {
      const t = Date.parse(second);
      if (Number.isNaN(t)) {
        process.stderr.write(`--since expects an ISO time like 2026-11-23T10:00:00Z, got "${second}"\n`);
        return 2;
      }
      pick = failed.filter((j) => (j.finishedOn ?? 0) >= t);
    } else if (first === '--source' && second) pick = failed.filter((j) => (j.data as { sourceId?: string }).sourceId === second);
    else if (first && !first.startsWith('--')) pick = failed.filter((j) => j.id === first || `${j.queueName}/${j.id}` === first);
    else {
      process.stderr.write('usage: leadgate replay <jobId> | --since <ISO time> | --source <sourceId>\n');
      return 2;
    }
    if (!pick.length) {
      process.stdout.write('Nothing to replay.\n');
      return first && !first.startsWith('--') ? 1 : 0;
    }
    for (const j of pick) {
      await j.retry('failed');
      process.stdout.write(`replaying ${j.queueName}/${j.id}\n`);
    }
    return 0;
  } finally {
    await Promise.all(queues.map((q) => q.close()));
    conn.disconnect();
  }
}
