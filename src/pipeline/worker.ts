import { Queue, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { RuntimeConfig } from '../config/load.ts';
import { makeKeys } from '../infra/keys.ts';
import { createRedis } from '../infra/redis.ts';
import { createAccountRuntime, type AccountRuntime } from './crm-runtime.ts';
import { processIntake } from './intake.processor.ts';
import { processDeliver, RetryLaterError } from './deliver.processor.ts';
import { DeliverJobSchema, OPERATED_QUEUES, QUEUE_DELIVER, QUEUE_INTAKE, QUEUE_RESPOND } from './queues.ts';
import { isSkipped, type Metrics } from '../infra/metrics.ts';
import type { WorkerContext } from './context.ts';
import { startCallSweeper } from './call-sweeper.ts';
import { createRecordings } from './recordings.ts';
import { createMailer, type Mailer } from '../infra/mailer.ts';
import { processRespond } from './respond.ts';
import { startPollRunner, type PollRunner } from './poll-runner.ts';
import { ledgerRecorderFor } from '../ledger/from-config.ts';
import type { LedgerRecorder } from '../ledger/recorder.ts';
import { setupAssignment } from '../assignment/wire.ts';
import { processReassign, QUEUE_REASSIGN } from './reassign.processor.ts';

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
  /** Counts outcomes, delivery latency, failures and CRM requests of this process (see src/infra/metrics.ts). */
  metrics?: Metrics;
  /** Start the pollers of poll sources (IMAP) in this process, each under a Redis lease. @defaultValue true */
  pollers?: boolean;
  /** The lead ledger's recorder; `false` → none. @defaultValue the one `ledger:` in the config describes */
  ledger?: LedgerRecorder | false;
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
  deliverQueue.on('error', (err) => o.log.debug({ err: err.message }, 'deliver queue: Redis error')); // else BullMQ prints it raw to stderr
  const accounts = new Map<string, AccountRuntime>();
  for (const [id, account] of o.config.crm) {
    accounts.set(id, createAccountRuntime({ account, redis, keys, log: o.log, configFile: o.config.file }));
  }
  const env = o.env ?? process.env;
  createRecordings({ config: o.config, env }); // a recording-link misconfiguration stops start-up here
  const mailer: Mailer | undefined = cfg.mail ? createMailer({ config: cfg.mail, env, redis, keys, log: o.log }) : undefined;
  // Replies to senders (Telegram bot) run on their own queue: their retries never re-run intake.
  const respondQueue = [...o.config.sources.values()].some((s) => s.connector.respond) ? new Queue(QUEUE_RESPOND, { connection: conn, prefix: cfg.redisPrefix }) : undefined;
  respondQueue?.on('error', (err) => o.log.debug({ err: err.message }, 'respond queue: Redis error'));
  // Metrics count every finished outcome; the caller's hook (tests, demo printing) still runs.
  const onDelivered: WorkerContext['onDelivered'] =
    o.metrics || o.onDelivered
      ? (e) => {
          o.metrics?.onOutcome(e);
          o.onDelivered?.(e);
        }
      : undefined;
  const ctx: WorkerContext = {
    config: o.config,
    redis,
    keys,
    log: o.log,
    deliverQueue,
    accounts,
    env,
    idempotencyTtlSec: Math.round(cfg.idempotencyTtlDays * 24 * 3600),
    ...(respondQueue ? { respondQueue } : {}),
    ...(mailer ? { mailer } : {}),
    ...(onDelivered ? { onDelivered } : {}),
  };
  // The lead ledger: written in the background, its failures logged and counted, never a delivery's.
  const ledger = o.ledger === false ? undefined : (o.ledger ?? ledgerRecorderFor({ config: o.config, env, log: o.log, ...(o.metrics ? { onError: (op: string) => o.metrics!.ledgerError(op) } : {}) }));
  if (ledger) ctx.ledger = ledger;
  // Assignment rules (crm[].assignment): users checked against the CRM; reassignment checks on their own queue.
  const assignment = await setupAssignment({ config: o.config, accounts, redis, prefix: cfg.redisPrefix, ttlSec: ctx.idempotencyTtlSec, log: o.log });
  const reassignQueue = assignment ? new Queue(QUEUE_REASSIGN, { connection: conn, prefix: cfg.redisPrefix, defaultJobOptions: { attempts: cfg.worker.attempts, backoff: { type: 'leadgate' }, removeOnComplete: { age: 24 * 3600, count: 50_000 }, removeOnFail: false } }) : undefined;
  reassignQueue?.on('error', (err) => o.log.debug({ err: err.message }, 'reassign queue: Redis error'));
  if (assignment) ctx.assignment = assignment;
  if (reassignQueue) ctx.reassignQueue = reassignQueue;
  // Start-up check: a mapping that does not fit the live account stops the worker with the fix.
  for (const acct of accounts.values()) {
    try {
      const facts = await acct.facts();
      if (facts.warnings.length) void mailer?.alert({ kind: `crm:${acct.id}:warnings`, subject: `CRM account "${acct.id}" needs attention`, text: facts.warnings.join('\n') });
    } catch (err) {
      if ((err as Error).name === 'ConfigError') throw err;
      o.log.warn({ account: acct.id, err: (err as Error).message }, 'CRM not reachable at start-up; will check again on the first delivery');
    }
  }
  const settings = { backoffStrategy: (attemptsMade: number, _type?: string, err?: Error) => backoffMs(attemptsMade, err, cfg.worker.maxBackoffMs) };
  const concurrency = o.concurrency ?? cfg.worker.concurrency;
  // Batching accounts need several deliveries active at once to fill a request (see crm[].batch).
  const batching = cfg.crm.some((a) => a.batch !== false);
  const deliverConcurrency = cfg.worker.deliverConcurrency ?? o.concurrency ?? (batching ? Math.max(concurrency, 32) : concurrency);
  const guard = (name: string, fn: (job: Job) => Promise<unknown>) => async (job: Job) => {
    try {
      const result = await fn(job);
      if (name === QUEUE_DELIVER && o.metrics) observeDelivered(o.metrics, job, result);
      if (name === QUEUE_DELIVER && ledger) recordDelivery(ledger, o.config, job, { result });
      return result;
    } catch (err) {
      o.log.warn({ queue: name, job: job.id, attempt: job.attemptsMade + 1, err: (err as Error).message }, 'job failed');
      throw err;
    }
  };
  const intakeWorker = new Worker(QUEUE_INTAKE, guard('intake', (job) => processIntake(job, ctx)), { connection: createRedis(o.redisUrl, 'worker'), prefix: cfg.redisPrefix, concurrency, settings, lockDuration: cfg.worker.lockDurationMs, stalledInterval: cfg.worker.stalledIntervalMs, maxStalledCount: MAX_STALLED });
  const deliverWorker = new Worker(QUEUE_DELIVER, guard('deliver', (job) => processDeliver(job, ctx)), { connection: createRedis(o.redisUrl, 'worker'), prefix: cfg.redisPrefix, concurrency: deliverConcurrency, settings, lockDuration: cfg.worker.lockDurationMs, stalledInterval: cfg.worker.stalledIntervalMs, maxStalledCount: MAX_STALLED });
  const respondWorker = respondQueue
    ? new Worker(QUEUE_RESPOND, guard('respond', (job) => processRespond(job, ctx)), { connection: createRedis(o.redisUrl, 'worker'), prefix: cfg.redisPrefix, concurrency, settings, lockDuration: cfg.worker.lockDurationMs, stalledInterval: cfg.worker.stalledIntervalMs })
    : undefined;
  const reassignWorker = reassignQueue
    ? new Worker(QUEUE_REASSIGN, guard('reassign', (job) => processReassign(job, ctx)), { connection: createRedis(o.redisUrl, 'worker'), prefix: cfg.redisPrefix, concurrency, settings, lockDuration: cfg.worker.lockDurationMs, stalledInterval: cfg.worker.stalledIntervalMs, maxStalledCount: MAX_STALLED })
    : undefined;
  const workers = [intakeWorker, deliverWorker, ...(respondWorker ? [respondWorker] : []), ...(reassignWorker ? [reassignWorker] : [])];
  for (const w of workers) w.on('error', (err) => o.log.error({ err: err.message }, 'worker error'));
  if (o.metrics) {
    const m = o.metrics;
    for (const w of workers) w.on('failed', (job) => m.jobFailed(w.name, Boolean(job?.finishedOn)));
    m.trackAccounts(() => [...accounts.values()].map((a) => ({ id: a.id, crm: a.account.connector.id, stats: a.stats, staleSlots: a.limiter.staleSlots })));
    m.trackQueues({ connection: conn, prefix: cfg.redisPrefix, names: OPERATED_QUEUES });
  }
  // A delivery that failed for good goes into the ledger with its reason.
  if (ledger) deliverWorker.on('failed', (job, err) => job?.finishedOn && recordDelivery(ledger, o.config, job, { failed: err.message }));
  // A delivery that failed for good (finishedOn is set only then, not on a retry) is worth a mail to the admin.
  deliverWorker.on('failed', (job, err) => {
    if (!job?.finishedOn || !mailer) return;
    const d = job.data as { sourceId?: unknown; accountId?: unknown };
    void mailer.alert({
      kind: `deliver-failed:${String(d.accountId)}:${err.message.slice(0, 80)}`,
      subject: `a delivery to CRM account "${String(d.accountId)}" failed`,
      text: `Job ${job.id} (source ${String(d.sourceId)}) failed after ${job.attemptsMade} attempt(s):\n${err.message}\n\nSee \`npx leadgate jobs failed\`; after fixing the cause, \`npx leadgate replay ${job.id}\`.`,
    });
  });
  // Telephony: one process at a time (Redis lease) closes calls whose final event never came.
  const callSweeper = startCallSweeper(ctx);
  const pollers: PollRunner | undefined = o.pollers === false ? undefined : startPollRunner({ config: o.config, redisUrl: o.redisUrl, log: o.log, keys, env, ...(mailer ? { mailer } : {}) });
  return {
    ctx,
    async close() {
      await pollers?.close();
      await callSweeper.stop();
      await Promise.allSettled(workers.map((w) => w.close()));
      await deliverQueue.close().catch(() => undefined);
      await respondQueue?.close().catch(() => undefined);
      await reassignQueue?.close().catch(() => undefined);
      mailer?.close();
      await ledger?.close();
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

/** A finished delivery job (in the CRM, skipped, or failed for good) into the lead ledger. */
function recordDelivery(ledger: LedgerRecorder, config: RuntimeConfig, job: Job, r: { result: unknown } | { failed: string }): void {
  const d = DeliverJobSchema.safeParse(job.data);
  if (!d.success) return;
  const channel = config.sources.get(d.data.sourceId)?.connector.id;
  if ('failed' in r) ledger.failed({ job: d.data, channel, reason: r.failed });
  else ledger.delivered({ job: d.data, channel, result: r.result });
}

/** Delivery latency for metrics: from the gateway's receive time to now, for outcomes that reached the CRM. */
function observeDelivered(m: Metrics, job: Job, result: unknown): void {
  const d = DeliverJobSchema.safeParse(job.data);
  if (!d.success || isSkipped(result)) return;
  m.observeDelivery({ accountId: d.data.accountId, kind: d.data.outcome.kind, receivedAt: d.data.receivedAt });
}
