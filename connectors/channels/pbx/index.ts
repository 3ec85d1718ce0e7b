import { defineChannel } from '#sdk';
import { z } from 'zod';
import { decodePbx, PbxEventSchema, type PbxEvent } from './payload.ts';
import { PbxSettingsSchema, type PbxSettings } from './settings.ts';
import { verifyPbx } from './verify.ts';
import { normalisePbx } from './normalise.ts';
import { callerNumber, DEFAULT_ROUTE, lookupReply, PbxLookupSchema, type PbxLookup } from './lookup.ts';

// Discriminated on the decoder's `lookup` tag, so a bad event is refused naming its own field, not the lookup's.
const PbxRequestSchema = z.discriminatedUnion('lookup', [PbxLookupSchema, PbxEventSchema.extend({ lookup: z.undefined().optional() })]);
type PbxRequest = PbxEvent | PbxLookup;
const isLookup = (p: PbxRequest): p is PbxLookup => 'lookup' in p && p.lookup === true;

/**
 * Generic signed JSON for Asterisk/FreePBX and any PBX with a small agent: `POST /hooks/pbx/<sourceId>` for call
 * events, `POST /hooks/pbx/<sourceId>/lookup` for "who takes this caller" before ringing (answered, never stored).
 */
export const pbxChannel = defineChannel<PbxRequest, PbxSettings>({
  id: 'pbx',
  kind: 'telephony',
  title: 'Generic PBX (Asterisk/FreePBX)',
  settings: PbxSettingsSchema,
  intake: { mode: 'webhook', methods: ['POST'] },
  requiresSecret: true,
  verify: verifyPbx,
  decode: decodePbx,
  payload: PbxRequestSchema,
  decide: (p, _e, ctx) => {
    if (!isLookup(p)) return { kind: 'event' };
    const phone = callerNumber(p, ctx?.defaultRegion ?? 'RU');
    // An unparseable number or no gateway context (offline normalise): the PBX's own default route.
    if (!ctx || !phone) return { kind: 'query', reply: DEFAULT_ROUTE, respond: async () => DEFAULT_ROUTE };
    return { kind: 'query', reply: DEFAULT_ROUTE, deadlineMs: ctx.settings.lookupDeadlineMs, respond: async () => lookupReply(await ctx.lookupCaller(phone)) };
  },
  eventId: (p) => (isLookup(p) ? undefined : p.event_id),
  // A lookup is answered at the edge and never stored, so it never reaches the worker.
  normalise: (p, ctx) => (isLookup(p) ? [{ kind: 'ignored', reason: { code: 'pbx:lookup', detail: 'a caller lookup is answered at the gateway, not delivered' } }] : normalisePbx(p, ctx)),
});
