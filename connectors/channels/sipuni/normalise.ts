import { callOutcome, ignoredOutcome, parsePhone, type CallEventInput, type NormaliseContext, type Outcome } from '#sdk';
import type { SipuniEvent } from './payload.ts';
import type { SipuniSettings } from './index.ts';

const PROVIDER = 'sipuni';
type Ctx = NormaliseContext<SipuniSettings>;
type Status = NonNullable<CallEventInput['status']>;

export function sipuniEventId(p: SipuniEvent): string | undefined {
  switch (p.event) {
    // Event 1 is sometimes sent twice a second apart: no timestamp in the id, so the copy is a duplicate.
    case '1':
    case '3':
    case '4':
      return `sipuni:${p.event}:${p.call_id}:${p.dst_num ?? p.short_dst_num ?? ''}`;
    case '2':
      return `sipuni:2:${p.call_id}`;
    default:
      return undefined;
  }
}

/** §10.2: ANSWER → answered, NOANSWER/CANCEL → missed, BUSY → busy, CONGESTION/CHANUNAVAIL → failed. */
export function statusOf(status: string | undefined): Status | undefined {
  switch (status?.toUpperCase()) {
    case undefined:
      return undefined;
    case 'ANSWER':
      return 'answered';
    case 'NOANSWER':
    case 'CANCEL':
      return 'missed';
    case 'BUSY':
      return 'busy';
    case 'CONGESTION':
    case 'CHANUNAVAIL':
      return 'failed';
    default:
      return 'unknown';
  }
}

const ignored = ignoredOutcome;
const call = callOutcome;

/** Inbound `dst_num` may carry an `_id<digits>` suffix: parse without it, keep the raw value. */
function party(raw: string | undefined, ctx: Ctx): { raw?: string; e164?: string } {
  if (raw === undefined) return {};
  return { raw, e164: parsePhone(raw.replace(/_id\d+$/, ''), ctx.defaultRegion).e164 };
}

function iso(unixSec: number | undefined): string | undefined {
  return unixSec !== undefined && unixSec > 0 ? new Date(unixSec * 1000).toISOString() : undefined;
}

/** `src_type`/`dst_type`: 1 external number, 2 extension (third-party evidence only). */
function directionOf(p: SipuniEvent): 'inbound' | 'outbound' | 'internal' | 'unknown' {
  if (p.src_type === '1' && p.dst_type === '2') return 'inbound';
  if (p.src_type === '2' && p.dst_type === '1') return 'outbound';
  if (p.src_type === '2' && p.dst_type === '2') return 'internal';
  if (p.pbxdstnum !== undefined && p.src_type === '1') return 'inbound';
  return 'unknown';
}

export function normaliseSipuni(p: SipuniEvent, ctx: Ctx): Outcome[] {
  const direction = directionOf(p);
  if (direction === 'internal') return [ignored('sipuni:internal-call', `call ${p.call_id}: extension ${p.src_num ?? '?'} → ${p.dst_num ?? '?'}, no client on the line`)];
  const at = iso(p.timestamp) ?? ctx.receivedAt.toISOString();
  const from = party(p.src_num, ctx);
  const to = party(p.dst_num, ctx);
  const employee = direction === 'outbound' ? (p.short_src_num ?? p.src_num) : (p.short_dst_num ?? p.dst_num);
  const base = {
    source: ctx.source,
    provider: PROVIDER,
    providerCallId: p.call_id,
    direction,
    from: from.raw,
    fromE164: from.e164,
    to: to.raw,
    toE164: to.e164,
    line: p.pbxdstnum !== undefined && direction !== 'outbound' ? (parsePhone(p.pbxdstnum, ctx.defaultRegion).e164 ?? p.pbxdstnum) : undefined,
    occurredAt: at,
  };
  switch (p.event) {
    case '1':
      return [call({ ...base, externalId: sipuniEventId(p)!, kind: p.dst_type === '2' ? 'ringing' : 'started', extension: employee, startedAt: at })];
    case '3':
      // More reliable than call_answer_timestamp of event 2 (sometimes ≤ the start).
      return [call({ ...base, externalId: sipuniEventId(p)!, kind: 'answered', extension: employee, answeredAt: at })];
    case '4':
      // One leg (a forwarded extension) ended; the call goes on until event 2.
      return [call({ ...base, externalId: sipuniEventId(p)!, kind: 'ended', providerLegId: p.short_dst_num ?? p.dst_num ?? 'leg', extension: employee, endedAt: at })];
    case '2': {
      const status = statusOf(p.status);
      const startedAt = iso(p.call_start_timestamp);
      const answerTs = p.call_answer_timestamp !== undefined && p.call_start_timestamp !== undefined && p.call_answer_timestamp > p.call_start_timestamp ? p.call_answer_timestamp : undefined;
      const endTs = p.timestamp;
      return [
        call({
          ...base,
          externalId: sipuniEventId(p)!,
          kind: 'ended',
          extension: p.last_called ?? employee,
          startedAt,
          answeredAt: status === 'answered' ? iso(answerTs) : undefined,
          endedAt: iso(endTs),
          durationSec: endTs !== undefined && p.call_start_timestamp ? Math.max(0, endTs - p.call_start_timestamp) : undefined,
          talkSec: status === 'answered' ? (endTs !== undefined && answerTs !== undefined ? Math.max(0, endTs - answerTs) : undefined) : 0,
          status,
          // The link is sent even when nobody answered, so it proves nothing then: kept for answered calls only.
          recording: status === 'answered' && p.call_record_link ? { url: p.call_record_link } : undefined,
        }),
      ];
    }
    default:
      return [ignored('sipuni:unknown-event', `event ${p.event}`)];
  }
}
