import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import { CrmError, type CrmFailure } from '../sdk/errors.ts';
import type { Contact, FollowUp, Lead } from '../sdk/lead.ts';
import type { DeliveryReceipt, DeliveryTask } from '../sdk/crm.ts';
import { applyMapping } from '../mapping/apply.ts';
import { dueAt, renderFollowUpNote, renderLeadNote } from '../domain/note-text.ts';
import { withRedisLock, LockTimeoutError } from '../infra/lock.ts';
import { LimiterTimeoutError } from '../infra/limiter.ts';
import { createJournal } from './journal.ts';
import { DeliverJobSchema, hashKey, type DeliverJob } from './queues.ts';
import type { WorkerContext } from './context.ts';
import type { AccountRuntime } from './crm-runtime.ts';
import { deliverCallEvent } from './call.processor.ts';
import { scheduleReassign } from './reassign.processor.ts';
import type { AssignInput } from '../assignment/rules.ts';

/** Delivers one outcome into its CRM account. Errors are classified: retry later, or fail with a readable reason. */
export async function processDeliver(job: Job, ctx: WorkerContext): Promise<DeliveryReceipt | { skipped: string }> {
  const parsed = DeliverJobSchema.safeParse(job.data);
  if (!parsed.success) throw new UnrecoverableError(`delivery job is malformed: ${parsed.error.issues[0]?.message}`);
  const d = parsed.data;
  const acct = ctx.accounts.get(d.accountId);
  if (!acct) throw new UnrecoverableError(`CRM account "${d.accountId}" is no longer configured; add it back and replay this job`);
  const log = ctx.log.child({ job: job.id, source: d.sourceId, account: d.accountId, kind: d.outcome.kind });
  try {
    const delivered = await deliverOutcome(d, acct, ctx);
    const receipt = 'skipped' in delivered ? delivered : await afterAssignment(d, delivered, ctx, log);
    log.info({ receipt }, 'delivered');
    if ('createdLead' in receipt && receipt.createdLead) await acknowledge(d, receipt, ctx);
    ctx.onDelivered?.({ deliveryKey: d.deliveryKey, kind: d.outcome.kind, accountId: d.accountId, receipt });
    return receipt;
  } catch (err) {
    throw toJobError(err, acct, log, job);
  }
}

async function deliverOutcome(d: DeliverJob, acct: AccountRuntime, ctx: WorkerContext): Promise<DeliveryReceipt | { skipped: string }> {
  const facts = await acct.facts();
  const src = ctx.config.sources.get(d.sourceId);
  const journal = createJournal(ctx.redis, ctx.keys.journal(`${d.accountId}:${d.deliveryKey}`), ctx.idempotencyTtlSec);
  const o = d.outcome;
  const mapping = acct.account.mapping;
  const taskCfg = src?.config.task;
  const leadTask = (lead: Lead): DeliveryTask => ({
    kind: 'lead',
    key: d.deliveryKey,
    lead,
    repeatPolicy: src?.config.repeatPolicy ?? 'note-on-open-lead',
    placement: src?.config.pipeline ? { kind: 'pipeline', pipeline: src.config.pipeline } : { kind: 'incoming' },
    fields: applyMapping(mapping, lead, ctx.env),
    phoneFormat: mapping.phoneFormat,
    noteText: renderLeadNote(lead, mapping.phoneFormat),
    task: taskCfg && taskCfg.enabled === false ? null : { text: taskCfg?.text ?? 'Связаться с клиентом', dueAt: dueAt(d.receivedAt, taskCfg?.dueInMinutes ?? 15), ...(taskCfg?.responsibleUserId ? { responsibleUserId: taskCfg.responsibleUserId } : {}) },
    ...assignmentHook(d, lead, ctx),
  });
  const deliver = (task: DeliveryTask): Promise<DeliveryReceipt> => acct.account.connector.deliver(acct.io, acct.account.settings, task, journal, facts);

  switch (o.kind) {
    case 'ignored':
      return { skipped: o.reason.code };
    case 'lead': {
      const lead = await withAttribution(o.lead, ctx);
      return withContactLock(ctx, d.accountId, lead.contact, async () => {
        if (!lead.threadKey) return deliver(leadTask(lead));
        return withThread(ctx, d.accountId, lead.threadKey, async (threadLeadId) => {
          const task = leadTask(lead);
          return deliver(threadLeadId && task.kind === 'lead' ? { ...task, threadLeadId } : task);
        });
      });
    }
    case 'message': {
      const m = o.message;
      return withContactLock(ctx, d.accountId, m.contact, () =>
        withThread(
          ctx,
          d.accountId,
          m.threadKey,
          async (threadLeadId) => {
            if (threadLeadId) {
              // A phone/e-mail shared later in the conversation (Telegram contact button, a mail signature) joins the contact.
              return deliver({ kind: 'message', key: d.deliveryKey, contact: m.contact, threadLeadId, noteText: renderFollowUpNote(m), attachments: m.attachments, ...(m.sharedOwnDetails ? { addToContact: { phoneFormat: mapping.phoneFormat } } : {}) });
            }
            return deliver(leadTask(await withAttribution(leadFromFollowUp(m), ctx)));
          },
          m.relatedThreadKeys,
        ),
      );
    }
    case 'call':
      return deliverCallEvent(o.call, d, acct, ctx, journal);
  }
}

