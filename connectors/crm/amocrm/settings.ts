/**
 * Settings of one amoCRM/Kommo account (`crm[].settings` in leadgate.yaml). Secrets are named by env var,
 * never written inline. Reference: /work/shared/reference/amocrm.md §1.
 */
import { z } from 'zod';

const EnvName = z.string().regex(/^[A-Z][A-Z0-9_]*$/, 'an environment variable name like AMO_TOKEN');

/** `https://<sub>.amocrm.ru`, `.amocrm.com` (older international accounts) or `.kommo.com`; plain http only on loopback (emulator). */
const ACCOUNT_HOST = /^https:\/\/(?!www\.)[a-z0-9][a-z0-9-]*\.(amocrm\.ru|amocrm\.com|kommo\.com)$/;
const LOOPBACK = /^http:\/\/(127\.0\.0\.1|localhost)(:\d+)?$/;

export const BaseUrlSchema = z
  .string()
  .transform((s) => s.trim().replace(/\/+$/, '').toLowerCase())
  .refine((s) => ACCOUNT_HOST.test(s) || LOOPBACK.test(s), {
    message: 'the account address like https://acme.amocrm.ru or https://acme.kommo.com (never www.; http only for 127.0.0.1)',
  });

const UserId = z.union([z.number().int().positive(), z.string().regex(/^\d+$/, 'a numeric amoCRM user id')]).transform(String);

export const AmoSettingsSchema = z
  .strictObject({
    /** Account address; the API lives under `<baseUrl>/api/v4`. */
    baseUrl: BaseUrlSchema,
    /** `long-lived`: a private integration's long-lived token; `oauth`: access/refresh pair kept in Redis. */
    auth: z.enum(['long-lived', 'oauth']),
    /** Env var holding the long-lived token (auth: long-lived). */
    tokenEnv: EnvName.optional(),
    /** Integration id (auth: oauth). */
    clientId: z.string().min(1).optional(),
    /** Env var holding the integration's secret key (auth: oauth). */
    clientSecretEnv: EnvName.optional(),
    /** Redirect URI exactly as entered in the integration (auth: oauth). */
    redirectUri: z.url().optional(),
    /** Env var with a refresh token to start from when Redis holds none yet (auth: oauth). */
    initialRefreshTokenEnv: EnvName.optional(),
    /** Pipeline (name or id) whose "Неразобранное" takes new leads. @defaultValue the main pipeline */
    pipeline: z.string().min(1).optional(),
    /** Responsible user of new leads and contacts. @defaultValue the token's user */
    responsibleUserId: UserId.optional(),
    /** `source_uid` of Unsorted items. @defaultValue `leadgate-<sourceId>` */
    unsortedSourceUid: z.string().min(1).max(100).optional(),
    /** Per-request timeout, ms. @defaultValue 10 000 */
    timeoutMs: z.number().int().min(1_000).max(120_000).optional(),
    /** Whole-account pause after repeated 429s, ms. @defaultValue 60 000 */
    rateLimitPauseMs: z.number().int().min(1_000).max(3_600_000).optional(),
    /** Whole-account pause after a 403 HTML block page, ms (the block is lifted only by amoCRM support). @defaultValue 600 000 */
    blockPauseMs: z.number().int().min(10_000).max(24 * 3_600_000).optional(),
  })
  .superRefine((s, ctx) => {
    const need = (key: 'tokenEnv' | 'clientId' | 'clientSecretEnv' | 'redirectUri', why: string): void => {
      if (s[key] === undefined) ctx.addIssue({ code: 'custom', path: [key], message: `${key} is required with auth: ${s.auth} (${why})` });
    };
    if (s.auth === 'long-lived') need('tokenEnv', 'the env var holding the long-lived token');
    if (s.auth === 'oauth') {
      need('clientId', "the integration's id");
      need('clientSecretEnv', "the env var holding the integration's secret key");
      need('redirectUri', "the integration's redirect URI");
    }
  });

export type AmoSettings = z.infer<typeof AmoSettingsSchema>;

export const DEFAULTS = {
  timeoutMs: 10_000,
  rateLimitPauseMs: 60_000,
  blockPauseMs: 600_000,
} as const;
