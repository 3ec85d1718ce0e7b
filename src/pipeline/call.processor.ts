import type { Logger } from 'pino';
import type { CallEvent } from '../sdk/lead.ts';
import { HttpError, type CallRecord, type DeliveryReceipt, type DeliveryTask, type StepJournal } from '../sdk/crm.ts';
import type { RecordingLocation } from '../sdk/channel.ts';
import { mergeCall, isFinal, type MergedCallRecord } from '../domain/call-merge.ts';
import { applyMapping } from '../mapping/apply.ts';
import { dueAt } from '../domain/note-text.ts';
import { maskPhone } from '../domain/phone.ts';
import { withRedisLock } from '../infra/lock.ts';
import { createJournal } from './journal.ts';
import { hashKey, type DeliverJob } from './queues.ts';
import type { WorkerContext } from './context.ts';
import type { AccountRuntime } from './crm-runtime.ts';
import { createRecordings, type Recordings } from './recordings.ts';
import { openCallMember, openCallsKey } from './call-sweeper.ts';
import { scheduleReassign } from './reassign.processor.ts';
import type { AssignInput } from '../assignment/rules.ts';

/**
 * Merges one call event into the call's record (Redis, under a lock) and writes the call to the CRM once it
 * is final, and again when its recording arrives. The journal is keyed by the call, not the event, so
 * repeated or reordered events never add a second note or task.
 *
 * Around the CRM write:
 * - unfinished calls are kept in the sweeper's index (call-sweeper.ts) until their final event;
 * - a recording known only by the provider's handle is checked with the provider first and linked through the
 *   hub (`/recordings/<token>.mp3`, fresh on every play); while the provider is still saving it the call is
 *   written without it and a follow-up job asks again every `telephony.recordings.retryEveryMs`;
 * - a missed inbound call leaves "Перезвонить клиенту" and is remembered by number until the task is due; an
 *   answered outbound call to that number before then notes on the lead that the client was called back and
 *   completes that task (connectors with `completeTask`).
 */
export async function deliverCallEvent(ev: CallEvent, d: DeliverJob, acct: AccountRuntime, ctx: WorkerContext, _eventJournal: StepJournal): Promise<DeliveryReceipt | { skipped: string }> {
  const callKey = `${ev.provider}:${ev.source.sourceId}:${ev.providerCallId}`;
  const callHash = hashKey(callKey);
  const recKey = ctx.keys.call(d.accountId, callHash);
  const record = await withRedisLock(ctx.redis, ctx.keys.lock(`call:${d.accountId}:${callHash}`), async () => {
    const prevRaw = await ctx.redis.get(recKey);
    const prev = prevRaw ? (JSON.parse(prevRaw) as CallRecord) : null;
    const next = mergeCall(prev, ev);
    const member = openCallMember(d.accountId, callHash);
    const tx = ctx.redis.multi().set(recKey, JSON.stringify(next), 'EX', ctx.idempotencyTtlSec);
    // The sweeper's index: score = the latest event's receive time (GT: a late old event never moves it back).
    if (isFinal(next)) tx.zrem(openCallsKey(ctx.keys), member);
    else tx.zadd(openCallsKey(ctx.keys), 'GT', Date.parse(d.receivedAt), member);
    await tx.exec();
    return next;
  });
  if (!isFinal(record)) return { skipped: `call not final yet (${record.state})` };
  const log = ctx.log.child({ account: d.accountId, call: callHash });
  const src = ctx.config.sources.get(d.sourceId);
  const mapping = acct.account.mapping;
  const missedInbound = record.direction === 'inbound' && (record.status === 'missed' || record.status === 'busy' || record.state === 'missed');
  // The ledger counts one missed call per call, on the delivery that found it final (a swept call included).
  ctx.ledger?.callFinal({ job: d, channel: src?.connector.id, missed: missedInbound, clientPhoneE164: record.direction === 'outbound' ? record.toE164 : record.fromE164 });
  const taskCfg = src?.config.task;
  const minutes = taskCfg?.dueInMinutes ?? 15;
  const journal = createJournal(ctx.redis, ctx.keys.journal(`${d.accountId}:call:${callHash}`), ctx.idempotencyTtlSec);
  const facts = await acct.facts();
  const endIso = record.endedAt ?? d.receivedAt;
  const callbackTask = missedInbound ? { text: 'Перезвонить клиенту', dueAt: dueAt(endIso, minutes), ...(taskCfg?.responsibleUserId ? { responsibleUserId: taskCfg.responsibleUserId } : {}) } : null;
  const linked = await linkRecording(record, d, ctx, log);

  const receipt = await withRedisLock(ctx.redis, ctx.keys.lock(`calldeliver:${d.accountId}:${callHash}`), () =>
    acct.account.connector.deliver(
      acct.io,
      acct.account.settings,
      {
        kind: 'call',
        key: callKey,
        call: linked.record,
        callbackTask,
        phoneFormat: mapping.phoneFormat,
        fields: applyMapping(mapping, callAsLead(linked.record), ctx.env),
        sourceName: src?.ref.name ?? 'Звонок',
        ...callAssignmentHook(d, callHash, linked.record, ctx),
      },
      journal,
      facts,
    ),
    { ttlMs: 120_000, waitMs: 30_000 },
  ).then((r) => afterCallAssignment(d, callHash, r, ctx, log));

  if (callbackTask && record.fromE164) await rememberMissedCall(ctx, d.accountId, record.fromE164, { missedCallKey: callKey, dueAt: callbackTask.dueAt, ...pick(receipt) });
  if (record.direction === 'outbound' && record.toE164 && talked(record)) await noteCallBack(ctx, acct, d.accountId, record, log);
  if (linked.retryInMs !== undefined) await scheduleRecordingCheck(ctx, d, callHash, linked.retryInMs);
  return receipt;
}

