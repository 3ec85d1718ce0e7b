import type { CallEvent } from '../sdk/lead.ts';
import type { CallRecord, DeliveryReceipt, StepJournal } from '../sdk/crm.ts';
import { mergeCall, isFinal } from '../domain/call-merge.ts';
import { applyMapping } from '../mapping/apply.ts';
import { dueAt } from '../domain/note-text.ts';
import { withRedisLock } from '../infra/lock.ts';
import { createJournal } from './journal.ts';
import { hashKey, type DeliverJob } from './queues.ts';
import type { WorkerContext } from './context.ts';
import type { AccountRuntime } from './crm-runtime.ts';

/**
 * Merges one call event into the call's record (Redis, under a lock) and writes the call to the CRM once it
 * is final, and again when its recording arrives. The journal is keyed by the call, not the event, so
 * repeated or reordered events never add a second note or task.
 */
export async function deliverCallEvent(ev: CallEvent, d: DeliverJob, acct: AccountRuntime, ctx: WorkerContext, _eventJournal: StepJournal): Promise<DeliveryReceipt | { skipped: string }> {
  const callKey = `${ev.provider}:${ev.source.sourceId}:${ev.providerCallId}`;
  const recKey = ctx.keys.call(d.accountId, hashKey(callKey));
  const record = await withRedisLock(ctx.redis, ctx.keys.lock(`call:${d.accountId}:${hashKey(callKey)}`), async () => {
    const prevRaw = await ctx.redis.get(recKey);
    const prev = prevRaw ? (JSON.parse(prevRaw) as CallRecord) : null;
    const next = mergeCall(prev, ev);
    await ctx.redis.set(recKey, JSON.stringify(next), 'EX', ctx.idempotencyTtlSec);
    return next;
  });
  if (!isFinal(record)) return { skipped: `call not final yet (${record.state})` };
  const src = ctx.config.sources.get(d.sourceId);
  const mapping = acct.account.mapping;
  const missedInbound = record.direction === 'inbound' && (record.status === 'missed' || record.status === 'busy' || record.state === 'missed');
  const taskCfg = src?.config.task;
  const minutes = taskCfg?.dueInMinutes ?? 15;
  const journal = createJournal(ctx.redis, ctx.keys.journal(`${d.accountId}:call:${hashKey(callKey)}`), ctx.idempotencyTtlSec);
  const facts = await acct.facts();
  const endIso = record.endedAt ?? d.receivedAt;
  return withRedisLock(ctx.redis, ctx.keys.lock(`calldeliver:${d.accountId}:${hashKey(callKey)}`), () =>
    acct.account.connector.deliver(
      acct.io,
      acct.account.settings,
      {
        kind: 'call',
        key: callKey,
        call: record,
        callbackTask: missedInbound ? { text: 'Перезвонить клиенту', dueAt: dueAt(endIso, minutes), ...(taskCfg?.responsibleUserId ? { responsibleUserId: taskCfg.responsibleUserId } : {}) } : null,
        phoneFormat: mapping.phoneFormat,
        fields: applyMapping(mapping, callAsLead(record), ctx.env),
        sourceName: src?.ref.name ?? 'Звонок',
      },
      journal,
      facts,
    ),
    { ttlMs: 120_000, waitMs: 30_000 },
  );
}

/** Lets a mapping's `from:` paths (source.name, contact.phone…) apply to an unknown caller's new lead. */
function callAsLead(r: CallRecord): Parameters<typeof applyMapping>[1] {
  const client = r.direction === 'outbound' ? r.toE164 : r.fromE164;
  return {
    source: r.source,
    externalId: r.providerCallId,
    contact: { phonesE164: client ? [client] : [], phonesUnparsed: [], emails: [] },
    title: 'Звонок',
    utm: {},
    tracking: {},
    fields: r.line ? [{ key: 'line', label: 'Линия', value: r.line }] : [],
    attachments: [],
    occurredAt: r.startedAt ?? r.endedAt ?? new Date(0).toISOString(),
  };
}
