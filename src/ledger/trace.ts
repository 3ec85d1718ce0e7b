/**
 * `leadgate trace`: one inquiry's path from the raw event to the CRM card, read from the ledger (and, while it is
 * still there, the delivery's step journal in Redis). Finding is I/O; formatting is pure.
 */
import type { CountryCode } from '../domain/phone.ts';
import { formatDuration } from '../reports/channels.ts';
import type { LedgerStore } from './open.ts';
import { traceQuery, type TraceQuery } from './privacy.ts';
import type { StoredOutcome } from './repository.ts';

export interface TracedEvent {
  eventKey: string | null;
  event: Record<string, unknown> | undefined;
  outcomes: StoredOutcome[];
}

export interface TraceResult {
  query: TraceQuery;
  events: TracedEvent[];
}

/** One step of a delivery's journal: when it began, whether its result is saved, the ids it returned. */
export interface JournalStep {
  name: string;
  startedAt?: number;
  done: boolean;
  ids: Record<string, string>;
}

export async function findTrace(store: LedgerStore, input: string, region: CountryCode, limit = 10): Promise<TraceResult> {
  const query = traceQuery(store.hashKey, input, region);
  let keys: (string | null)[] = [];
  const loose = new Map<string, StoredOutcome>();
  if (query.kind === 'id') {
    keys = await store.repo.eventKeysById(query.id);
    if (!keys.length) {
      const o = await store.repo.outcomeByKey(query.id);
      if (o) loose.set(o.delivery_key, o);
    }
  } else {
    const found = await store.repo.outcomesByContact(query.kind === 'phone' ? { phoneHash: query.hash } : { emailHash: query.hash }, limit * 4);
    for (const o of found) {
      const k = (o.event_key as string | null) ?? null;
      if (k === null) loose.set(o.delivery_key, o);
      else if (!keys.includes(k)) keys.push(k);
    }
  }
  keys = keys.slice(0, limit);
  const eventRows = await store.repo.eventsByKey(keys.filter((k): k is string => k !== null));
  const outcomes = await store.repo.outcomesByEvent(keys.filter((k): k is string => k !== null));
  const events: TracedEvent[] = keys.map((k) => ({ eventKey: k, event: eventRows.find((e) => e.event_key === k), outcomes: outcomes.filter((o) => o.event_key === k) }));
  for (const o of loose.values()) events.push({ eventKey: null, event: undefined, outcomes: [o] });
  const at = (e: TracedEvent) => Number(e.event?.received_at ?? e.outcomes[0]?.received_at ?? 0);
  events.sort((a, b) => at(b) - at(a));
  return { query, events: events.slice(0, limit) };
}

/** The Redis journal key of an outcome's delivery (src/pipeline/deliver.processor.ts, call.processor.ts). */
export function journalIdOf(o: StoredOutcome): string | undefined {
  if (!o.account_id) return undefined;
  if (o.kind === 'call' && o.call_key) return `${String(o.account_id)}:call:${String(o.call_key)}`;
  return `${String(o.account_id)}:${o.delivery_key}`;
}

/** A journal hash (`<step>` → JSON result, `<step>:intent` → ms) as steps in the order they began. */
export function journalSteps(hash: Record<string, string>): JournalStep[] {
  const names = new Set<string>();
  for (const k of Object.keys(hash)) names.add(k.endsWith(':intent') ? k.slice(0, -':intent'.length) : k);
  const steps = [...names].map((name) => {
    const intent = Number(hash[`${name}:intent`]);
    const raw = hash[name];
    return { name, ...(Number.isFinite(intent) && intent > 0 ? { startedAt: intent } : {}), done: raw !== undefined, ids: raw !== undefined ? idsOf(raw) : {} };
  });
  return steps.sort((a, b) => (a.startedAt ?? Infinity) - (b.startedAt ?? Infinity) || a.name.localeCompare(b.name));
}

/** Only the ids of a step's saved result: results may hold a contact's name, the trace never prints it. */
function idsOf(json: string): Record<string, string> {
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch {
    return {};
  }
  const out: Record<string, string> = {};
  if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      if (/id$/i.test(k) && (typeof x === 'number' || (typeof x === 'string' && /^[\w-]{1,40}$/.test(x)))) out[k] = String(x);
    }
  } else if (typeof v === 'number') out.id = String(v);
  return out;
}

const iso = (ms: unknown): string => (ms == null ? '—' : `${new Date(Number(ms)).toISOString().replace('T', ' ').slice(0, 23)} UTC`);
const after = (ms: unknown, from: unknown): string => (ms == null || from == null ? '' : ` (+${formatDuration(Number(ms) - Number(from))})`);

