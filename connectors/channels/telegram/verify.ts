import { type RawEvent, type VerifyContext, type VerifyResult, safeEqual } from '#sdk';

/** Telegram repeats setWebhook's `secret_token` in this header on every delivery (lower-cased here). */
export const SECRET_HEADER = 'x-telegram-bot-api-secret-token';

/** `secret_token` alphabet and length (Bot API setWebhook). */
export const SECRET_TOKEN_PATTERN = /^[A-Za-z0-9_-]{1,256}$/;

/**
 * Fails closed: no configured secret, no header or a different value → rejected. Compares digests in
 * constant time, so neither the value nor its length leaks.
 */
export function verifyTelegram(e: RawEvent, ctx: VerifyContext<unknown>): VerifyResult {
  if (!ctx.secret) {
    return { ok: false, status: 401, reason: 'this Telegram source has no webhook secret: set the source secretEnv and pass it to setWebhook as secret_token' };
  }
  const given = e.headers[SECRET_HEADER];
  if (given === undefined || given === '') return { ok: false, status: 401, reason: 'X-Telegram-Bot-Api-Secret-Token header is missing' };
  if (!safeEqual(given, ctx.secret)) return { ok: false, status: 403, reason: 'X-Telegram-Bot-Api-Secret-Token does not match this source' };
  return { ok: true };
}

