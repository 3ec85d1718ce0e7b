import type { CallEvent } from '../sdk/lead.ts';
import type { CallRecord } from '../sdk/crm.ts';

/**
 * Merges the CallEvents of one call (same `providerCallId`) into one CallRecord. Pure.
 *
 * The result depends only on the *set* of events merged, never on their arrival order or on how often
 * one repeats: every field group is taken from the event with the highest precedence key (a join in a
 * semilattice), the lifecycle facts only ever turn true, `eventIds` is a sorted set. So a provider that
 * sends in parallel (Mango), repeats (Sipuni event 1) or delivers the recording before the hang-up still
 * yields one record, and the state only moves forward: ringing → answered | missed → ended → recorded.
 *
 * Precedence (telephony.md §10): a final event (`summary`, then a call-level `ended`) beats the call events;
 * among equals the later event time wins, then the higher `seq` (Mango orders by `seq` within a leg), then
 * the external id (only to make ties deterministic).
 *
 * States: `ringing` in progress, nobody talked yet; `answered` in progress after an answer; `missed` over and
 * nobody talked; `ended` over after a conversation; `recorded` over and a recording is available.
 *
 * Leg-level ends: an `ended` event that carries a `providerLegId` ends one leg (a Mango `Disconnected`
 * leg, a Sipuni `event=4`, a UIS "talk finished"); it fills identity fields but neither ends the call nor
 * sets its end time, durations or status. A call ends on `summary` or on an `ended` without a leg id.
 */

export type CallState = CallRecord['state'];

/** Sortable precedence key; compared element by element. JSON-safe so records survive storage. */
type Key = (number | string)[];

const GROUPS = ['direction', 'from', 'to', 'line', 'handler', 'startedAt', 'answeredAt', 'endedAt', 'durationSec', 'talkSec', 'status', 'recordingUrl', 'recordingId'] as const;
type Group = (typeof GROUPS)[number];

/** Book-keeping that makes the merge order-independent; travels with the record. */
export interface MergeMeta {
  /** Key of the event each field group was taken from. A group without a key is empty or derived. */
  keys: Partial<Record<Group, Key>>;
  /** The provider's final event arrived (`summary`, or `ended` without a leg id). */
  final: boolean;
  /** Someone talked: an `answered` event, `status: answered`, an answer time or talk seconds. */
  answered: boolean;
  /** A recording is available (a `recording` event with a handle, or any event with a recording URL). */
  recorded: boolean;
  /**
   * Best-ranked employee name seen per extension (`''` for events without one): the record shows the name
   * of its extension even when the event that set the extension carried no name.
   */
  names: Record<string, [Key, string]>;
}

export type MergedCallRecord = CallRecord & { merge: MergeMeta };

const STATE_RANK: Record<CallState, number> = { ringing: 0, answered: 1, missed: 1, ended: 2, recorded: 3 };

/** ringing 0 < answered = missed 1 < ended 2 < recorded 3. A merged record's rank never decreases. */
export function stateRank(s: CallState): number {
  return STATE_RANK[s];
}

/** The call is over for CRM purposes: write the call note / callback task now. */
export function isFinal(rec: CallRecord): boolean {
  return rec.state === 'missed' || rec.state === 'ended' || rec.state === 'recorded';
}

/**
 * An answered call that ended without a usable recording yet. The worker may fetch it by
 * `rec.recording?.providerRecordingId` (Mango `recording_id`, Zadarma `call_id_with_rec`) or wait for the
 * provider's recording event (Mango saves minutes after hang-up; Zadarma advises ~40 s).
 */
export function needsRecording(rec: CallRecord): boolean {
  return rec.state === 'ended';
}

function isLegEnd(ev: CallEvent): boolean {
  return ev.kind === 'ended' && ev.providerLegId !== undefined;
}

function isFinalEvent(ev: CallEvent): boolean {
  return ev.kind === 'summary' || (ev.kind === 'ended' && ev.providerLegId === undefined);
}

