import { defineChannel } from '#sdk';
import { decodeZadarma, ZadarmaPayloadSchema, type ZadarmaPayload } from './payload.ts';
import { ZadarmaSettingsSchema, type ZadarmaSettings } from './settings.ts';
import { verifyZadarma } from './verify.ts';
import { normaliseZadarma, zadarmaEventId } from './normalise.ts';

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
  decide: (p) => {
    // The URL check: 200 with exactly the token, nothing else.
    if (p.type === 'echo') return { kind: 'handshake', reply: { status: 200, contentType: 'text/plain; charset=utf-8', body: p.zd_echo } };
    // An empty 200 to every event. For NOTIFY_START/NOTIFY_IVR it means "default scenario"; the routing
    // reply (routing.ts, settings.routing) plugs in here once decide can consult a caller lookup.
    return { kind: 'event', reply: { status: 200, contentType: 'text/plain; charset=utf-8', body: '' } };
  },
  normalise: normaliseZadarma,
});
