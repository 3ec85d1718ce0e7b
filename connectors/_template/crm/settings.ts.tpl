/**
 * Settings of one __TITLE__ account (`crm[].settings` in leadgate.yaml). Secrets are named by env var, never
 * written inline. Vendor documentation: TODO — link the API reference (auth, limits, error bodies).
 */
import { z } from 'zod';

const EnvName = z.string().regex(/^[A-Z][A-Z0-9_]*$/, 'an environment variable name like __ENV___TOKEN');

export const __PASCAL__SettingsSchema = z.strictObject({
  /** The account's API address, e.g. `https://acme.example-crm.ru`; plain http only for 127.0.0.1 (an emulator). */
  baseUrl: z
    .string()
    .transform((s) => s.trim().replace(/\/+$/, ''))
    .refine((s) => /^https:\/\//.test(s) || /^http:\/\/(127\.0\.0\.1|localhost)(:\d+)?$/.test(s), { message: 'an https:// address (http only for 127.0.0.1)' }),
  /** Env var holding the API token. */
  tokenEnv: EnvName,
  /** TODO: the vendor's request limit per account. @defaultValue 2 requests per second, burst 10 */
  perSecond: z.number().positive().max(100).default(2),
});
export type __PASCAL__Settings = z.infer<typeof __PASCAL__SettingsSchema>;
