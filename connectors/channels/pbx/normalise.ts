import { CallEventSchema, parsePhone, type CallEventInput, type NormaliseContext, type Outcome } from '#sdk';
import type { PbxEvent } from './payload.ts';
import type { PbxSettings } from './settings.ts';

type Ctx = NormaliseContext<PbxSettings>;

const KINDS: Readonly<Record<string, CallEventInput['kind']>> = {
  'call.started': 'started',
  'call.ringing': 'ringing',
  'call.answered': 'answered',
  'call.ended': 'ended',
  'call.recording_ready': 'recording',
};

function party(raw: string | undefined, ctx: Ctx): { raw?: string; e164?: string } {
  if (raw === undefined || raw === '') return {};
  return { raw, e164: parsePhone(raw, ctx.defaultRegion).e164 };
}

export function normalisePbx(p: PbxEvent, ctx: Ctx): Outcome[] {
  const kind = KINDS[p.event];
  if (!kind) return [{ kind: 'ignored', reason: { code: 'pbx:unknown-event', detail: `event ${p.event}` } }];
  if (p.direction === 'internal') return [{ kind: 'ignored', reason: { code: 'pbx:internal-call', detail: `call ${p.call_id}: between extensions, no client on the line` } }];
  const from = party(p.from, ctx);
  const to = party(p.to, ctx);
  const input: CallEventInput = {
    source: ctx.source,
    externalId: p.event_id,
    provider: ctx.settings.provider,
    providerCallId: p.call_id,
    // `call.ended` closes the whole call (all channels of the Linkedid), so it carries no leg.
    providerLegId: kind === 'ended' ? undefined : p.leg_id,
    kind,
    direction: p.direction ?? 'unknown',
    from: from.raw,
    fromE164: from.e164,
    to: to.raw,
    toE164: to.e164,
    line: p.did ? (parsePhone(p.did, ctx.defaultRegion).e164 ?? p.did) : undefined,
    extension: p.extension,
    employeeName: p.employee_name,
    startedAt: p.started_at,
    answeredAt: p.answered_at,
    endedAt: p.ended_at,
    durationSec: p.duration_sec,
    talkSec: p.talk_sec,
    status: kind === 'ended' ? p.status : undefined,
    recording: p.recording_url ? { url: p.recording_url } : undefined,
    occurredAt: p.ended_at ?? p.answered_at ?? p.started_at ?? ctx.receivedAt.toISOString(),
  };
  const clean = Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined));
  return [{ kind: 'call', call: CallEventSchema.parse(clean) }];
}
