import { z } from 'zod';
import { defineChannel } from '#sdk';
import { decodeSipuni, SipuniEventSchema, type SipuniEvent } from './payload.ts';
import { normaliseSipuni, sipuniEventId } from './normalise.ts';

/** No settings: the source secret (`secretEnv`) goes in the URL Sipuni calls (`?secret=`). */
export const SipuniSettingsSchema = z.object({});
export type SipuniSettings = z.infer<typeof SipuniSettingsSchema>;

/**
 * Sipuni: one URL in "API → События на АТС". No vendor signature, so no `verify`: the gateway's generic
 * check compares `?secret=` with the source secret.
 */
export const sipuniChannel = defineChannel<SipuniEvent, SipuniSettings>({
  id: 'sipuni',
  kind: 'telephony',
  title: 'Sipuni',
  settings: SipuniSettingsSchema,
  intake: { mode: 'webhook', methods: ['GET', 'POST'] },
  // Unsigned calls would let anyone write fake calls into the CRM: a URL secret is mandatory.
  requiresSecret: true,
  decode: decodeSipuni,
  payload: SipuniEventSchema,
  eventId: (p) => sipuniEventId(p),
  // Sipuni may stop sending without exactly this answer.
  decide: () => ({ kind: 'event', reply: { status: 200, contentType: 'application/json', body: '{"success": true}' } }),
  normalise: normaliseSipuni,
});