/** The pick of one call is kept under this key: every event and retry of the call gets the same manager. */
const callPickKey = (d: DeliverJob, callHash: string): string => `${d.accountId}:call:${callHash}`;

/**
 * Assignment rules for a call (crm[].assignment): the connector asks once, after its contact search, who takes the
 * unknown caller's new lead and the call-back task (sticky first: a known contact's manager). The rules see the
 * channel, the source and the called line (`line`, else the inbound call's `to`), at the time the call began.
 */
function callAssignmentHook(d: DeliverJob, callHash: string, r: CallRecord, ctx: WorkerContext): Pick<Extract<DeliveryTask, { kind: 'call' }>, 'assignResponsible'> {
  // The manager who answered (their extension in `crm[].extensions`) owns what the call opens: the client has
  // already spoken to them. The rules decide only for calls nobody of ours answered.
  const answeredBy = talked(r) && r.extension ? Object.entries(ctx.config.crm.get(d.accountId)?.config.extensions ?? {}).find(([, ext]) => ext === r.extension)?.[0] : undefined;
  if (answeredBy) return { assignResponsible: async (found) => found.contactResponsibleId ?? answeredBy };
  const assign = ctx.assignment?.get(d.accountId);
  if (!assign) return {};
  const line = r.line ?? (r.direction === 'outbound' ? undefined : (r.toE164 ?? r.to));
  const input: AssignInput = { channel: r.source.channel, sourceId: r.source.sourceId, line, at: new Date(r.startedAt ?? r.endedAt ?? d.receivedAt) };
  return { assignResponsible: async (found) => (await assign.pickForLead(callPickKey(d, callHash), input, found))?.user };
}

/**
 * After a call delivery whose connector asked the rules: a new lead counts for its manager (least-open) and gets its
 * follow-up check (reassignment) once; a pick that opened no lead (a known contact's call-back task) gives its count
 * back. Later deliveries of the same call (the recording) find the lead recorded and change nothing.
 */
async function afterCallAssignment(d: DeliverJob, callHash: string, receipt: DeliveryReceipt, ctx: WorkerContext, log: Logger): Promise<DeliveryReceipt> {
  const assign = ctx.assignment?.get(d.accountId);
  if (!assign) return receipt;
  const key = callPickKey(d, callHash);
  const pick = await assign.state.saved(key);
  if (!pick) return receipt;
  const known = receipt.leadId ? await assign.state.lead(receipt.leadId) : undefined;
  if (receipt.createdLead && receipt.leadId && !known) {
    await assign.state.recordLead(receipt.leadId, pick.user, receipt.taskId);
    if (receipt.taskId && pick.meta.group) {
      const at = await scheduleReassign(ctx, assign, { accountId: d.accountId, leadId: receipt.leadId, taskId: receipt.taskId, group: pick.meta.group, user: pick.user, history: [], step: 0 }, new Date());
      if (at) log.debug({ lead: receipt.leadId, checkAt: at.toISOString() }, 'call-back check scheduled');
    }
  } else if (!known) {
    await assign.state.release(key, pick.user);
  }
  return { ...receipt, responsibleUserId: pick.user };
}