const STATUS_TEXT: Record<string, string> = {
  queued: 'queued for the CRM (not delivered yet)',
  skipped: 'merged into its call (the call was not final yet)',
  logged: 'logged only (the source has no CRM account)',
  ignored: 'ignored',
  failed: 'FAILED (see `leadgate jobs failed`)',
  delivered: 'delivered',
};

/**
 * The operator's view. `journals` holds each outcome's steps when Redis still has them (`null`: gone, expired
 * after the idempotency window; absent: Redis not asked).
 */
export function formatTrace(t: TraceResult, journals: ReadonlyMap<string, JournalStep[] | null> = new Map()): string {
  const what = t.query.kind === 'id' ? `id "${t.query.id}"` : `${t.query.kind} ${t.query.masked}`;
  if (!t.events.length) return `Nothing in the ledger for ${what}.\n`;
  const lines: string[] = [`${t.events.length} inquiry path(s) for ${what}, newest first:`];
  for (const e of t.events) {
    const ev = e.event;
    const first = e.outcomes[0];
    const received = ev?.received_at ?? first?.received_at;
    lines.push('');
    lines.push(`■ ${e.eventKey ?? first?.delivery_key ?? '?'}  ${String(ev?.channel ?? first?.channel ?? '?')} / source ${String(ev?.source_id ?? first?.source_id ?? '?')}${first?.source_name ? ` «${String(first.source_name)}»` : ''}`);
    if (ev?.event_id) lines.push(`  sender's event id    ${String(ev.event_id)}`);
    lines.push(`  received             ${iso(received)}`);
    if (ev?.status === 'rejected') lines.push(`  NOT normalised       ${iso(ev.normalised_at)}${after(ev.normalised_at, received)}: ${String(ev.error ?? '')}`);
    else if (ev) lines.push(`  verified, normalised ${iso(ev.normalised_at)}${after(ev.normalised_at, received)} → ${String(ev.outcome_count ?? e.outcomes.length)} outcome(s)`);
    for (const o of e.outcomes) {
      lines.push(`  #${String(o.outcome_index ?? '-')} ${String(o.kind ?? '?')}: ${STATUS_TEXT[o.status] ?? o.status}${o.reason_code ? ` — ${String(o.reason_code)}${o.reason_detail ? ` (${String(o.reason_detail)})` : ''}` : ''}`);
      const contact = [o.phone_masked, o.email_masked].filter(Boolean).join(', ');
      if (contact) lines.push(`     contact          ${contact}`);
      const utm = [o.utm_source, o.utm_medium, o.utm_campaign].map((x) => (x == null ? '—' : String(x)));
      if (utm.some((x) => x !== '—') || o.form_name) lines.push(`     attribution      utm ${utm.join(' / ')}${o.form_name ? `; form «${String(o.form_name)}»` : ''}`);
      if (o.call_key) lines.push(`     call             ${String(o.call_direction ?? '?')}${o.call_missed === 1 || o.call_missed === '1' ? ', MISSED' : ''}`);
      if (o.account_id && o.kind !== 'ignored') {
        const ids = [
          o.crm_lead_id ? `lead ${String(o.crm_lead_id)}${o.created_lead == null ? '' : Number(o.created_lead) === 1 ? ' (new)' : ' (existing: note added)'}` : '',
          o.crm_contact_id ? `contact ${String(o.crm_contact_id)}` : '',
          o.crm_note_id ? `note ${String(o.crm_note_id)}` : '',
          o.crm_task_id ? `task ${String(o.crm_task_id)}` : '',
        ].filter(Boolean);
        lines.push(`     CRM ${String(o.account_id)}${' '.repeat(Math.max(1, 13 - String(o.account_id).length))}${ids.length ? ids.join(', ') : '(no ids yet)'}`);
        if (o.crm_url) lines.push(`     card             ${String(o.crm_url)}`);
        if (o.responsible_user_id) lines.push(`     responsible      user ${String(o.responsible_user_id)}`);
        if (o.delivered_at != null) lines.push(`     in the CRM       ${iso(o.delivered_at)}${after(o.delivered_at, o.received_at)}`);
        lines.push(`     first contact    ${o.first_contact_at != null ? `${iso(o.first_contact_at)}${after(o.first_contact_at, o.received_at)}` : '— (not recorded)'}`);
        const j = journals.get(o.delivery_key);
        if (j === null) lines.push('     steps            journal no longer in Redis (kept for the idempotency window)');
        else if (j) {
          lines.push('     steps (journal in Redis):');
          for (const s of j) lines.push(`       ${s.done ? '✓' : '…'} ${s.name.padEnd(14)} ${s.startedAt ? iso(s.startedAt) : ''}${Object.keys(s.ids).length ? `  ${Object.entries(s.ids).map(([k, v]) => `${k}=${v}`).join(' ')}` : ''}${s.done ? '' : '  (begun, no result saved: a retry resumes here)'}`);
        }
      }
    }
  }
  return lines.join('\n') + '\n';
}
