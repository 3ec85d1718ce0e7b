/**
 * `POST /hooks/pbx/<sourceId>/lookup`: the PBX agent asks, before ringing anyone, who owns this caller
 * (telephony.md §9.4). Signed like every event; nothing is stored. Answer:
 * `{"extension":"201","display_name":"ООО Ромашка / Иванов","contact_id":"…","responsible":"…"}`; `{}` = the PBX's
 * default route (unknown caller and no rule, a slow CRM, no CRM configured).
 */
import { z } from 'zod';
import { parsePhone, type CallerLookup, type CountryCode, type IntakeReply } from '#sdk';

export const PbxLookupSchema = z.object({
  /** Set by the decoder for the `/lookup` path, never by the sender. */
  lookup: z.literal(true),
  /** The caller's number as the PBX has it. */
  from: z.union([z.string(), z.number()]).transform(String).pipe(z.string().min(1, 'the caller\'s number')),
  /** Our number the client dialled. */
  did: z.union([z.string(), z.number()]).transform(String).optional(),
  call_id: z.union([z.string(), z.number()]).transform(String).optional(),
});
export type PbxLookup = z.infer<typeof PbxLookupSchema>;

export const DEFAULT_ROUTE: IntakeReply = { status: 200, contentType: 'application/json; charset=utf-8', body: '{}' };

export function callerNumber(p: PbxLookup, region: CountryCode): string | undefined {
  return parsePhone(p.from, region).e164;
}

/** The answer for a caller the hub knows (or a manager the assignment rules would pick for an unknown one). */
export function lookupReply(info: CallerLookup | null): IntakeReply {
  if (!info) return DEFAULT_ROUTE;
  const display = [info.company, info.name].filter(Boolean).join(' / ');
  const body: Record<string, string> = {};
  if (info.extension) body.extension = info.extension;
  if (display) body.display_name = display;
  if (info.contactId) body.contact_id = info.contactId;
  if (info.responsibleName) body.responsible = info.responsibleName;
  return { ...DEFAULT_ROUTE, body: JSON.stringify(body) };
}