/** Lets a mapping's `from:` paths (source.name, contact.phone…) apply to an unknown caller's new lead. */
function callAsLead(r: CallRecord): Parameters<typeof applyMapping>[1] {
  const client = r.direction === 'outbound' ? r.toE164 : r.fromE164;
  return {
    // The line the client dialled is the ad that brought them: it travels with the source name.
    source: r.line ? { ...r.source, name: `${r.source.name}, линия ${r.line}` } : r.source,
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

function talked(r: CallRecord): boolean {
  const m = (r as Partial<MergedCallRecord>).merge;
  return r.status === 'answered' || (r.talkSec ?? 0) > 0 || (m?.answered ?? r.answeredAt !== undefined);
}

// ---------------------------------------------------------------------------------------------- recordings

const recordingsByCtx = new WeakMap<WorkerContext, Recordings>();

function recordingsFor(ctx: WorkerContext): Recordings {
  let r = recordingsByCtx.get(ctx);
  if (!r) {
    r = createRecordings({ config: ctx.config, env: ctx.env });
    recordingsByCtx.set(ctx, r);
  }
  return r;
}

/** The record as the CRM should see it now: with a durable link, or without the recording for the moment. */
async function linkRecording(record: CallRecord, d: DeliverJob, ctx: WorkerContext, log: Logger): Promise<{ record: CallRecord; retryInMs?: number }> {
  const rec = record.recording;
  const recordingId = rec?.providerRecordingId;
  // No recording, or a direct link (Sipuni, UIS, generic PBX): written as it is.
  if (!rec || recordingId === undefined) return { record };
  const cfg = ctx.config.raw.telephony.recordings;
  const recordings = recordingsFor(ctx);
  const ref = { recordingId, providerCallId: record.providerCallId };
  const sourceId = record.source.sourceId;
  let loc: RecordingLocation | undefined;
  try {
    loc = await recordings.locate(sourceId, ref);
  } catch (err) {
    // Never the error text: it may quote the request URL with the account's key.
    const status = err instanceof HttpError ? err.status : undefined;
    loc =
      status === 401 || status === 403 || status === 420
        ? { kind: 'gone', reason: `the provider refused our credentials (HTTP ${status}): check the source's API key and secret` }
        : { kind: 'pending', retryAfterMs: cfg.retryEveryMs, reason: `provider API failed (${status !== undefined ? `HTTP ${status}` : (err as Error).name})` };
  }
  if (loc === undefined) return { record: rec.url ? record : withoutRecording(record) };
  if (loc.kind === 'ready') {
    const url = recordings.hubLink(sourceId, ref);
    if (url) return { record: { ...record, state: 'recorded', recording: { ...rec, url } } };
    log.warn({ source: sourceId }, 'recording ready but not linked: provider links expire; set telephony.recordings.publicBaseUrl and signingKeyEnv');
    return { record: withoutRecording(record) };
  }
  const endedMs = Date.parse(record.endedAt ?? d.receivedAt);
  if (loc.kind === 'pending' && Date.now() - endedMs < cfg.giveUpAfterMs) {
    log.info({ source: sourceId, reason: loc.reason, retryInMs: cfg.retryEveryMs }, 'recording not ready yet: the call is written now, the recording later');
    return { record: withoutRecording(record), retryInMs: cfg.retryEveryMs };
  }
  log.warn({ source: sourceId, reason: loc.reason }, 'recording not available: the call stays without it');
  return { record: withoutRecording(record) };
}

function withoutRecording(r: CallRecord): CallRecord {
  const { url: _url, ...rest } = r.recording ?? {};
  const state = r.state === 'recorded' ? (talked(r) ? 'ended' : 'missed') : r.state;
  return { ...r, state, recording: rest };
}

/** One chain of checks per call: job ids `rec.<call>.<n>` collapse the chains several events would start. */
async function scheduleRecordingCheck(ctx: WorkerContext, d: DeliverJob, callHash: string, delayMs: number): Promise<void> {
  const prefix = `rec.${callHash}.`;
  const n = d.deliveryKey.startsWith(prefix) ? Number(d.deliveryKey.slice(prefix.length)) + 1 : 1;
  const deliveryKey = `${prefix}${n}`;
  await ctx.deliverQueue.add('call', { ...d, deliveryKey }, { jobId: deliveryKey, delay: delayMs });
}

// ------------------------------------------------------------------------------------------------ callbacks

interface MissedCall {
  missedCallKey: string;
  dueAt: string;
  leadId?: string;
  contactId?: string;
  taskId?: string;
}

function pick(r: DeliveryReceipt): Pick<MissedCall, 'leadId' | 'contactId' | 'taskId'> {
  return { ...(r.leadId ? { leadId: r.leadId } : {}), ...(r.contactId ? { contactId: r.contactId } : {}), ...(r.taskId ? { taskId: r.taskId } : {}) };
}

const missedKey = (ctx: WorkerContext, accountId: string, phone: string): string => ctx.keys.cache(accountId, `callback:${phone}`);

async function rememberMissedCall(ctx: WorkerContext, accountId: string, phone: string, m: MissedCall): Promise<void> {
  const ttlSec = Math.max(60, Math.ceil((Date.parse(m.dueAt) - Date.now()) / 1000));
  await ctx.redis.set(missedKey(ctx, accountId, phone), JSON.stringify(m), 'EX', ttlSec);
}

/**
 * The client was called back before the callback task was due: a note on the missed call's lead says so and the
 * task is completed (when the connector can). Each has its own journal keyed by the missed call, so a retry, or a
 * second answered call-back before the key is dropped, never writes either twice.
 */
async function noteCallBack(ctx: WorkerContext, acct: AccountRuntime, accountId: string, r: CallRecord, log: Logger): Promise<void> {
  const phone = r.toE164!;
  const key = missedKey(ctx, accountId, phone);
  await withRedisLock(ctx.redis, ctx.keys.lock(`callback:${accountId}:${hashKey(phone)}`), async () => {
    const raw = await ctx.redis.get(key);
    if (!raw) return;
    const m = JSON.parse(raw) as MissedCall;
    const at = r.answeredAt ?? r.startedAt ?? r.endedAt;
    if (at !== undefined && Date.parse(at) > Date.parse(m.dueAt)) return;
    const connector = acct.account.connector;
    const { taskId } = m;
    const completeTask = connector.completeTask?.bind(connector);
    const closes = taskId !== undefined && completeTask !== undefined;
    const talk = r.talkSec !== undefined ? `, разговор ${Math.round(r.talkSec)} с` : '';
    const who = r.employeeName ?? (r.extension ? `доб. ${r.extension}` : undefined);
    const calledBack = `Клиенту перезвонили${at ? ` ${at.replace('T', ' ').slice(0, 16)} UTC` : ''}${who ? ` (${who})` : ''}${talk}`;
    if (m.leadId) {
      const journal = createJournal(ctx.redis, ctx.keys.journal(`${accountId}:callback:${hashKey(m.missedCallKey)}`), ctx.idempotencyTtlSec);
      const noteText = `${calledBack}. ${closes ? 'Задача «Перезвонить клиенту» закрыта.' : 'Задачу «Перезвонить клиенту» можно закрыть.'}`;
      await connector.deliver(
        acct.io,
        acct.account.settings,
        { kind: 'message', key: `${m.missedCallKey}:called-back`, contact: { phonesE164: [phone], phonesUnparsed: [], emails: [] }, threadLeadId: m.leadId, noteText, attachments: [] },
        journal,
        await acct.facts(),
      );
    } else log.info({ phone: maskPhone(phone) }, 'called back, but the missed call sits on no lead: nothing to note');
    if (closes) {
      const journal = createJournal(ctx.redis, ctx.keys.journal(`${accountId}:callback-task:${hashKey(m.missedCallKey)}`), ctx.idempotencyTtlSec);
      await completeTask(acct.io, acct.account.settings, { taskId, resultText: calledBack }, journal);
    }
    await ctx.redis.del(key);
  }, { ttlMs: 120_000, waitMs: 30_000 });
}
