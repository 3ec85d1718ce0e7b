import { z } from 'zod';
import { isTimeZone } from '#sdk';

/** Per-source settings. The source secret (`secretEnv`) goes in the notification URL as `?secret=`. */
export const UisSettingsSchema = z.object({
  /** Label of the platform in call records. @defaultValue uis */
  provider: z.enum(['uis', 'comagic', 'callgear', 'novofon']).default('uis'),
  /** Account time zone; `start_time`/`notification_time` without an offset are read in it. @defaultValue Europe/Moscow */
  timeZone: z.string().refine(isTimeZone, 'an IANA time zone like Europe/Moscow').default('Europe/Moscow'),
});
export type UisSettings = z.infer<typeof UisSettingsSchema>;
