/**
 * The bot's replies, run in the worker: `await bot.handleUpdate(update)` with no response object, so
 * every reply is a real Bot API call whose errors reach the caller (forms-telegram-email.md §B5).
 * The gateway never mounts telegraf: it checks the secret header, validates and enqueues (index.ts).
 */
import { Markup, Telegraf, TelegramError } from 'telegraf';
import { message } from 'telegraf/filters';
import type { UserFromGetMe } from 'telegraf/types';
import { BotTextsSchema, type BotTexts } from './settings.ts';

/** Update kinds to request in setWebhook (§B1); the rest is noise for a lead bot. */
export const ALLOWED_UPDATES = ['message', 'edited_message', 'callback_query', 'my_chat_member'] as const;

export const DEFAULT_API_ROOT = 'https://api.telegram.org';

export interface LeadBotOptions {
  /** Bot token from @BotFather; read it from the source's `tokenEnv`. */
  token: string;
  /** Bot API origin (a local Bot API server, the test emulator). @defaultValue https://api.telegram.org */
  apiRoot?: string;
  /** Preset identity: skips the `getMe` call telegraf otherwise makes before the first update. */
  botInfo?: UserFromGetMe;
  /** Reply texts; unset keys take the Russian defaults from settings.ts. */
  texts?: Partial<BotTexts>;
  /** Cap on one update's handlers. @defaultValue 30 000 ms (telegraf's own default is 90 000) */
  handlerTimeoutMs?: number;
}

/**
 * A telegraf bot that greets on `/start` with a `request_contact` reply keyboard, thanks the user after
 * they share their own number, asks again after somebody else's card, and answers button presses so
 * they stop spinning. Errors (429, 403 "bot was blocked") are rethrown to the caller, never logged with
 * the update and never set `process.exitCode` (telegraf's default handler does both).
 */
export function createLeadBot(o: LeadBotOptions): Telegraf {
  const texts = BotTextsSchema.parse(o.texts ?? {});
  const bot = new Telegraf(o.token, {
    handlerTimeout: o.handlerTimeoutMs ?? 30_000,
    telegram: { apiRoot: o.apiRoot ?? DEFAULT_API_ROOT, webhookReply: false },
  });
  if (o.botInfo) bot.botInfo = o.botInfo;

  const askPhone = Markup.keyboard([Markup.button.contactRequest(texts.phoneButton)]).oneTime().resize();

  bot.start(async (ctx) => {
    // request_contact keyboards work only in private chats; a /start@bot in a group gets no answer.
    if (ctx.chat.type !== 'private') return;
    await ctx.reply(texts.greeting, askPhone);
  });

  bot.on(message('contact'), async (ctx) => {
    if (ctx.chat.type !== 'private') return;
    if (ctx.message.contact.user_id === ctx.from.id) await ctx.reply(texts.thanks, Markup.removeKeyboard());
    else await ctx.reply(texts.ownNumberPlease, askPhone);
  });

  bot.on('callback_query', async (ctx) => {
    await ctx.answerCbQuery();
  });

  bot.catch((err) => {
    throw err;
  });
  return bot;
}

/** Registers the webhook with our secret and update list. */
export async function registerWebhook(bot: Telegraf, o: { url: string; secretToken: string; dropPendingUpdates?: boolean; maxConnections?: number }): Promise<true> {
  return bot.telegram.setWebhook(o.url, {
    secret_token: o.secretToken,
    allowed_updates: [...ALLOWED_UPDATES],
    drop_pending_updates: o.dropPendingUpdates ?? false,
    max_connections: o.maxConnections ?? 40,
  });
}

/** For the worker's backoff: the wait Telegram asked for on 429, in ms; undefined for other errors. */
export function telegramRetryAfterMs(err: unknown): number | undefined {
  if (!(err instanceof TelegramError) || err.code !== 429) return undefined;
  return (err.parameters?.retry_after ?? 1) * 1000;
}

/** 403 "bot was blocked by the user" / "user is deactivated": retrying will not help. */
export function isTelegramPermanent(err: unknown): boolean {
  return err instanceof TelegramError && (err.code === 403 || (err.code === 400 && /chat not found/i.test(err.description)));
}