/** Authority of an event for identity fields (from, to, line, direction, who handled it). */
function rank(ev: CallEvent): number {
  switch (ev.kind) {
    case 'summary':
      return 5;
    case 'ended':
      return isLegEnd(ev) ? 2 : 4;
    case 'answered':
      return 3;
    case 'ringing':
      return 2;
    case 'started':
      return 1;
    case 'recording':
      return 0;
  }
}

/** 2 summary, 1 call-level end, 0 anything else: a final event's times beat the call events'. */
function finalClass(ev: CallEvent): number {
  return ev.kind === 'summary' ? 2 : isFinalEvent(ev) ? 1 : 0;
}

const STATUS_PRIORITY: Record<NonNullable<CallEvent['status']>, number> = { answered: 5, busy: 4, cancelled: 3, missed: 2, failed: 1, unknown: 0 };

function ms(iso: string | undefined): number {
  if (iso === undefined) return 0;
  const t = Date.parse(iso);
  return Number.isFinite(t) ? t : 0;
}

function tail(ev: CallEvent): Key {
  return [ms(ev.occurredAt), ev.seq ?? -1, ev.externalId];
}

function compareKeys(a: Key, b: Key): number {
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a[i];
    const y = b[i];
    if (x === y) continue;
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    if (typeof x === 'number' && typeof y === 'number') return x < y ? -1 : 1;
    return String(x) < String(y) ? -1 : 1;
  }
  return 0;
}

/** What one event offers for one group: its key and the fields it would set; undefined = offers nothing. */
type Offer = { key: Key; fields: Partial<CallRecord> } | undefined;

function offer(group: Group, ev: CallEvent): Offer {
  const legEnd = isLegEnd(ev);
  switch (group) {
    case 'direction':
      return ev.direction !== 'unknown' ? { key: [rank(ev), ...tail(ev)], fields: { direction: ev.direction } } : undefined;
    case 'from':
      return ev.from !== undefined || ev.fromE164 !== undefined ? { key: [rank(ev), ...tail(ev)], fields: { from: ev.from, fromE164: ev.fromE164 } } : undefined;
    case 'to':
      return ev.to !== undefined || ev.toE164 !== undefined ? { key: [rank(ev), ...tail(ev)], fields: { to: ev.to, toE164: ev.toE164 } } : undefined;
    case 'line':
      return ev.line !== undefined ? { key: [rank(ev), ...tail(ev)], fields: { line: ev.line } } : undefined;
    case 'handler':
      return ev.extension !== undefined ? { key: [rank(ev), ...tail(ev)], fields: { extension: ev.extension, providerLegId: ev.providerLegId } } : undefined;
    case 'startedAt':
      // The earliest start among the most authoritative events.
      return ev.startedAt !== undefined ? { key: [finalClass(ev), -ms(ev.startedAt), ev.externalId], fields: { startedAt: ev.startedAt } } : undefined;
    case 'answeredAt':
      return ev.answeredAt !== undefined ? { key: [finalClass(ev), -ms(ev.answeredAt), ev.externalId], fields: { answeredAt: ev.answeredAt } } : undefined;
    case 'endedAt':
      return ev.endedAt !== undefined && !legEnd ? { key: [finalClass(ev), ms(ev.endedAt), ev.externalId], fields: { endedAt: ev.endedAt } } : undefined;
    case 'durationSec':
      return ev.durationSec !== undefined && !legEnd ? { key: [finalClass(ev), ...tail(ev)], fields: { durationSec: ev.durationSec } } : undefined;
    case 'talkSec':
      return ev.talkSec !== undefined && !legEnd ? { key: [finalClass(ev), ...tail(ev)], fields: { talkSec: ev.talkSec } } : undefined;
    case 'status':
      // Among equally authoritative finals, "answered" beats "no answer" (a call rung on several extensions).
      return ev.status !== undefined && !legEnd ? { key: [finalClass(ev), STATUS_PRIORITY[ev.status], ...tail(ev)], fields: { status: ev.status } } : undefined;
    case 'recordingUrl':
      return ev.recording?.url !== undefined
        ? { key: [ev.kind === 'recording' ? 1 : 0, ...tail(ev)], fields: { recording: { url: ev.recording.url, expiresAt: ev.recording.expiresAt } } }
        : undefined;
    case 'recordingId':
      return ev.recording?.providerRecordingId !== undefined
        ? { key: [ev.kind === 'recording' ? 1 : 0, ...tail(ev)], fields: { recording: { providerRecordingId: ev.recording.providerRecordingId } } }
        : undefined;
  }
}

