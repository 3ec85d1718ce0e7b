import { defineChannel } from '#sdk';
import { decodeUis, UisNotificationSchema, type UisNotification } from './payload.ts';
import { UisSettingsSchema, type UisSettings } from './settings.ts';
import { normaliseUis, uisEventId } from './normalise.ts';

/**
 * UIS / CoMagic / CallGear / Novofon 2.0: admin-defined HTTP notifications with our JSON templates
 * (README.md), posted to `https://<hub>/hooks/uis/<sourceId>?secret=…`. No vendor signature: the gateway's
 * generic check compares the URL secret.
 */
export const uisChannel = defineChannel<UisNotification, UisSettings>({
  id: 'uis',
  kind: 'telephony',
  title: 'UIS / CoMagic',
  settings: UisSettingsSchema,
  intake: { mode: 'webhook', methods: ['POST', 'GET'] },
  // Unsigned calls would let anyone write fake calls into the CRM: a URL secret is mandatory.
  requiresSecret: true,
  decode: decodeUis,
  payload: UisNotificationSchema,
  eventId: (p) => uisEventId(p),
  normalise: normaliseUis,
});
