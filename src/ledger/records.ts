/**
 * Pure mapping from pipeline facts (a stored event, its outcomes, a delivery receipt) to ledger rows. Every write
 * is a partial row upserted by its key; `undefined` columns are left as they are, so the writes of intake, delivery
 * and call merging may land in any order, and twice, with the same end result (jobs can run twice).
 */
import { maskText } from '../infra/logger.ts';
import type { Outcome } from '../sdk/lead.ts';
import type { StoredEvent } from '../pipeline/queues.ts';
import { hashKey } from '../pipeline/queues.ts';
import { contactKeys } from './privacy.ts';

export type OutcomeStatus = 'queued' | 'skipped' | 'logged' | 'ignored' | 'failed' | 'delivered';

/** A later stage of one delivery outranks an earlier one whatever order the writes arrive in. */
export const STATUS_RANK: Record<OutcomeStatus, number> = { queued: 1, skipped: 2, logged: 3, ignored: 3, failed: 4, delivered: 5 };

export interface EventRow {
  event_key: string;
  source_id: string;
  channel: string;
  event_id: string;
  event_hash: string;
  status: 'normalised' | 'rejected';
  error?: string | undefined;
  outcome_count?: number | undefined;
  received_at: number;
  normalised_at?: number | undefined;
}

export interface OutcomeRow {
  delivery_key: string;
  status: OutcomeStatus;
  event_key?: string;
  outcome_index?: number;
  source_id?: string;
  source_name?: string;
  channel?: string;
  kind?: string;
  reason_code?: string;
  reason_detail?: string;
  account_id?: string;
  form_name?: string;
  utm_source?: string;
  utm_medium?: string;
  utm_campaign?: string;
  phone_hash?: string;
  email_hash?: string;
  phone_masked?: string;
  email_masked?: string;
  call_key?: string;
  call_direction?: string;
  call_missed?: number;
  created_lead?: number;
  crm_lead_id?: string;
  crm_contact_id?: string;
  crm_note_id?: string;
  crm_task_id?: string;
  crm_url?: string;
  responsible_user_id?: string;
  received_at?: number;
  normalised_at?: number;
  delivered_at?: number;
  first_contact_at?: number;
}

export const eventKeyOf = (sourceId: string, eventHash: string): string => `${sourceId}.${eventHash}`;

/** The hash call.processor.ts keys a call by: every event of one call carries the same one. */
export const callKeyOf = (provider: string, sourceId: string, providerCallId: string): string => hashKey(`${provider}:${sourceId}:${providerCallId}`);

const clip = (s: string | undefined, n = 300): string | undefined => (s === undefined ? undefined : s.length > n ? `${s.slice(0, n - 1)}…` : s);

/** What one outcome says about itself, before any delivery: source, attribution, contact keys, ignore reason. */
export function outcomeFacts(o: Outcome, hashKeySecret: string): Omit<OutcomeRow, 'delivery_key' | 'status'> {
  switch (o.kind) {
    case 'ignored':
      return { kind: 'ignored', reason_code: clip(o.reason.code, 120)!, ...(o.reason.detail ? { reason_detail: clip(maskText(o.reason.detail))! } : {}) };
    case 'lead': {
      const l = o.lead;
      return {
        kind: 'lead',
        source_name: l.source.name,
        ...(l.formName ? { form_name: clip(l.formName, 200)! } : {}),
        ...(l.utm.source ? { utm_source: clip(l.utm.source, 200)! } : {}),
        ...(l.utm.medium ? { utm_medium: clip(l.utm.medium, 200)! } : {}),
        ...(l.utm.campaign ? { utm_campaign: clip(l.utm.campaign, 200)! } : {}),
        ...keys(contactKeys(hashKeySecret, l.contact)),
      };
    }
    case 'message':
      return { kind: 'message', source_name: o.message.source.name, ...keys(contactKeys(hashKeySecret, o.message.contact)) };
    case 'call': {
      const c = o.call;
      const client = c.direction === 'outbound' ? c.toE164 : c.fromE164;
      return {
        kind: 'call',
        source_name: c.line ? `${c.source.name}, линия ${c.line}` : c.source.name,
        call_key: callKeyOf(c.provider, c.source.sourceId, c.providerCallId),
        call_direction: c.direction,
        ...keys(contactKeys(hashKeySecret, { phonesE164: client ? [client] : [], emails: [] })),
      };
    }
  }
}

