/**
 * Leadgate's own generic call-event contract for PBXs without a webhook of their own (Asterisk/FreePBX via
 * an AMI listener or a hangup handler, see examples/asterisk/). Spec: shared/reference/telephony.md §9.4,
 * with the timestamp signed too (README.md). Asterisk AMI events: https://docs.asterisk.org/Asterisk_21_Documentation/API_Documentation/AMI_Events/
 */
import { z } from 'zod';
import { decodeJson, InputError, type RawEvent } from '#sdk';

export const PBX_EVENTS = ['call.started', 'call.ringing', 'call.answered', 'call.ended', 'call.recording_ready'] as const;

/** ISO 8601 with a zone (`2024-05-27T09:00:11Z`) or Unix seconds (what `${EPOCH}` gives a dialplan). */
const Time = z
  .union([z.number().int().positive(), z.string().regex(/^\d{9,11}$/).transform(Number), z.iso.datetime({ offset: true })])
  .transform((v) => (typeof v === 'number' ? new Date(v * 1000).toISOString() : new Date(Date.parse(v)).toISOString()));
const Seconds = z.union([z.number().nonnegative(), z.string().regex(/^\d+$/, 'whole seconds').transform(Number)]);
const Text = z.union([z.string(), z.number()]).transform(String);

export const PbxEventSchema = z.object({
  /** The sender's id of this event; retries repeat it. */
  event_id: z.string().min(1).max(200),
  /** One of PBX_EVENTS; others are accepted and ignored (a newer agent must not be stuck retrying). */
  event: z.string().min(1),
  /** The call (Asterisk `Linkedid`). */
  call_id: Text.pipe(z.string().min(1)),
  /** The channel (Asterisk `Uniqueid`). */
  leg_id: Text.optional(),
  direction: z.enum(['inbound', 'outbound', 'internal']).optional(),
  from: Text.optional(),
  to: Text.optional(),
  /** Our number the client dialled (inbound) or the line used (outbound). */
  did: Text.optional(),
  extension: Text.optional(),
  employee_name: z.string().optional(),
  started_at: Time.optional(),
  answered_at: Time.optional(),
  ended_at: Time.optional(),
  duration_sec: Seconds.optional(),
  talk_sec: Seconds.optional(),
  /** `call.ended` only. */
  status: z.enum(['answered', 'missed', 'busy', 'failed', 'cancelled']).optional(),
  hangup_cause: Text.optional(),
  recording_url: z.url({ protocol: /^https?$/ }).optional(),
});
export type PbxEvent = z.infer<typeof PbxEventSchema>;

export function decodePbx(e: RawEvent): unknown {
  if (e.subPath === '/lookup') {
    const body = decodeJson(e.body);
    // Tagged here, from the path, so a lookup can never be mistaken for an event (or an event for a lookup).
    return body && typeof body === 'object' && !Array.isArray(body) ? { ...body, lookup: true } : body;
  }
  if (e.subPath !== '') {
    throw new InputError({ status: 404, field: 'path', expected: '/hooks/pbx/<sourceId> or /hooks/pbx/<sourceId>/lookup', message: `no ${e.subPath} hook: events go to the source URL itself, caller lookups to /lookup` });
  }
  const body = decodeJson(e.body);
  if (body && typeof body === 'object' && 'lookup' in body) throw new InputError({ field: 'lookup', expected: 'no such field in an event', message: 'a lookup goes to /hooks/pbx/<sourceId>/lookup' });
  return body;
}