/** The pick of one delivery is kept under this key (per account: user ids are the account's). */
const pickKeyOf = (d: DeliverJob): string => `${d.accountId}:${d.deliveryKey}`;

/**
 * Assignment rules (crm[].assignment): the connector asks once, after its contact search, who takes a NEW lead.
 * The pick is journaled in Redis under the delivery key, so a retry gets the same manager and never takes a second
 * round-robin slot. The rules see the inquiry's receive time, so a retry after hours decides as the first attempt did.
 */
function assignmentHook(d: DeliverJob, lead: Lead, ctx: WorkerContext): Pick<Extract<DeliveryTask, { kind: 'lead' }>, 'assignResponsible'> {
  const assign = ctx.assignment?.get(d.accountId);
  if (!assign) return {};
  const input: AssignInput = { channel: lead.source.channel, sourceId: lead.source.sourceId, form: lead.formName, utm: lead.utm, at: new Date(d.receivedAt) };
  return { assignResponsible: async (found) => (await assign.pickForLead(pickKeyOf(d), input, found))?.user };
}

/**
 * After a delivery with assignment rules: a new lead counts for its manager (least-open) and gets its follow-up
 * check (reassignment); a pick that opened no lead gives its count back. The receipt gains `responsibleUserId`.
 */
async function afterAssignment(d: DeliverJob, receipt: DeliveryReceipt, ctx: WorkerContext, log: WorkerContext['log']): Promise<DeliveryReceipt> {
  const assign = ctx.assignment?.get(d.accountId);
  if (!assign || (d.outcome.kind !== 'lead' && d.outcome.kind !== 'message')) return receipt;
  const pick = await assign.state.saved(pickKeyOf(d));
  if (!pick) return receipt;
  if (!receipt.createdLead || !receipt.leadId) {
    await assign.state.release(pickKeyOf(d), pick.user);
    return receipt;
  }
  await assign.state.recordLead(receipt.leadId, pick.user, receipt.taskId);
  if (receipt.taskId && pick.meta.group) {
    const at = await scheduleReassign(ctx, assign, { accountId: d.accountId, leadId: receipt.leadId, taskId: receipt.taskId, group: pick.meta.group, user: pick.user, history: [], step: 0 }, new Date());
    if (at) log.debug({ lead: receipt.leadId, checkAt: at.toISOString() }, 'follow-up check scheduled');
  }
  return { ...receipt, responsibleUserId: pick.user };
}

/** A conversation's first message opens a lead; the thread then points at it. */
export function leadFromFollowUp(m: FollowUp): Lead {
  return {
    source: m.source,
    externalId: m.externalId,
    threadKey: m.threadKey,
    contact: m.contact,
    title: m.fallbackTitle,
    message: m.text,
    utm: {},
    tracking: {},
    fields: [],
    attachments: m.attachments,
    occurredAt: m.occurredAt,
  };
}

/** Telegram deep links carry `attribution_code`; the UTM set it stands for was stored by `leadgate telegram link`. */
async function withAttribution(lead: Lead, ctx: WorkerContext): Promise<Lead> {
  const code = lead.fields.find((f) => f.key === 'attribution_code')?.value;
  if (!code) return lead;
  const stored = await ctx.redis.get(ctx.keys.attribution(code));
  if (!stored) return lead;
  const a = JSON.parse(stored) as { utm?: Lead['utm']; tracking?: Lead['tracking'] };
  return { ...lead, utm: { ...a.utm, ...lead.utm }, tracking: { ...a.tracking, ...lead.tracking } };
}

/**
 * One delivery at a time per contact per account: two inquiries from a new number arriving together must
 * not both decide "no contact yet" and create two.
 */
async function withContactLock<T>(ctx: WorkerContext, accountId: string, c: Contact, fn: () => Promise<T>): Promise<T> {
  const id = c.phonesE164[0] ?? c.emails[0] ?? (c.messenger ? `${c.messenger.kind}:${c.messenger.userId}` : undefined);
  if (!id) return fn();
  return withRedisLock(ctx.redis, ctx.keys.lock(`contact:${accountId}:${hashKey(id)}`), fn, { ttlMs: 120_000, waitMs: 20_000 });
}

