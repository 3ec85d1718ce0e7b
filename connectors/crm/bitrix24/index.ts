/**
 * Bitrix24 CRM connector: leads (classic mode) or deals (simple mode) with their contact, a timeline comment and
 * a to-do; calls from an external PBX through Bitrix24 telephony; caller-ID lookups.
 * Vendor facts: /work/shared/reference/bitrix24.md; admin guide: ./README.md.
 */
import { defineCrm } from '#sdk';
import { authorize, endpoint, onUnauthorized } from './auth.ts';
import { classifyBitrix } from './classify.ts';
import { createBitrixClient } from './client.ts';
import { deliver } from './deliver.ts';
import { checkMapping, inspect } from './fields.ts';
import { BitrixSettingsSchema, type BitrixSettings } from './settings.ts';
import { lookupCaller } from './steps/lookup.ts';
import { bitrixAssignment } from './steps/reassign.ts';
import { completeTask } from './steps/complete-task.ts';

export const bitrix24Crm = defineCrm<BitrixSettings>({
  id: 'bitrix24',
  title: 'Bitrix24',
  settings: BitrixSettingsSchema,
  // The portal's REST root without the webhook secret: every request the client sends is absolute anyway.
  baseUrl(s) {
    try {
      return `${endpoint(s).origin}/rest/`;
    } catch {
      return ''; // the webhook env var is unset: every request then fails with a config error naming it
    }
  },
  // The portal's leaky bucket (sheet §2) drains 2 req/s and refuses past 50 (Enterprise: 5/s, 250), per portal and
  // IP, shared with every other app. Our bucket stops 10 short (Enterprise: 50): with exactly 50, requests that
  // leave evenly spaced but arrive bunched (network jitter) overflow the portal's bucket. A batch counts once.
  limits: (s) => (s.plan === 'enterprise' ? { perSecond: 5, burst: 200 } : { perSecond: 2, burst: 40 }),
  classify: (err) => classifyBitrix(err),
  authorize,
  onUnauthorized,
  inspect,
  checkMapping,
  deliver,
  lookupPhone: (io, s, phoneE164) => lookupCaller(createBitrixClient(io, s), phoneE164),
  ...bitrixAssignment,
  completeTask,
});
