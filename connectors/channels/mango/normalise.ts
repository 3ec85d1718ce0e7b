import { callOutcome, ignoredOutcome, parsePhone, type CallEventInput, type NormaliseContext, type Outcome } from '#sdk';
import type { MangoCallEvent, MangoPayload, MangoRecording, MangoSummary } from './payload.ts';
import type { MangoSettings } from './settings.ts';

const PROVIDER = 'mango';
type Ctx = NormaliseContext<MangoSettings>;

/** Mango payload → outcomes. Pure: the same payload and context always give the same outcomes. */
export function normaliseMango(p: MangoPayload, ctx: Ctx): Outcome[] {
  switch (p.path) {
    case '/events/call':
      return [fromCallEvent(p.json, ctx)];
    case '/events/summary':
      return [fromSummary(p.json, ctx)];
    case '/events/recording':
      return [fromRecording(p.json, ctx)];
    case '/events/dtmf':
      return [ignored('mango:dtmf', 'digits pressed in the voice menu: nothing for the CRM')];
    case '/ping':
      return [ignored('mango:ping', 'connectivity check from the cabinet')];
    case 'other':
      return [ignored('mango:unhandled-path', `${p.subPath || '(base URL)'}: SMS and command results are not call events`)];
  }
}

/** Stable per delivery: the same notification re-sent gets the same id. */
export function mangoEventId(p: MangoPayload): string | undefined {
  switch (p.path) {
    case '/events/call':
      return `mango:call:${p.json.entry_id}:${p.json.call_id}:${p.json.seq}`;
    case '/events/summary':
      return `mango:summary:${p.json.entry_id}`;
    case '/events/recording':
      return `mango:recording:${p.json.entry_id}:${p.json.call_id}:${p.json.recording_id}:${p.json.recording_state}`;
    case '/events/dtmf':
      return `mango:dtmf:${p.json.entry_id}:${p.json.call_id}:${p.json.seq ?? p.json.timestamp ?? ''}`;
    default:
      return undefined;
  }
}

const ignored = ignoredOutcome;
const call = callOutcome;

function iso(unixSec: number): string {
  return new Date(unixSec * 1000).toISOString();
}

/** Raw number as sent (phone, SIP URI, extension) and its E.164 form when it is a phone. */
function party(raw: string | undefined, ctx: Ctx): { raw?: string; e164?: string } {
  if (raw === undefined || raw === '') return {};
  return { raw, e164: parsePhone(raw, ctx.defaultRegion).e164 };
}

function line(raw: string | undefined, ctx: Ctx): string | undefined {
  if (raw === undefined || raw === '') return undefined;
  return parsePhone(raw, ctx.defaultRegion).e164 ?? raw;
}

/** `events/call` has no direction field: an employee caller → outbound (internal if the callee is one too); a DID → inbound. */
function inferDirection(ev: MangoCallEvent): 'inbound' | 'outbound' | 'internal' | 'unknown' {
  if (ev.from.extension !== undefined) return ev.to.extension !== undefined && ev.to.line_number === undefined ? 'internal' : 'outbound';
  if (ev.to.line_number !== undefined) return 'inbound';
  return 'unknown';
}

