import { defineChannel } from '#sdk';
import { decodePbx, PbxEventSchema, type PbxEvent } from './payload.ts';
import { PbxSettingsSchema, type PbxSettings } from './settings.ts';
import { verifyPbx } from './verify.ts';
import { normalisePbx } from './normalise.ts';

/** Generic signed JSON for Asterisk/FreePBX and any PBX with a small agent: `POST /hooks/pbx/<sourceId>`. */
export const pbxChannel = defineChannel<PbxEvent, PbxSettings>({
  id: 'pbx',
  kind: 'telephony',
  title: 'Generic PBX (Asterisk/FreePBX)',
  settings: PbxSettingsSchema,
  intake: { mode: 'webhook', methods: ['POST'] },
  requiresSecret: true,
  verify: verifyPbx,
  decode: decodePbx,
  payload: PbxEventSchema,
  eventId: (p) => p.event_id,
  normalise: normalisePbx,
});
