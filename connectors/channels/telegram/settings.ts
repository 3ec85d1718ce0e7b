import { z } from 'zod';

const EnvName = z.string().regex(/^[A-Z][A-Z0-9_]*$/, 'an environment variable name like TELEGRAM_BOT_TOKEN');

/** What the bot says. Russian by default; override per source. */
export const BotTextsSchema = z.object({
  /** Answer to `/start`, sent with the phone button. */
  greeting: z.string().min(1).default('Здравствуйте! Напишите ваш вопрос или оставьте номер телефона, и менеджер свяжется с вами.'),
  /** The reply-keyboard button that shares the user's own number. */
  phoneButton: z.string().min(1).max(64).default('Отправить номер телефона'),
  /** After the user shared their own number. */
  thanks: z.string().min(1).default('Спасибо! Менеджер свяжется с вами в ближайшее время.'),
  /** After a forwarded card of somebody else. */
  ownNumberPlease: z.string().min(1).default('Это чужой контакт. Чтобы оставить свой номер, нажмите кнопку ниже.'),
});
export type BotTexts = z.infer<typeof BotTextsSchema>;

/**
 * Per-source settings of a Telegram bot. The webhook secret is the source's own `secretEnv`
 * (it goes to setWebhook as `secret_token`); the token is named here by env var, never inline.
 */
export const TelegramSettingsSchema = z.object({
  /** Bot username without `@`, e.g. `acme_leads_bot`: used for deep links and as the lead's form name. */
  botUsername: z
    .string()
    .regex(/^@?[A-Za-z][A-Za-z0-9_]{3,31}$/, 'a Telegram bot username like acme_leads_bot')
    .transform((s) => s.replace(/^@/, ''))
    .optional(),
  /** Env var holding the bot token from @BotFather (`<bot id>:<secret>`). @defaultValue TELEGRAM_BOT_TOKEN */
  tokenEnv: EnvName.default('TELEGRAM_BOT_TOKEN'),
  /** Bot API origin; set only for a local Bot API server or tests. @defaultValue https://api.telegram.org */
  apiRoot: z.url().default('https://api.telegram.org'),
  texts: BotTextsSchema.prefault({}),
});
export type TelegramSettings = z.infer<typeof TelegramSettingsSchema>;