/** Current fields of a group in a record (to carry them over unchanged). */
function current(group: Group, r: CallRecord): Partial<CallRecord> {
  switch (group) {
    case 'direction':
      return { direction: r.direction };
    case 'from':
      return { from: r.from, fromE164: r.fromE164 };
    case 'to':
      return { to: r.to, toE164: r.toE164 };
    case 'line':
      return { line: r.line };
    case 'handler':
      return { extension: r.extension, providerLegId: r.providerLegId };
    case 'startedAt':
      return { startedAt: r.startedAt };
    case 'answeredAt':
      return { answeredAt: r.answeredAt };
    case 'endedAt':
      return { endedAt: r.endedAt };
    case 'durationSec':
      return { durationSec: r.durationSec };
    case 'talkSec':
      return { talkSec: r.talkSec };
    case 'status':
      return { status: r.status };
    case 'recordingUrl':
      return { recording: { url: r.recording?.url, expiresAt: r.recording?.expiresAt } };
    case 'recordingId':
      return { recording: { providerRecordingId: r.recording?.providerRecordingId } };
  }
}

function hasValue(fields: Partial<CallRecord>): boolean {
  return Object.values(fields).some((v) => (v !== null && typeof v === 'object' ? hasValue(v as Partial<CallRecord>) : v !== undefined && v !== 'unknown'));
}

/** A record stored without merge book-keeping (built elsewhere): its values rank below any event. */
function metaOf(prev: CallRecord): MergeMeta {
  const m = (prev as Partial<MergedCallRecord>).merge;
  if (m) return { keys: { ...m.keys }, final: m.final, answered: m.answered, recorded: m.recorded, names: { ...m.names } };
  const keys: Partial<Record<Group, Key>> = {};
  for (const g of GROUPS) if (hasValue(current(g, prev))) keys[g] = [-1];
  return {
    keys,
    final: isFinal(prev),
    answered: prev.state === 'answered' || prev.state === 'ended' || prev.state === 'recorded',
    recorded: prev.state === 'recorded',
    names: prev.employeeName !== undefined ? { [prev.extension ?? '']: [[-1], prev.employeeName] } : {},
  };
}

function answeredEvidence(ev: CallEvent): boolean {
  return ev.kind === 'answered' || ev.answeredAt !== undefined || (ev.talkSec ?? 0) > 0 || (ev.status === 'answered' && !isLegEnd(ev));
}

function recordedEvidence(ev: CallEvent): boolean {
  if (ev.recording?.url !== undefined) return true;
  return ev.kind === 'recording' && ev.recording?.providerRecordingId !== undefined;
}

function stateOf(m: MergeMeta): CallState {
  if (m.final) return m.recorded ? 'recorded' : m.answered ? 'ended' : 'missed';
  return m.answered || m.recorded ? 'answered' : 'ringing';
}

function secondsBetween(fromIso: string | undefined, toIso: string | undefined): number | undefined {
  if (fromIso === undefined || toIso === undefined) return undefined;
  const d = Math.round((Date.parse(toIso) - Date.parse(fromIso)) / 1000);
  return Number.isFinite(d) && d >= 0 ? d : undefined;
}

