/**
 * Deep links `https://t.me/<bot>?start=<payload>` (forms-telegram-email.md §B3). UTM sets do not fit the
 * 64-char payload, so the site stores the attribution server-side under a short code and puts
 * `src_<code>` in the link; the bot sees `/start src_<code>` and the pipeline resolves it.
 */
import { randomBytes } from 'node:crypto';

/** What Telegram accepts as a `start` payload. */
export const START_PAYLOAD_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
/** Prefix of our attribution codes. */
export const ATTRIBUTION_PREFIX = 'src_';
/** Random bytes in a minted code: 12 → 16 base64url chars, 20 with the prefix. @defaultValue 12 */
export const ATTRIBUTION_RANDOM_BYTES = 12;

const BOT_USERNAME = /^[A-Za-z][A-Za-z0-9_]{3,31}$/;

/**
 * A fresh attribution code, `src_` + base64url of random bytes. Pass `random` in tests for a fixed value.
 * @param bytes 1–45 (the code must stay within 64 chars).
 */
export function mintAttributionCode(random: (n: number) => Uint8Array = randomBytes, bytes = ATTRIBUTION_RANDOM_BYTES): string {
  if (!Number.isInteger(bytes) || bytes < 1 || bytes > 45) throw new RangeError(`bytes: expected 1–45, received ${bytes}`);
  const b = random(bytes);
  if (b.length !== bytes) throw new RangeError(`random source returned ${b.length} bytes, expected ${bytes}`);
  return ATTRIBUTION_PREFIX + Buffer.from(b).toString('base64url');
}

export function isAttributionCode(payload: string): boolean {
  return payload.startsWith(ATTRIBUTION_PREFIX) && payload.length > ATTRIBUTION_PREFIX.length && START_PAYLOAD_PATTERN.test(payload);
}

/** `https://t.me/<bot>?start=<payload>`; throws on a username or payload Telegram would not accept. */
export function buildStartLink(botUsername: string, payload: string): string {
  const bot = botUsername.replace(/^@/, '');
  if (!BOT_USERNAME.test(bot)) throw new RangeError(`botUsername: "${botUsername}" is not a Telegram username (5–32 chars, letters, digits, _)`);
  if (!START_PAYLOAD_PATTERN.test(payload)) throw new RangeError(`payload: expected 1–64 chars of A-Z a-z 0-9 _ -, received ${payload.length} chars`);
  return `https://t.me/${bot}?start=${payload}`;
}

/**
 * `/start`, `/start <payload>` or `/start@bot <payload>` → `{ payload }` (undefined when none); any other
 * text → undefined. A payload outside Telegram's alphabet is dropped (someone typed it by hand).
 */
export function parseStartCommand(text: string | undefined): { payload: string | undefined } | undefined {
  const m = /^\/start(?:@[A-Za-z0-9_]+)?(?:\s+(\S+))?\s*$/.exec(text ?? '');
  if (!m) return undefined;
  const payload = m[1];
  return { payload: payload !== undefined && START_PAYLOAD_PATTERN.test(payload) ? payload : undefined };
}
