import { z } from 'zod';
import { isTimeZone } from '#sdk';

const EnvName = z.string().regex(/^[A-Z][A-Z0-9_]*$/, 'an environment variable name like ZADARMA_API_KEY');

/**
 * Synchronous routing reply to NOTIFY_START ("who takes this call", telephony.md §2.6): a known caller whose
 * responsible manager has an extension (`crm[].extensions`) is sent to that extension, and the manager's phone
 * shows the CRM name. The event is stored first; the reply must come within `deadlineMs`, else the plain 200
 * (Zadarma's default scenario) goes out.
 */
export const ZadarmaRoutingSchema = z.object({
  /** @defaultValue false */
  enabled: z.boolean().default(false),
  /** Seconds the personal manager rings before the call returns to the menu (0 = never returns). @defaultValue 20 */
  returnTimeoutSec: z.number().int().min(0).max(600).default(20),
  /** Show the CRM contact name on the manager's phone (`caller_name`). @defaultValue true */
  callerName: z.boolean().default(true),
  /**
   * Time from receipt to reply. Zadarma's own deadline is unconfirmed (telephony.md §12.2): stay well below 1–2 s.
   * @defaultValue 800
   */
  deadlineMs: z.number().int().min(50).max(5_000).default(800),
});

/** Per-source settings. The source's secret (`secretEnv`) is the API secret ("Secret" key in the cabinet's API page). */
export const ZadarmaSettingsSchema = z.object({
  /** `novofon` for Novofon 1.0 accounts (same webhooks, api.novofon.ru for recordings). @defaultValue zadarma */
  provider: z.enum(['zadarma', 'novofon']).default('zadarma'),
  /** The account's time zone (cabinet settings); `call_start` is written in it. @defaultValue Europe/Moscow */
  timeZone: z.string().refine(isTimeZone, 'an IANA time zone like Europe/Moscow').default('Europe/Moscow'),
  /**
   * Events whose `call_start` is further than this from our clock are refused (anti-replay). Generous on
   * purpose: the zone may be misconfigured by hours and long calls end hours after they start.
   * @defaultValue 86400 (one day)
   */
  replayWindowSec: z.number().int().min(3600).default(86_400),
  routing: ZadarmaRoutingSchema.prefault({}),
  /**
   * Env var holding the API **key** (the pair of the Secret in `secretEnv`): recordings are fetched with
   * `GET /v1/pbx/record/request/`, signed with both. Unset → recordings are not linked.
   */
  apiKeyEnv: EnvName.optional(),
  /** API host. @defaultValue https://api.zadarma.com (provider zadarma), https://api.novofon.ru (novofon) */
  apiBaseUrl: z.url({ protocol: /^https?$/ }).optional(),
  /** How long a fetched recording link lives (180 s … 60 days); the hub asks for a fresh one on each play. @defaultValue 1800 */
  recordingLinkLifetimeSec: z.number().int().min(180).max(5_184_000).default(1_800),
});
export type ZadarmaSettings = z.infer<typeof ZadarmaSettingsSchema>;
