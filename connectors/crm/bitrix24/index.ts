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
  // Leaky bucket per portal and IP (sheet §2): 2 req/s, burst 50; Enterprise plans 5 req/s, burst 250. A batch counts once.
  limits: (s) => (s.plan === 'enterprise' ? { perSecond: 5, burst: 250 } : { perSecond: 2, burst: 50 }),
  classify: (err) => classifyBitrix(err),
  authorize,
  onUnauthorized,
  inspect,
  checkMapping,
  deliver,
  lookupPhone: (io, s, phoneE164) => lookupCaller(createBitrixClient(io, s), phoneE164),
});
