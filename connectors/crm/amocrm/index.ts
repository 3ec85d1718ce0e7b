/**
 * amoCRM / Kommo delivery connector: every inquiry lands in "Неразобранное" (or a named pipeline) once, on the
 * right contact, with its tracking fields, a note with the whole inquiry and a follow-up task.
 * Vendor facts: /work/shared/reference/amocrm.md. Admin guide: ./README.md.
 */
import { defineCrm } from '#sdk';
import { AmoSettingsSchema, type AmoSettings } from './settings.ts';
import { classifyAmo } from './classify.ts';
import { authorize, onUnauthorized } from './auth.ts';
import { checkMapping, inspectAccount } from './fields.ts';
import { deliver, lookupPhone } from './deliver.ts';
import { amoAssignment } from './steps/reassign.ts';
import { completeTask } from './steps/complete-task.ts';

export const amocrm = defineCrm<AmoSettings>({
  id: 'amocrm',
  title: 'amoCRM / Kommo',
  settings: AmoSettingsSchema,
  baseUrl: (s) => s.baseUrl,
  // 7 requests/s per account is the vendor's hard limit (sheet §2); the shared limiter keeps a 7-per-1.1 s window.
  limits: () => ({ perSecond: 7, burst: 7 }),
  classify: (err) => classifyAmo(err),
  authorize: (io, s, req) => authorize(io, s, req),
  onUnauthorized: (io, s) => onUnauthorized(io, s),
  inspect: (io, s) => inspectAccount(io, s),
  checkMapping,
  deliver,
  lookupPhone,
  ...amoAssignment,
  completeTask,
});

export { exchangeAuthCode, oauthCommandExchange } from './auth.ts';
export type { AmoSettings } from './settings.ts';
