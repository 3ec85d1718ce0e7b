/**
 * Settings of one Bitrix24 portal (`crm[].settings` in leadgate.yaml). Secrets are named by env var, never
 * written inline. Reference: /work/shared/reference/bitrix24.md §1 (auth), §2 (limits), §4.7 (CRM mode).
 */
import { z } from 'zod';

const EnvName = z.string().regex(/^[A-Z][A-Z0-9_]*$/, 'an environment variable name like B24_WEBHOOK_URL');

/** Plain http only for loopback (the emulator); the portal refuses http with `400 INVALID_REQUEST "Https required"`. */
const LOOPBACK = /^http:\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d+)?$/;
const HTTPS_ORIGIN = /^https:\/\/[a-z0-9][a-z0-9.-]*[a-z0-9](:\d+)?$/;

export const PortalUrlSchema = z
  .string()
  .transform((s) => s.trim().replace(/\/+$/, '').toLowerCase())
  .refine((s) => HTTPS_ORIGIN.test(s) || LOOPBACK.test(s), {
    message: 'the portal address like https://acme.bitrix24.ru (no path; http only for 127.0.0.1)',
  });

const UserId = z.union([z.number().int().positive(), z.string().regex(/^\d+$/, 'a numeric Bitrix24 user id')]).transform(String);
const StatusId = z.string().min(1).max(50);

export const BitrixSettingsSchema = z
  .strictObject({
    /** `webhook`: an inbound webhook URL (one portal, simplest); `oauth`: a local "API only" app (needed for telephony per the docs). */
    auth: z.enum(['webhook', 'oauth']),
    /** Env var holding the inbound webhook URL `https://<portal>/rest/<user>/<code>/` (auth: webhook). */
    webhookUrlEnv: EnvName.optional(),
    /** Portal address, e.g. `https://acme.bitrix24.ru` (auth: oauth). */
    portalUrl: PortalUrlSchema.optional(),
    /** Local app's `client_id` (`local.xxxxxxxx.xxxxxxxx`) (auth: oauth). */
    clientId: z.string().min(1).optional(),
    /** Env var holding the local app's `client_secret` (auth: oauth). */
    clientSecretEnv: EnvName.optional(),
    /**
     * Env var with a refresh token to start from (from the app's `ONAPPINSTALL` callback). Putting a new value
     * there and restarting re-seeds the stored tokens (auth: oauth).
     */
    initialRefreshTokenEnv: EnvName.optional(),
    /** OAuth token server. @defaultValue https://oauth.bitrix.info/oauth/token/ */
    tokenUrl: z.url().optional(),
    /** `classic` (leads) or `simple` (deals only); `auto` asks `crm.settings.mode.get` at start-up. @defaultValue auto */
    mode: z.enum(['auto', 'classic', 'simple']).optional(),
    /** Deal pipeline (category id) new deals go to in simple mode; a source's `pipeline` overrides it. @defaultValue 0 (general) */
    dealCategoryId: z.number().int().min(0).optional(),
    /** `SOURCE_ID` of new leads/deals/contacts; the mapping field `SOURCE_ID` overrides it. @defaultValue WEB */
    sourceId: StatusId.optional(),
    /** `SOURCE_ID` (`CRM_SOURCE`) of records created for unknown callers. @defaultValue CALL */
    callSourceId: StatusId.optional(),
    /** Responsible user of new records (`ASSIGNED_BY_ID`) and of tasks. @defaultValue the webhook's/app's user */
    responsibleUserId: UserId.optional(),
    /** Per-request timeout, ms (the portal cuts requests at 60 s). @defaultValue 20 000 */
    timeoutMs: z.number().int().min(1_000).max(120_000).optional(),
    /** Rate plan: `enterprise` portals drain 5 req/s with a burst of 250, all others 2 req/s, burst 50. @defaultValue standard */
    plan: z.enum(['standard', 'enterprise']).optional(),
  })
  .superRefine((s, ctx) => {
    const need = (key: 'webhookUrlEnv' | 'portalUrl' | 'clientId' | 'clientSecretEnv' | 'initialRefreshTokenEnv', why: string): void => {
      if (s[key] === undefined) ctx.addIssue({ code: 'custom', path: [key], message: `${key} is required with auth: ${s.auth} (${why})` });
    };
    if (s.auth === 'webhook') need('webhookUrlEnv', 'the env var holding the inbound webhook URL');
    if (s.auth === 'oauth') {
      need('portalUrl', 'the portal address like https://acme.bitrix24.ru');
      need('clientId', "the local app's client_id");
      need('clientSecretEnv', "the env var holding the local app's client_secret");
      need('initialRefreshTokenEnv', 'the env var holding the first refresh token from the install callback');
    }
  });

export type BitrixSettings = z.infer<typeof BitrixSettingsSchema>;

export const DEFAULTS = {
  tokenUrl: 'https://oauth.bitrix.info/oauth/token/',
  sourceId: 'WEB',
  callSourceId: 'CALL',
  timeoutMs: 20_000,
  /** Written into ORIGINATOR_ID of everything we create; ORIGIN_ID holds the delivery's id. */
  originatorId: 'leadgate',
} as const;

/** An env var's value, trimmed; undefined when unset or empty. */
export function envValue(name: string | undefined): string | undefined {
  if (!name) return undefined;
  const v = process.env[name]?.trim();
  return v ? v : undefined;
}

export interface WebhookUrl {
  /** `https://acme.bitrix24.ru/rest/1/abc123/`, with the trailing slash; append the method. */
  restBase: string;
  /** `https://acme.bitrix24.ru` */
  origin: string;
  userId: string;
}

const WEBHOOK = /^(https?:\/\/[^/?#]+)\/rest\/(\d+)\/([A-Za-z0-9_-]+)(?:\/[A-Za-z0-9._]*)?\/?$/;

/**
 * Parses the inbound webhook URL as Bitrix24 shows it (`…/rest/1/abc123/`, maybe with an example method such as
 * `profile.json` still at the end). Returns a reason instead of throwing; never echoes the secret.
 */
export function parseWebhookUrl(raw: string): WebhookUrl | { problem: string } {
  const m = WEBHOOK.exec(raw.trim());
  if (!m) return { problem: 'is not an inbound webhook URL like https://acme.bitrix24.ru/rest/1/abc123def456/' };
  const origin = m[1]!.toLowerCase();
  if (!origin.startsWith('https://') && !LOOPBACK.test(origin)) return { problem: 'must use https:// (the portal refuses plain http)' };
  return { restBase: `${origin}/rest/${m[2]}/${m[3]}/`, origin, userId: m[2]! };
}
