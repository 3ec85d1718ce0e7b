/**
 * Mango Office VPBX "API Realtime" notifications.
 * Vendor doc: https://www.mango-office.ru/support/integratsiya-api/ (PDF "Документация по API для
 * Виртуальной АТС MANGO OFFICE" v1.10); facts and doubts: shared/reference/telephony.md §1.
 *
 * Every notification is a form POST of `vpbx_api_key`, `sign`, `json`; the suffix after our base URL says
 * what it is. Newer API versions add fields: everything not needed here is optional and ignored.
 */
import { z } from 'zod';
import { decodeJson, decodeUrlencoded, InputError, mediaType, bodyKind, type RawEvent } from '#sdk';

/** Numbers arrive as JSON numbers or as digit strings ("sometimes a string in examples"). */
const Int = z.union([z.number().int(), z.string().regex(/^-?\d+$/, 'an integer')]).transform(Number);
const Str = z.union([z.string(), z.number()]).transform(String);

const Party = z
  .object({
    extension: Str.optional(),
    number: Str.optional(),
    taken_from_call_id: z.string().optional(),
    line_number: Str.optional(),
    acd_group: Str.optional(),
  })
  .default({});

/** `events/call`: one state change of one call leg (§1.3). */
export const MangoCallEventSchema = z.object({
  entry_id: z.string().min(1),
  call_id: z.string().min(1),
  timestamp: Int,
  seq: Int,
  call_state: z.string().min(1),
  location: z.string().optional(),
  from: Party,
  to: Party,
  disconnect_reason: Int.optional(),
  command_id: z.string().optional(),
});
export type MangoCallEvent = z.infer<typeof MangoCallEventSchema>;

/** `events/summary`: the one final record per `entry_id` (§1.4). */
export const MangoSummarySchema = z.object({
  entry_id: z.string().min(1),
  call_direction: Int,
  from: Party,
  to: Party,
  line_number: Str.optional(),
  create_time: Int,
  forward_time: Int.optional(),
  talk_time: Int.default(0),
  end_time: Int,
  entry_result: Int.optional(),
  disconnect_reason: Int.optional(),
});
export type MangoSummary = z.infer<typeof MangoSummarySchema>;

/** `events/recording` (§1.5). */
export const MangoRecordingSchema = z.object({
  entry_id: z.string().min(1),
  call_id: z.string().min(1),
  recording_id: z.string().min(1),
  recording_state: z.string().min(1),
  seq: Int.optional(),
  extension: Str.optional(),
  timestamp: Int,
  completion_code: Int.optional(),
  recipient: z.string().optional(),
});
export type MangoRecording = z.infer<typeof MangoRecordingSchema>;

/** `events/dtmf` (§1.6): only the ids are needed to count it. */
export const MangoDtmfSchema = z.object({
  entry_id: z.string().min(1),
  call_id: z.string().min(1),
  seq: Int.optional(),
  timestamp: Int.optional(),
});

export const MangoPayloadSchema = z.discriminatedUnion('path', [
  z.object({ path: z.literal('/events/call'), json: MangoCallEventSchema }),
  z.object({ path: z.literal('/events/summary'), json: MangoSummarySchema }),
  z.object({ path: z.literal('/events/recording'), json: MangoRecordingSchema }),
  z.object({ path: z.literal('/events/dtmf'), json: MangoDtmfSchema }),
  z.object({ path: z.literal('/ping') }),
  // `/events/sms`, `/result/<command>` and anything a newer API adds: accepted and counted as ignored.
  z.object({ path: z.literal('other'), subPath: z.string() }),
]);
export type MangoPayload = z.infer<typeof MangoPayloadSchema>;

const KNOWN_PATHS = new Set(['/events/call', '/events/summary', '/events/recording', '/events/dtmf', '/ping']);

/** The three form fields as strings; a field sent twice or missing is undefined (and fails `verify`). */
export function readMangoForm(e: RawEvent): { vpbx_api_key?: string; sign?: string; json?: string } {
  const kind = bodyKind(e);
  if (kind !== 'form') return {};
  const f = decodeUrlencoded(e.body);
  const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
  return { vpbx_api_key: str(f.vpbx_api_key), sign: str(f.sign), json: str(f.json) };
}

/** Bytes → `{ path, json }`: the sub-path picks the schema, the `json` form field holds the event. */
export function decodeMango(e: RawEvent): unknown {
  if (e.subPath === '/ping') return { path: '/ping' };
  if (!KNOWN_PATHS.has(e.subPath)) return { path: 'other', subPath: e.subPath };
  if (bodyKind(e) !== 'form') {
    throw new InputError({
      code: 'LG_ERR_BAD_CONTENT_TYPE',
      status: 415,
      field: 'content-type',
      expected: 'application/x-www-form-urlencoded with vpbx_api_key, sign, json',
      message: `Mango notifications are form posts; got "${mediaType(e) || '(none)'}"`,
    });
  }
  const { json } = readMangoForm(e);
  if (json === undefined) throw new InputError({ field: 'json', expected: 'the form field json holding the event as a JSON string', message: 'json: missing' });
  let value: unknown;
  try {
    value = decodeJson(Buffer.from(json, 'utf8'));
  } catch {
    throw new InputError({ code: 'LG_ERR_BAD_BODY', field: 'json', expected: 'a JSON object string', message: 'json: not valid JSON' });
  }
  return { path: e.subPath, json: value };
}
