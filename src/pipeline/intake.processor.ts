import { UnrecoverableError, type Job } from 'bullmq';
import { InputError } from '../sdk/errors.ts';
import { parseWith } from '../sdk/decode.ts';
import { OutcomeSchema, type Outcome } from '../sdk/lead.ts';
import type { ResolvedSource } from '../config/load.ts';
import type { RuntimeConfig } from '../config/load.ts';
import { fromStoredRaw, StoredEventSchema, type DeliverJob, type StoredEvent } from './queues.ts';
import type { WorkerContext } from './context.ts';
import { enqueueRespond } from './respond.ts';
import { markSeen } from './enqueue.ts';
import { fileLink } from '../infra/file-links.ts';

/** Pure part of intake: stored raw event → validated outcomes. Shared with `leadgate normalise`. */
export async function normaliseStored(ev: StoredEvent, src: ResolvedSource, config: Pick<RuntimeConfig, 'defaultRegion'>): Promise<Outcome[]> {
  const raw = fromStoredRaw(ev.raw);
  const decoded = await src.connector.decode(raw);
  const payload = parseWith(src.connector.payload, decoded);
  const outcomes = src.connector.normalise(payload, { source: src.ref, settings: src.settings, receivedAt: raw.receivedAt, defaultRegion: config.defaultRegion, raw });
  return outcomes.map((o, i) => parseWith(OutcomeSchema, o, `outcome[${i}]`));
}

/**
 * Normalises a stored event in the worker (so a fixed normaliser can replay it) and fans its outcomes out
 * to the deliver queue, one job per outcome with a stable id: a rerun adds nothing twice.
 */
export async function processIntake(job: Job, ctx: WorkerContext): Promise<{ outcomes: number; ignored: number }> {
  const parsed = StoredEventSchema.safeParse(job.data);
  if (!parsed.success) throw new UnrecoverableError(`stored event is malformed: ${parsed.error.issues[0]?.message}`);
  const ev = parsed.data;
  // From now on this marker, not the job, answers the gateway's duplicate check (the job may be removed after 24 h).
  await markSeen(ctx.redis, ctx.keys, ev, ctx.idempotencyTtlSec);
  const src = ctx.config.sources.get(ev.sourceId);
  if (!src) throw new UnrecoverableError(`source "${ev.sourceId}" is no longer configured; add it back and replay this job`);
  let outcomes: Outcome[];
  try {
    outcomes = withFileLinks(await normaliseStored(ev, src, ctx.config), src, ctx.config.raw.gateway.publicUrl);
  } catch (err) {
    if (err instanceof InputError) {
      ctx.ledger?.rejected({ ev, channel: src.connector.id, reason: err.message });
      throw new UnrecoverableError(`cannot normalise: ${err.message}`);
    }
    throw err;
  }
  // Recorded before the fan-out: a delivery finishing first is merged into the same rows (src/ledger/repository.ts).
  ctx.ledger?.intake({ ev, channel: src.connector.id, outcomes, accountId: src.crmAccountId });
  const log = ctx.log.child({ source: ev.sourceId, event: ev.eventHash, job: job.id });
  let ignored = 0;
  for (const [i, outcome] of outcomes.entries()) {
    if (outcome.kind === 'ignored') {
      ignored++;
      log.info({ reason: outcome.reason.code, detail: outcome.reason.detail }, 'ignored');
      await ctx.redis.hincrby(ctx.keys.counter('ignored'), `${ev.sourceId}:${outcome.reason.code}`, 1);
      ctx.onDelivered?.({ deliveryKey: `${ev.sourceId}.${ev.eventHash}.${i}`, kind: 'ignored', reason: outcome.reason.code });
      continue;
    }
    if (!src.crmAccountId) {
      log.info({ kind: outcome.kind }, 'no CRM account configured for this source: outcome logged only');
      ctx.onDelivered?.({ deliveryKey: `${ev.sourceId}.${ev.eventHash}.${i}`, kind: outcome.kind, receipt: outcome });
      continue;
    }
    const data: DeliverJob = {
      accountId: src.crmAccountId,
      sourceId: ev.sourceId,
      deliveryKey: `${ev.sourceId}.${ev.eventHash}.${i}`,
      receivedAt: ev.raw.receivedAt,
      outcome,
    };
    await ctx.deliverQueue.add(outcome.kind, data, { jobId: data.deliveryKey });
  }
  // Only now, with the outcomes safe: the reply to the sender (its own queue, retries and once-marker).
  if (src.connector.respond) await enqueueRespond(ctx, ev, outcomes);
  return { outcomes: outcomes.length, ignored };
}

/**
 * Attachments a connector only references (`ref`, e.g. a Telegram file_id) get a signed hub link when the gateway
 * has a public URL: the vendor's own URL carries a secret (the bot token) and must never reach the CRM.
 * Deterministic, so a replay writes the same link.
 */
export function withFileLinks(outcomes: Outcome[], src: ResolvedSource, publicUrl: string | undefined): Outcome[] {
  const secret = src.secret;
  if (!publicUrl || !secret || !src.connector.files) return outcomes;
  const link = <A extends { url?: string | undefined; ref?: string | undefined }>(a: A): A =>
    a.url || !a.ref ? a : { ...a, url: fileLink({ publicUrl, channel: src.connector.id, sourceId: src.config.id, ref: a.ref, secret }) };
  return outcomes.map((o) => {
    if (o.kind === 'lead') return { ...o, lead: { ...o.lead, attachments: o.lead.attachments.map(link) } };
    if (o.kind === 'message') return { ...o, message: { ...o.message, attachments: o.message.attachments.map(link) } };
    return o;
  });
}
