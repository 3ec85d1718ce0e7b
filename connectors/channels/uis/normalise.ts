import { callOutcome, ignoredOutcome, parsePhone, type CallEventInput, type NormaliseContext, type Outcome } from '#sdk';
import { LEADGATE_EVENTS, MNEMONIC_GUESSES, type UisEventName, type UisNotification } from './payload.ts';
import type { UisSettings } from './settings.ts';
import { localToIso } from '#sdk';

type Ctx = NormaliseContext<UisSettings>;

/** Which event this is: our literal `leadgate_event` first, then a guessed `notification_mnemonic`. */
export function uisEventName(p: UisNotification): UisEventName | undefined {
  const own = p.leadgate_event?.trim().toLowerCase();
  if (own && (LEADGATE_EVENTS as readonly string[]).includes(own)) return own as UisEventName;
  const mnemonic = p.notification_mnemonic?.trim().toLowerCase();
  return mnemonic ? MNEMONIC_GUESSES[mnemonic] : undefined;
}

function legOf(p: UisNotification): string | undefined {
  return p.leg_id ?? p.leg_ids?.[0] ?? (p.employee_id !== undefined ? `employee:${p.employee_id}` : undefined);
}

export function uisEventId(p: UisNotification): string | undefined {
  const name = uisEventName(p);
  if (!name) return undefined;
  switch (name) {
    case 'ringing':
    case 'talk_started':
    case 'talk_finished':
      return `uis:${name}:${p.call_session_id}:${legOf(p) ?? ''}`;
    case 'recording':
      return `uis:recording:${p.call_session_id}:${p.file_link ?? ''}`;
    default:
      return `uis:${name}:${p.call_session_id}`;
  }
}

const ignored = ignoredOutcome;
const call = callOutcome;

function party(raw: string | undefined, ctx: Ctx): { raw?: string; e164?: string } {
  if (raw === undefined) return {};
  return { raw, e164: parsePhone(raw, ctx.defaultRegion).e164 };
}

/** Unix seconds (or ms), ISO with an offset, or `YYYY-MM-DD HH:MM:SS[.ffffff]` in the account zone. */
export function uisTime(v: string | undefined, timeZone: string): string | undefined {
  if (v === undefined) return undefined;
  const s = v.trim();
  if (/^\d{9,10}$/.test(s)) return new Date(Number(s) * 1000).toISOString();
  if (/^\d{12,13}$/.test(s)) return new Date(Number(s)).toISOString();
  if (/(Z|[+-]\d{2}:?\d{2})$/.test(s) && Number.isFinite(Date.parse(s))) return new Date(Date.parse(s)).toISOString();
  return localToIso(s, timeZone);
}

function seconds(v: string | undefined): number | undefined {
  if (v === undefined || !/^\d+(\.\d+)?$/.test(v.trim())) return undefined;
  return Math.round(Number(v));
}

function truthy(v: string | undefined): boolean {
  return v !== undefined && ['true', '1', 'yes'].includes(v.trim().toLowerCase());
}

export function normaliseUis(p: UisNotification, ctx: Ctx): Outcome[] {
  const name = uisEventName(p);
  if (!name) {
    return [ignored('uis:unknown-notification', `"${p.notification_name ?? ''}" (mnemonic ${p.notification_mnemonic ?? 'none'}): add "leadgate_event" from the setup guide to its template`)];
  }
  if (truthy(p.is_internal)) return [ignored('uis:internal-call', `session ${p.call_session_id}: call between employees, no client on the line`)];
  const tz = ctx.settings.timeZone;
  const at = uisTime(p.notification_time, tz) ?? uisTime(p.notification_timestamp, tz) ?? ctx.receivedAt.toISOString();
  const dir = p.direction?.trim().toLowerCase();
  // Without a `direction` variable the event type still tells: a lost call is a client nobody answered.
  const direction = dir === 'in' ? 'inbound' : dir === 'out' ? 'outbound' : name === 'incoming' || name === 'lost_call' ? 'inbound' : name === 'outbound' ? 'outbound' : 'unknown';
  const client = p.contact_phone_number ?? p.communication_number;
  const fromRaw = direction === 'outbound' ? (p.virtual_phone_number ?? p.employee_phone_number ?? p.calling_phone_number) : (client ?? p.calling_phone_number);
  const toRaw = direction === 'outbound' ? (client ?? p.called_phone_number) : (p.virtual_phone_number ?? p.called_phone_number);
  const from = party(fromRaw, ctx);
  const to = party(toRaw, ctx);
  const talkSec = seconds(p.talk_time_duration);
  const base = {
    source: ctx.source,
    externalId: uisEventId(p)!,
    provider: ctx.settings.provider,
    providerCallId: p.call_session_id,
    direction,
    from: from.raw,
    fromE164: from.e164,
    to: to.raw,
    toE164: to.e164,
    line: p.virtual_phone_number !== undefined ? (parsePhone(p.virtual_phone_number, ctx.defaultRegion).e164 ?? p.virtual_phone_number) : undefined,
    extension: p.employee_id,
    employeeName: p.employee_full_name,
    startedAt: uisTime(p.start_time, tz),
    occurredAt: at,
  } satisfies Partial<CallEventInput>;

  switch (name) {
    case 'incoming':
    case 'outbound':
      return [call({ ...base, kind: 'started', startedAt: base.startedAt ?? at })];
    case 'ringing':
      return [call({ ...base, kind: 'ringing', providerLegId: legOf(p) })];
    case 'talk_started':
      return [call({ ...base, kind: 'answered', providerLegId: legOf(p), answeredAt: at })];
    case 'talk_finished':
      // One employee's conversation ended (a transfer may follow); the call ends with call_finished.
      return [call({ ...base, kind: 'ended', providerLegId: legOf(p) ?? 'talk', talkSec, endedAt: at })];
    case 'call_finished':
      return [
        call({
          ...base,
          kind: 'ended',
          endedAt: at,
          durationSec: seconds(p.total_time_duration),
          talkSec,
          status: talkSec !== undefined ? (talkSec > 0 ? 'answered' : 'missed') : 'unknown',
        }),
      ];
    case 'lost_call':
      return [call({ ...base, kind: 'ended', endedAt: at, talkSec: 0, status: 'missed' })];
    case 'recording':
      return [call({ ...base, kind: 'recording', recording: p.file_link ? { url: p.file_link } : undefined })];
  }
}
