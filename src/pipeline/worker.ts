import { Queue, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { RuntimeConfig } from '../config/load.ts';
import { makeKeys } from '../infra/keys.ts';
import { createRedis } from '../infra/redis.ts';
import { createAccountRuntime, type AccountRuntime } from './crm-runtime.ts';
import { processIntake } from './intake.processor.ts';
import { processDeliver, RetryLaterError } from './deliver.processor.ts';
import { QUEUE_DELIVER, QUEUE_INTAKE } from './queues.ts';
import type { WorkerContext } from './context.ts';

/**
 * BullMQ fails a job that stalled more than `maxStalledCount` times (default 1): with workers killed twice
 * during the same delivery that would lose the lead. Our steps are journaled, so running again is safe.
 */
const MAX_STALLED = 1_000;

export interface RunningWorkers {
  ctx: WorkerContext;
  close(): Promise<void>;
}

/** Exponential backoff with full jitter, never shorter than the CRM's own wait hint, capped. */
export function backoffMs(attemptsMade: number, err: Error | undefined, maxMs: number): number {
  const base = Math.min(maxMs, 1_000 * 2 ** Math.min(attemptsMade, 20));
  const jittered = Math.floor(base / 2 + Math.random() * (base / 2));
  const hint = err instanceof RetryLaterError ? err.afterMs : 0;
  return Math.min(maxMs, Math.max(hint, jittered));
}

/**
 * Starts the intake and delivery workers of one process. Any number of such processes may run against the
 * same Redis: every lock, limit and journal lives there.
 */
export async function startWorkers(o: {
  config: RuntimeConfig;
  redisUrl: string;
  log: Logger;
  env?: Readonly<Record<string, string | undefined>>;
  concurrency?: number;
  onDelivered?: WorkerContext['onDelivered'];
}): Promise<RunningWorkers> {
  const cfg = o.config.raw;
  const keys = makeKeys(cfg.redisPrefix);
  const redis: Redis = createRedis(o.redisUrl, 'worker');
  const conn = createRedis(o.redisUrl, 'worker');
  const deliverQueue = new Queue(QUEUE_DELIVER, {
    connection: conn,
    prefix: cfg.redisPrefix,
    defaultJobOptions: {
      attempts: cfg.worker.attempts,
      backoff: { type: 'leadgate' },
      removeOnComplete: { age: 24 * 3600, count: 50_000 },
      removeOnFail: false,
    },
  });
  const accounts = new Map<string, AccountRuntime>();
  for (const [id, account] of o.config.crm) {
    accounts.set(id, createAccountRuntime({ account, redis, keys, log: o.log, configFile: o.config.file }));
  }
  const ctx: WorkerContext = {
    config: o.config,
    redis,
    keys,
    log: o.log,
    deliverQueue,
    accounts,
    env: o.env ?? process.env,
    idempotencyTtlSec: Math.round(cfg.idempotencyTtlDays * 24 * 3600),
    ...(o.onDelivered ? { onDelivered: o.onDelivered } : {}),
  };
  // Start-up check: a mapping that does not fit the live account stops the worker with the fix.
  for (const acct of accounts.values()) {
    try {
      await acct.facts();
    } catch (err) {
      if ((err as Error).name === 'ConfigError') throw err;
      o.log.warn({ account: acct.id, err: (err as Error).message }, 'CRM not reachable at start-up; will check again on the first delivery');
    }
  }
  const settings = { backoffStrategy: (attemptsMade: number, _type?: string, err?: Error) => backoffMs(attemptsMade, err, cfg.worker.maxBackoffMs) };
  const concurrency = o.concurrency ?? cfg.worker.concurrency;
  const guard = (name: string, fn: (job: Job) => Promise<unknown>) => async (job: Job) => {
    try {
      return await fn(job);
    } catch (err) {
      o.log.warn({ queue: name, job: job.id, attempt: job.attemptsMade + 1, err: (err as Error).message }, 'job failed');
      throw err;
    }
  };
  const intakeWorker = new Worker(QUEUE_INTAKE, guard('intake', (job) => processIntake(job, ctx)), { connection: createRedis(o.redisUrl, 'worker'), prefix: cfg.redisPrefix, concurrency, settings, lockDuration: cfg.worker.lockDurationMs, stalledInterval: cfg.worker.stalledIntervalMs, maxStalledCount: MAX_STALLED });
  const deliverWorker = new Worker(QUEUE_DELIVER, guard('deliver', (job) => processDeliver(job, ctx)), { connection: createRedis(o.redisUrl, 'worker'), prefix: cfg.redisPrefix, concurrency, settings, lockDuration: cfg.worker.lockDurationMs, stalledInterval: cfg.worker.stalledIntervalMs, maxStalledCount: MAX_STALLED });
  for (const w of [intakeWorker, deliverWorker]) w.on('error', (err) => o.log.error({ err: err.message }, 'worker error'));
  return {
    ctx,
    async close() {
      await Promise.allSettled([intakeWorker.close(), deliverWorker.close()]);
      await deliverQueue.close().catch(() => undefined);
      redis.disconnect();
      conn.disconnect();
    },
  };
}

/** Default job options of the intake queue (the gateway's producer uses them). */
export const intakeJobOptions = (attempts: number) => ({
  attempts,
  backoff: { type: 'leadgate' },
  removeOnComplete: { age: 24 * 3600, count: 50_000 },
  removeOnFail: false,
});