function fromCallEvent(ev: MangoCallEvent, ctx: Ctx): Outcome {
  const direction = inferDirection(ev);
  if (direction === 'internal') {
    // Employee to employee (also the consult leg of a transfer): no client on either side; the call's
    // summary still reports who finally took an external call.
    return ignored('mango:internal-call', `leg ${ev.call_id}: extension ${ev.from.extension} → ${ev.to.extension}`);
  }
  const at = iso(ev.timestamp);
  const inPbx = ev.location === 'ivr' || ev.location === 'queue';
  let kind: CallEventInput['kind'];
  switch (ev.call_state) {
    case 'Appeared':
      kind = direction !== 'outbound' && ev.to.extension !== undefined ? 'ringing' : 'started';
      break;
    case 'Connected':
      // The voice menu or the queue picking up is not a person answering.
      kind = inPbx ? 'started' : 'answered';
      break;
    case 'Disconnected':
      kind = 'ended'; // this leg only: the call ends with events/summary
      break;
    case 'OnHold':
      return ignored('mango:on-hold', `leg ${ev.call_id} put on hold`);
    default:
      return ignored('mango:unknown-call-state', `call_state "${ev.call_state}"`);
  }
  const from = party(ev.from.number, ctx);
  const to = party(ev.to.number, ctx);
  return call({
    source: ctx.source,
    externalId: `mango:call:${ev.entry_id}:${ev.call_id}:${ev.seq}`,
    provider: PROVIDER,
    providerCallId: ev.entry_id,
    providerLegId: ev.call_id,
    seq: ev.seq,
    kind,
    direction,
    from: from.raw,
    fromE164: from.e164,
    to: to.raw,
    toE164: to.e164,
    line: line(ev.to.line_number, ctx),
    extension: direction === 'outbound' ? ev.from.extension : ev.to.extension,
    startedAt: kind === 'started' || kind === 'ringing' ? at : undefined,
    answeredAt: kind === 'answered' ? at : undefined,
    endedAt: kind === 'ended' ? at : undefined,
    occurredAt: at,
  });
}

function fromSummary(s: MangoSummary, ctx: Ctx): Outcome {
  const direction = s.call_direction === 1 ? 'inbound' : s.call_direction === 2 ? 'outbound' : s.call_direction === 0 ? 'internal' : 'unknown';
  if (direction === 'internal') return ignored('mango:internal-call', `entry ${s.entry_id}: call between employees`);
  // talk_time is a timestamp, 0 when nobody talked; trust it over entry_result (the PDF contradicts itself).
  const talked = s.talk_time > 0;
  const status = talked ? 'answered' : s.disconnect_reason === 1121 ? 'busy' : 'missed';
  const from = party(s.from.number, ctx);
  const to = party(s.to.number, ctx);
  return call({
    source: ctx.source,
    externalId: `mango:summary:${s.entry_id}`,
    provider: PROVIDER,
    providerCallId: s.entry_id,
    kind: 'summary',
    direction,
    from: from.raw,
    fromE164: from.e164,
    to: to.raw,
    toE164: to.e164,
    line: line(s.line_number, ctx),
    // Inbound: who answered (missed: the first employee in the chain). Outbound: who dialled.
    extension: direction === 'outbound' ? s.from.extension : s.to.extension,
    startedAt: iso(s.create_time),
    answeredAt: talked ? iso(s.talk_time) : undefined,
    endedAt: iso(s.end_time),
    durationSec: Math.max(0, s.end_time - s.create_time),
    talkSec: talked ? Math.max(0, s.end_time - s.talk_time) : 0,
    status,
    occurredAt: iso(s.end_time),
  });
}

function fromRecording(r: MangoRecording, ctx: Ctx): Outcome {
  if (r.recording_state !== 'Completed') {
    return ignored('mango:recording-in-progress', `recording ${r.recording_id} ${r.recording_state}`);
  }
  const code = r.completion_code ?? 1000;
  if (code !== 1000) return ignored('mango:recording-not-saved', `recording ${r.recording_id}: completion_code ${code}`);
  // Only cloud copies can be fetched through the API; "Mail" went to someone's mailbox.
  if (r.recipient !== undefined && r.recipient !== 'Cloud' && r.recipient !== 'CloudAndMail') {
    return ignored('mango:recording-not-in-cloud', `recording ${r.recording_id}: recipient ${r.recipient}`);
  }
  return call({
    source: ctx.source,
    externalId: `mango:recording:${r.entry_id}:${r.call_id}:${r.recording_id}:${r.recording_state}`,
    provider: PROVIDER,
    providerCallId: r.entry_id,
    providerLegId: r.call_id,
    seq: r.seq,
    kind: 'recording',
    extension: r.extension,
    // Download with POST /queries/recording/post (one-shot link); Mango saves the file minutes after hang-up.
    recording: { providerRecordingId: r.recording_id },
    occurredAt: iso(r.timestamp),
  });
}
