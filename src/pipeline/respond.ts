/**
 * Replies to the sender after an event is normalised (a connector's optional `respond`, e.g. the Telegram bot's
 * greeting with the phone button). The intake job enqueues one `respond` job per stored event, after its outcomes
 * are on the deliver queue; this queue retries on its own, so a failing reply never re-runs intake (which would
 * count ignored outcomes twice) and never delays the lead.
 *
 * At most once per event: a Redis marker per `<sourceId>.<eventHash>` is claimed before the call (`running`, a
 * short lease, so a stalled job picked up twice does not reply twice) and set to `done` after it. A crash between
 * the vendor's answer and the marker is the one window where a retry may reply again.
 */
import { randomUUID } from 'node:crypto';
import { UnrecoverableError, type Job, type JobsOptions } from 'bullmq';
import { z } from 'zod';
import { RespondError, type ChannelConnector, type Outcome } from '../sdk/index.ts';
import { parseWith } from '../sdk/decode.ts';
import { OutcomeSchema } from '../sdk/lead.ts';
import { fromStoredRaw, StoredEventSchema, type StoredEvent } from './queues.ts';
import type { WorkerContext } from './context.ts';
import { RetryLaterError } from './deliver.processor.ts';

/** Replies are worth trying for a while (Telegram 429s, short outages), not for a day. @defaultValue 8 */
export const RESPOND_ATTEMPTS = 8;
/** Longest a reply may take before another run may try (telegraf's handler timeout is 30 s). */
const CLAIM_MS = 90_000;

export const RespondJobSchema = z.object({ ev: StoredEventSchema, outcomes: z.array(OutcomeSchema) });
export type RespondJob = z.infer<typeof RespondJobSchema>;

export const respondJobOptions: JobsOptions = {
  attempts: RESPOND_ATTEMPTS,
  backoff: { type: 'leadgate' },
  removeOnComplete: { age: 24 * 3600, count: 10_000 },
  removeOnFail: { age: 7 * 24 * 3600 },
};

export function respondMarkerKey(prefix: string, sourceId: string, eventHash: string): string {
  return `${prefix}:respond:${sourceId}:${eventHash}`;
}

/** Called by the intake processor once the outcomes are enqueued. Idempotent (job id = the event). */
export async function enqueueRespond(ctx: WorkerContext, ev: StoredEvent, outcomes: readonly Outcome[]): Promise<void> {
  if (!ctx.respondQueue) return;
  const data: RespondJob = { ev, outcomes: [...outcomes] };
  await ctx.respondQueue.add('respond', data, { ...respondJobOptions, jobId: `${ev.sourceId}.${ev.eventHash}` });
}

export type RespondResult = 'sent' | 'already-sent' | 'gave-up' | 'no-respond';

export async function processRespond(job: Job, ctx: WorkerContext): Promise<RespondResult> {
  const parsed = RespondJobSchema.safeParse(job.data);
  if (!parsed.success) throw new UnrecoverableError(`respond job is malformed: ${parsed.error.issues[0]?.message}`);
  const { ev, outcomes } = parsed.data;
  const src = ctx.config.sources.get(ev.sourceId);
  if (!src) throw new UnrecoverableError(`source "${ev.sourceId}" is no longer configured`);
  const connector: ChannelConnector<unknown, unknown> = src.connector;
  if (!connector.respond) return 'no-respond';
  const log = ctx.log.child({ source: ev.sourceId, event: ev.eventHash, job: job.id, step: 'respond' });

  const key = respondMarkerKey(ctx.keys.prefix, ev.sourceId, ev.eventHash);
  const token = `running:${randomUUID()}`;
  if ((await ctx.redis.set(key, token, 'PX', CLAIM_MS, 'NX')) !== 'OK') {
    const state = await ctx.redis.get(key);
    if (state === null) throw new RetryLaterError('reply marker changed while claiming it', 0);
    if (state.startsWith('running:')) {
      // Another run is replying right now (a stalled job taken over): look again once it had time to finish.
      throw new RetryLaterError('a reply to this event is in progress elsewhere', CLAIM_MS);
    }
    log.debug({ state }, 'reply already handled');
    return 'already-sent';
  }

  const raw = fromStoredRaw(ev.raw);
  const attempt = job.attemptsMade + 1;
  try {
    const payload = parseWith(connector.payload, await connector.decode(raw));
    await connector.respond(payload, { source: src.ref, settings: src.settings, env: ctx.env, log, outcomes, raw, attempt });
    await ctx.redis.set(key, 'done', 'EX', ctx.idempotencyTtlSec);
    log.info('replied to the sender');
    return 'sent';
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err));
    const permanent = e instanceof RespondError ? e.permanent : e.name === 'InputError';
    const last = attempt >= (job.opts.attempts ?? RESPOND_ATTEMPTS);
    if (permanent || last) {
      await ctx.redis.set(key, permanent ? 'done:refused' : 'done:gave-up', 'EX', ctx.idempotencyTtlSec);
      log.warn({ err: e.message, attempt, permanent }, 'reply to the sender not sent: giving up');
      return 'gave-up';
    }
    // Release our claim only (compare-and-delete), so the retry can try again.
    await ctx.redis.eval(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`, 1, key, token).catch(() => undefined);
    throw new RetryLaterError(`reply to the sender failed: ${e.message}`, e instanceof RespondError ? (e.retryAfterMs ?? 0) : 0);
  }
}