/** How long a conversation key keeps pointing at its lead. */
const THREAD_TTL_SEC = 180 * 24 * 3600;

/**
 * Serialises a conversation and binds it to the lead the first message opened. The lead is looked up under
 * `threadKey`, then under each related key (an e-mail reply whose References root we never saw may still cite a
 * mail of the thread); the lead found or opened is then bound to all of them, so later mail citing any id hits.
 * A related key already bound to another lead keeps it.
 */
async function withThread(ctx: WorkerContext, accountId: string, threadKey: string, fn: (leadId: string | undefined) => Promise<DeliveryReceipt>, relatedKeys: readonly string[] = []): Promise<DeliveryReceipt> {
  const key = ctx.keys.thread(accountId, hashKey(threadKey));
  return withRedisLock(ctx.redis, ctx.keys.lock(`thread:${accountId}:${hashKey(threadKey)}`), async () => {
    const bound = (await ctx.redis.get(key)) ?? undefined;
    let leadId = bound;
    for (const k of relatedKeys) {
      if (leadId) break;
      leadId = (await ctx.redis.get(ctx.keys.thread(accountId, hashKey(k)))) ?? undefined;
    }
    const receipt = await fn(leadId);
    if (receipt.leadId) {
      if (receipt.leadId !== bound) await ctx.redis.set(key, receipt.leadId, 'EX', THREAD_TTL_SEC);
      for (const k of relatedKeys) await ctx.redis.set(ctx.keys.thread(accountId, hashKey(k)), receipt.leadId, 'EX', THREAD_TTL_SEC, 'NX');
    }
    return receipt;
  }, { ttlMs: 120_000, waitMs: 20_000 });
}

/**
 * The optional acknowledgement to an e-mail sender once their new lead exists (mail.autoAck). Only for e-mail
 * sources (robots never reach here: the normaliser ignores them) and only when a lead was opened, not when the
 * mail became a note. Never throws: the lead is delivered whatever SMTP does.
 */
async function acknowledge(d: DeliverJob, receipt: DeliveryReceipt, ctx: WorkerContext): Promise<void> {
  const src = ctx.config.sources.get(d.sourceId);
  if (!ctx.mailer?.autoAckEnabled || src?.connector.kind !== 'email' || !receipt.leadId) return;
  const o = d.outcome;
  const lead = o.kind === 'lead' ? o.lead : o.kind === 'message' ? leadFromFollowUp(o.message) : undefined;
  const to = lead?.contact.emails[0];
  if (!lead || !to) return;
  const r = await ctx.mailer.autoAck({
    key: `${d.accountId}:${d.deliveryKey}`,
    to,
    leadNumber: receipt.leadId,
    subject: lead.title,
    ...(/^<[^<>\s]+>$/.test(lead.externalId) ? { inReplyTo: lead.externalId } : {}),
  });
  ctx.log.debug({ source: d.sourceId, lead: receipt.leadId, ...r }, 'auto-acknowledgement');
}

/** Maps a failure to what BullMQ should do with the job. Never throws anything that could crash the worker. */
export function toJobError(err: unknown, acct: AccountRuntime, log: WorkerContext['log'], job: Job): Error {
  if (err instanceof LockTimeoutError || err instanceof LimiterTimeoutError) return err; // plain retry with backoff
  if (err instanceof DelayedError || err instanceof UnrecoverableError) return err;
  const failure: CrmFailure = err instanceof CrmError ? err.failure : err && typeof err === 'object' && 'failure' in err ? (err as CrmError).failure : acct.account.connector.classify(err);
  if (failure.kind === 'retry') {
    if (failure.pauseAccount) {
      void acct.limiter.pause(failure.afterMs).catch(() => undefined);
      log.error({ afterMs: failure.afterMs, cause: failure.cause }, 'CRM account paused: every worker waits before calling it again');
    } else {
      log.warn({ afterMs: failure.afterMs, cause: failure.cause, attempt: job.attemptsMade + 1 }, 'CRM temporarily unavailable: will retry');
    }
    const e = new RetryLaterError(failure.cause, failure.afterMs);
    return e;
  }
  const reason = failure.kind === 'config' ? `CRM configuration problem: ${failure.cause}. Fix: ${failure.fix}` : `CRM rejected this lead: ${failure.cause}`;
  log.error({ reason }, 'delivery failed: moved to the failed set (see `leadgate jobs failed`)');
  return new UnrecoverableError(reason);
}

/** A retryable failure carrying the vendor's wait hint for the backoff strategy. */
export class RetryLaterError extends Error {
  constructor(message: string, readonly afterMs: number) {
    super(message);
    this.name = 'RetryLaterError';
  }
}