function minIso(a: string, b: string): string {
  const x = ms(a);
  const y = ms(b);
  if (x !== y) return x < y ? a : b;
  return a < b ? a : b;
}

/** Drops undefined properties (and empty nested objects) so equal records compare and serialise equal. */
function compact<T extends object>(o: T): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    if (v === undefined) continue;
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      const inner = compact(v as Record<string, unknown>);
      if (Object.keys(inner).length) out[k] = inner;
      continue;
    }
    out[k] = v;
  }
  return out as T;
}

/**
 * Folds one event into the record of its call. `prev` null starts a record. Idempotent, commutative and
 * associative over events: any order and any repetition of the same events gives the same record.
 * @throws Error when the event belongs to another call (a caller bug, not bad input).
 */
export function mergeCall(prev: CallRecord | null, ev: CallEvent): MergedCallRecord {
  if (prev && (prev.providerCallId !== ev.providerCallId || prev.provider !== ev.provider)) {
    throw new Error(`mergeCall: event ${ev.externalId} of call ${ev.provider}:${ev.providerCallId} merged into record of ${prev.provider}:${prev.providerCallId}`);
  }
  const meta: MergeMeta = prev ? metaOf(prev) : { keys: {}, final: false, answered: false, recorded: false, names: {} };
  const base: CallRecord = prev
    ? { ...prev, recording: prev.recording ? { ...prev.recording } : undefined }
    : { source: ev.source, provider: ev.provider, providerCallId: ev.providerCallId, direction: 'unknown', occurredAt: ev.occurredAt, state: 'ringing', eventIds: [] };
  let rec: CallRecord = base;

  for (const g of GROUPS) {
    const o = offer(g, ev);
    if (!o) continue;
    const have = meta.keys[g];
    if (have && compareKeys(o.key, have) <= 0) continue;
    meta.keys[g] = o.key;
    if (g === 'recordingUrl' || g === 'recordingId') rec = { ...rec, recording: { ...rec.recording, ...o.fields.recording } };
    else rec = { ...rec, ...o.fields };
  }

  if (ev.employeeName !== undefined) {
    const nameKey: Key = [rank(ev), ...tail(ev)];
    const slot = ev.extension ?? '';
    const have = meta.names[slot];
    if (!have || compareKeys(nameKey, have[0]) > 0) meta.names[slot] = [nameKey, ev.employeeName];
  }
  rec.employeeName = meta.names[rec.extension ?? '']?.[1];

  meta.final ||= isFinalEvent(ev);
  meta.answered ||= answeredEvidence(ev);
  meta.recorded ||= recordedEvidence(ev);

  // Derived fields are recomputed from the merged fields every time, so they never depend on order.
  if (!meta.keys.durationSec) rec.durationSec = meta.final ? secondsBetween(rec.startedAt, rec.endedAt) : undefined;
  if (!meta.keys.talkSec) rec.talkSec = meta.final ? (rec.answeredAt ? secondsBetween(rec.answeredAt, rec.endedAt) : meta.answered ? undefined : 0) : undefined;

  const eventIds = rec.eventIds.includes(ev.externalId) ? rec.eventIds : [...rec.eventIds, ev.externalId].sort();
  const out = compact({ ...rec, occurredAt: minIso(rec.occurredAt, ev.occurredAt), state: stateOf(meta), eventIds });
  return { ...out, merge: meta };
}

/** Merges a whole batch (a replay, a test). Same result as folding one by one in any order. */
export function mergeAll(events: readonly CallEvent[], prev: CallRecord | null = null): MergedCallRecord | null {
  let rec: MergedCallRecord | null = prev ? mergeSeed(prev) : null;
  for (const ev of events) rec = mergeCall(rec, ev);
  return rec;
}

function mergeSeed(prev: CallRecord): MergedCallRecord {
  return { ...prev, merge: metaOf(prev) };
}
