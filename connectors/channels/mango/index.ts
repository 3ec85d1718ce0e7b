import { defineChannel } from '#sdk';
import { decodeMango, MangoPayloadSchema, type MangoPayload } from './payload.ts';
import { MangoSettingsSchema, type MangoSettings } from './settings.ts';
import { verifyMango } from './verify.ts';
import { mangoEventId, normaliseMango } from './normalise.ts';
import { resolveMangoRecording } from './recordings.ts';

/**
 * Mango Office VPBX. The admin registers `https://<hub>/hooks/mango/<sourceId>` as the API base URL;
 * Mango appends `/events/call`, `/events/summary`, `/events/recording`, `/events/dtmf`, `/ping`….
 */
export const mangoChannel = defineChannel<MangoPayload, MangoSettings>({
  id: 'mango',
  kind: 'telephony',
  title: 'Mango Office',
  settings: MangoSettingsSchema,
  // GET only matters for /ping (the cabinet's check may use either); events are POSTs and fail verify otherwise.
  intake: { mode: 'webhook', methods: ['POST', 'GET'] },
  requiresSecret: true,
  verify: verifyMango,
  decode: decodeMango,
  payload: MangoPayloadSchema,
  eventId: (p) => mangoEventId(p),
  decide: (p) =>
    p.path === '/ping'
      ? { kind: 'handshake', reply: { status: 200, contentType: 'application/json', body: '{"success":true}' } }
      : { kind: 'event' },
  recordings: { resolve: resolveMangoRecording },
  normalise: normaliseMango,
});
