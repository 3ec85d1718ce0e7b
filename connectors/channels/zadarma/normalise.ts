import { callOutcome, ignoredOutcome, parsePhone, type CallEventInput, type NormaliseContext, type Outcome } from '#sdk';
import type { ZadarmaNotify, ZadarmaPayload } from './payload.ts';
import type { ZadarmaSettings } from './settings.ts';
import { localToIso } from '#sdk';

type Ctx = NormaliseContext<ZadarmaSettings>;
type Status = NonNullable<CallEventInput['status']>;

/** Zadarma payload → outcomes. Pure; event times the payload lacks come from `ctx.receivedAt` (§10.2). */
export function normaliseZadarma(p: ZadarmaPayload, ctx: Ctx): Outcome[] {
  if (p.type === 'echo') return [ignored('zadarma:url-check', 'zd_echo handshake')];
  return [fromNotify(p, ctx)];
}

export function zadarmaEventId(p: ZadarmaPayload): string | undefined {
  if (p.type === 'echo') return undefined;
  const id = p.pbx_call_id ?? '';
  switch (p.event) {
    case 'NOTIFY_START':
    case 'NOTIFY_OUT_START':
    case 'NOTIFY_OUT_END':
      return `zadarma:${p.event}:${id}`;
    // Several extensions ring (and may end) within one call.
    case 'NOTIFY_INTERNAL':
    case 'NOTIFY_ANSWER':
    case 'NOTIFY_END':
      return `zadarma:${p.event}:${id}:${p.internal ?? p.destination ?? ''}`;
    case 'NOTIFY_RECORD':
      return `zadarma:${p.event}:${id}:${p.call_id_with_rec ?? ''}`;
    default:
      // NOTIFY_IVR repeats per menu step with different digits: the body hash tells them apart.
      return undefined;
  }
}

const ignored = ignoredOutcome;
const call = callOutcome;

function party(raw: string | undefined, ctx: Ctx): { raw?: string; e164?: string } {
  if (raw === undefined || raw === '') return {};
  return { raw, e164: parsePhone(raw, ctx.defaultRegion).e164 };
}

/** Our number as E.164 when it is one; `0` (seen as caller_id of outbound calls) means none. */
function line(raw: string | undefined, ctx: Ctx): string | undefined {
  if (raw === undefined || raw === '' || raw === '0') return undefined;
  return parsePhone(raw, ctx.defaultRegion).e164 ?? raw;
}

/** §10.2: answered, busy; "no answer"/"cancel" → missed; the money/limit/number failures → failed. */
export function statusOf(disposition: string | undefined): Status | undefined {
  if (disposition === undefined) return undefined;
  switch (disposition.trim().toLowerCase()) {
    case 'answered':
      return 'answered';
    case 'busy':
      return 'busy';
    case 'no answer':
    case 'cancel':
      return 'missed';
    default:
      return 'failed';
  }
}

/** A short all-digit destination is another extension: an employee calling a colleague. */
function isExtension(n: string | undefined): boolean {
  return n !== undefined && /^\d{1,5}$/.test(n);
}

function fromNotify(ev: ZadarmaNotify, ctx: Ctx): Outcome {
  const provider = ctx.settings.provider;
  const receivedAt = ctx.receivedAt.toISOString();
  const startedAt = ev.call_start ? localToIso(ev.call_start, ctx.settings.timeZone) : undefined;
  const pbx = ev.pbx_call_id ?? '';
  const base = { source: ctx.source, provider, providerCallId: pbx };
  const recording = ev.is_recorded === '1' && ev.call_id_with_rec ? { providerRecordingId: ev.call_id_with_rec } : undefined;
  const caller = party(ev.caller_id, ctx);

  switch (ev.event) {
    case 'NOTIFY_START': {
      const did = party(ev.called_did, ctx);
      return call({ ...base, externalId: `zadarma:NOTIFY_START:${pbx}`, kind: 'started', direction: 'inbound', from: caller.raw, fromE164: caller.e164, to: did.raw, toE164: did.e164, line: line(ev.called_did, ctx), startedAt, occurredAt: startedAt ?? receivedAt });
    }
    case 'NOTIFY_IVR':
      return ignored('zadarma:ivr', `call ${pbx} in the voice menu: nothing new for the CRM`);
    case 'NOTIFY_INTERNAL': {
      const did = party(ev.called_did, ctx);
      return call({ ...base, externalId: `zadarma:NOTIFY_INTERNAL:${pbx}:${ev.internal}`, kind: 'ringing', direction: 'inbound', from: caller.raw, fromE164: caller.e164, to: did.raw, toE164: did.e164, line: line(ev.called_did, ctx), extension: ev.internal, startedAt, occurredAt: receivedAt });
    }
    case 'NOTIFY_ANSWER': {
      // The payload has no answer time: it is the receive time. `out_…` ids are outbound calls.
      const dest = party(ev.destination, ctx);
      const direction = pbx.startsWith('out_') ? 'outbound' : 'inbound';
      return call({ ...base, externalId: `zadarma:NOTIFY_ANSWER:${pbx}:${ev.internal ?? ev.destination}`, kind: 'answered', direction, from: caller.raw, fromE164: caller.e164, to: dest.raw, toE164: dest.e164, extension: ev.internal, startedAt, answeredAt: receivedAt, occurredAt: receivedAt });
    }
    case 'NOTIFY_END': {
      const did = party(ev.called_did, ctx);
      return call({
        ...base,
        externalId: `zadarma:NOTIFY_END:${pbx}:${ev.internal ?? ''}`,
        kind: 'ended',
        direction: 'inbound',
        from: caller.raw,
        fromE164: caller.e164,
        to: did.raw,
        toE164: did.e164,
        line: line(ev.called_did, ctx),
        extension: ev.internal,
        startedAt,
        endedAt: receivedAt,
        // Whether `duration` is total or talk time is unconfirmed (§10.2): kept as the total.
        durationSec: ev.duration !== undefined ? Number(ev.duration) : undefined,
        status: statusOf(ev.disposition),
        recording,
        occurredAt: receivedAt,
      });
    }
    case 'NOTIFY_OUT_START':
    case 'NOTIFY_OUT_END': {
      if (isExtension(ev.destination)) return ignored('zadarma:internal-call', `call ${pbx}: extension ${ev.internal} → ${ev.destination}, no client on the line`);
      const dest = party(ev.destination, ctx);
      const ended = ev.event === 'NOTIFY_OUT_END';
      return call({
        ...base,
        externalId: `zadarma:${ev.event}:${pbx}`,
        kind: ended ? 'ended' : 'started',
        direction: 'outbound',
        from: ev.internal,
        to: dest.raw,
        toE164: dest.e164,
        line: line(ev.caller_id, ctx),
        extension: ev.internal,
        startedAt,
        endedAt: ended ? receivedAt : undefined,
        durationSec: ended && ev.duration !== undefined ? Number(ev.duration) : undefined,
        status: ended ? statusOf(ev.disposition) : undefined,
        recording: ended ? recording : undefined,
        occurredAt: ended ? receivedAt : (startedAt ?? receivedAt),
      });
    }
    case 'NOTIFY_RECORD':
      // The file is stored; fetch a link with GET /v1/pbx/record/request/?call_id=<call_id_with_rec>.
      return call({ ...base, externalId: `zadarma:NOTIFY_RECORD:${pbx}:${ev.call_id_with_rec}`, kind: 'recording', recording: { providerRecordingId: ev.call_id_with_rec }, occurredAt: receivedAt });
    default:
      return ignored('zadarma:unknown-event', `event ${ev.event}`);
  }
}
