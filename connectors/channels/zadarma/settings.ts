import { z } from 'zod';
import { isTimeZone } from './time.ts';

/**
 * Synchronous routing reply to NOTIFY_START / NOTIFY_IVR ("who takes this call", telephony.md §2.6).
 * The hook is here so configs can name it, but it is not wired yet: the reply needs a CRM lookup that the
 * gateway's `decide` (synchronous, no settings) cannot make. Until then every event gets 200 with an empty
 * body, which Zadarma reads as "run the default scenario". See routing.ts for the reply builder.
 */
export const ZadarmaRoutingSchema = z
  .object({
    /** @defaultValue false */
    enabled: z.boolean().default(false),
    /** Seconds the personal manager rings before the call returns to the menu (0 = never returns). @defaultValue 20 */
    returnTimeoutSec: z.number().int().min(0).max(600).default(20),
    /** Show the CRM contact name on the manager's phone (`caller_name`). @defaultValue true */
    callerName: z.boolean().default(true),
  })
  .refine((r) => !r.enabled, { message: 'routing replies are not implemented yet; leave routing.enabled false', path: ['enabled'] });

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
  routing: ZadarmaRoutingSchema.default({ enabled: false, returnTimeoutSec: 20, callerName: true }),
});
export type ZadarmaSettings = z.infer<typeof ZadarmaSettingsSchema>;
