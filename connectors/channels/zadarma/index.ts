import { defineChannel, parsePhone } from '#sdk';
import { decodeZadarma, ZadarmaPayloadSchema, type ZadarmaPayload } from './payload.ts';
import { ZadarmaSettingsSchema, type ZadarmaSettings } from './settings.ts';
import { verifyZadarma } from './verify.ts';
import { normaliseZadarma, zadarmaEventId } from './normalise.ts';
import { DEFAULT_REPLY, routingFor, routingReply } from './routing.ts';
import { resolveZadarmaRecording } from './recordings.ts';

/**
 * Zadarma and Novofon 1.0 (`settings.provider: novofon`): "Уведомления о звонках АТС" posted to
 * `https://<hub>/hooks/zadarma/<sourceId>`.
 */
export const zadarmaChannel = defineChannel<ZadarmaPayload, ZadarmaSettings>({
  id: 'zadarma',
  kind: 'telephony',
  title: 'Zadarma / Novofon 1.0',
  settings: ZadarmaSettingsSchema,
  intake: { mode: 'webhook', methods: ['POST', 'GET'] },
  requiresSecret: true,
  verify: verifyZadarma,
  decode: decodeZadarma,
  payload: ZadarmaPayloadSchema,
  eventId: (p) => zadarmaEventId(p),
  decide: (p, _e, ctx) => {
    // The URL check: 200 with exactly the token, nothing else.
    if (p.type === 'echo') return { kind: 'handshake', reply: { status: 200, contentType: 'text/plain; charset=utf-8', body: p.zd_echo } };
    // NOTIFY_START: "who takes this call". The gateway stores the event first, then waits for `respond` at most
    // `deadlineMs`; a miss (or an unknown caller) is the plain 200, which Zadarma reads as "default scenario".
    const routing = ctx?.settings.routing;
    const caller = p.event === 'NOTIFY_START' && p.caller_id ? parsePhone(p.caller_id, ctx?.defaultRegion ?? 'RU').e164 : undefined;
    if (ctx && routing?.enabled && caller) {
      return { kind: 'event', reply: DEFAULT_REPLY, deadlineMs: routing.deadlineMs, respond: async () => routingReply(routingFor(await ctx.lookupCaller(caller), routing)) };
    }
    return { kind: 'event', reply: DEFAULT_REPLY };
  },
  recordings: { resolve: resolveZadarmaRecording },
  normalise: normaliseZadarma,
});
