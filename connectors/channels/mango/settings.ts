import { z } from 'zod';

/** Per-source settings. The source's secret (`secretEnv`) is the `vpbx_api_salt` ("Подпись" in the cabinet). */
export const MangoSettingsSchema = z.object({
  /**
   * `vpbx_api_key`, the PBX's "Уникальный код АТС" from the cabinet. Not a secret on its own (Mango sends it
   * in every notification), but every request must carry this one: another PBX's events are refused.
   */
  apiKey: z.string().min(1, 'the vpbx_api_key ("Уникальный код АТС") from the Mango cabinet'),
  /**
   * Events whose own time is further than this from our clock are refused, so a captured request cannot be
   * replayed after the idempotency window forgets it. Keep it below `idempotencyTtlDays`.
   * @defaultValue 86400 (one day)
   */
  replayWindowSec: z.number().int().min(60).default(86_400),
  /**
   * Mango's API root; recordings are fetched with `POST <it>/queries/recording/post`, signed with the salt.
   * @defaultValue https://app.mango-office.ru/vpbx
   */
  apiBaseUrl: z.url({ protocol: /^https?$/ }).default('https://app.mango-office.ru/vpbx'),
});
export type MangoSettings = z.infer<typeof MangoSettingsSchema>;