function keys(k: ReturnType<typeof contactKeys>): Partial<OutcomeRow> {
  return {
    ...(k.phoneHash ? { phone_hash: k.phoneHash, phone_masked: k.phoneMasked! } : {}),
    ...(k.emailHash ? { email_hash: k.emailHash, email_masked: k.emailMasked! } : {}),
  };
}

/** The rows intake writes once a stored event is normalised: the event and each outcome, queued or finished. */
export function intakeRows(o: {
  ev: StoredEvent;
  channel: string;
  outcomes: readonly Outcome[];
  /** Whether the source delivers to a CRM account; without one a lead is only logged. */
  accountId: string | undefined;
  normalisedAt: Date;
  hashKeySecret: string;
}): { event: EventRow; outcomes: OutcomeRow[] } {
  const receivedAt = Date.parse(o.ev.raw.receivedAt);
  const eventKey = eventKeyOf(o.ev.sourceId, o.ev.eventHash);
  const normalisedAt = o.normalisedAt.getTime();
  return {
    event: { event_key: eventKey, source_id: o.ev.sourceId, channel: o.channel, event_id: clip(o.ev.eventId, 500)!, event_hash: o.ev.eventHash, status: 'normalised', outcome_count: o.outcomes.length, received_at: receivedAt, normalised_at: normalisedAt },
    outcomes: o.outcomes.map((out, i) => ({
      delivery_key: `${eventKey}.${i}`,
      status: out.kind === 'ignored' ? 'ignored' : o.accountId ? 'queued' : 'logged',
      event_key: eventKey,
      outcome_index: i,
      source_id: o.ev.sourceId,
      channel: o.channel,
      ...(o.accountId && out.kind !== 'ignored' ? { account_id: o.accountId } : {}),
      received_at: receivedAt,
      normalised_at: normalisedAt,
      ...outcomeFacts(out, o.hashKeySecret),
    })),
  };
}

/** An event the worker could not normalise (bad payload): kept with the reason, masked. */
export function rejectedEventRow(ev: StoredEvent, channel: string, reason: string, at: Date): EventRow {
  return {
    event_key: eventKeyOf(ev.sourceId, ev.eventHash),
    source_id: ev.sourceId,
    channel,
    event_id: clip(ev.eventId, 500)!,
    event_hash: ev.eventHash,
    status: 'rejected',
    error: clip(maskText(reason), 500),
    received_at: Date.parse(ev.raw.receivedAt),
    normalised_at: at.getTime(),
  };
}

/** Receipt fields as the CRM connectors return them (src/sdk/crm.ts DeliveryReceipt), read defensively. */
export function receiptFacts(receipt: unknown): Partial<OutcomeRow> {
  if (!receipt || typeof receipt !== 'object') return {};
  const r = receipt as Record<string, unknown>;
  const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : typeof v === 'number' ? String(v) : undefined);
  const out: Partial<OutcomeRow> = {};
  const set = <K extends keyof OutcomeRow>(k: K, v: OutcomeRow[K] | undefined): void => {
    if (v !== undefined) out[k] = v;
  };
  set('crm_lead_id', str(r.leadId));
  set('crm_contact_id', str(r.contactId));
  set('crm_note_id', str(r.noteId));
  set('crm_task_id', str(r.taskId));
  set('crm_url', str(r.url));
  set('responsible_user_id', str(r.responsibleUserId));
  if (typeof r.createdLead === 'boolean') out.created_lead = r.createdLead ? 1 : 0;
  return out;
}
