/**
 * The connector's `respond` and `files` hooks: the worker runs the bot (bot.ts) over a stored update, and the
 * gateway fetches a photo/document by its file_id for a signed hub link. Both need the bot token, read from the
 * env var the source names (`tokenEnv`); neither ever writes the token or a Bot API file URL anywhere.
 */
import { Readable } from 'node:stream';
import { createReadStream } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Telegram, TelegramError, type Telegraf } from 'telegraf';
import type { Update } from 'telegraf/types';
import { RespondError, type FileContext, type OpenedFile, type RespondContext } from '#sdk';
import { createLeadBot, isTelegramPermanent, telegramRetryAfterMs } from './bot.ts';
import type { TgUpdate } from './payload.ts';
import type { TelegramSettings } from './settings.ts';

/** One bot per source, token and API root: telegraf keeps its HTTP agent and botInfo between updates. */
const bots = new Map<string, Telegraf>();

export function botToken(settings: TelegramSettings, env: Readonly<Record<string, string | undefined>>): string {
  const token = env[settings.tokenEnv];
  if (!token) throw new RespondError(`settings.tokenEnv: ${settings.tokenEnv} is empty; set it to the bot token from @BotFather`, { permanent: true });
  return token;
}

function botFor(sourceId: string, settings: TelegramSettings, token: string): Telegraf {
  const key = `${sourceId}\n${token}\n${settings.apiRoot}`;
  let bot = bots.get(key);
  if (!bot) {
    const id = Number(token.split(':')[0]);
    bot = createLeadBot({
      token,
      apiRoot: settings.apiRoot,
      texts: settings.texts,
      // With the username configured, no getMe round trip is needed (the id is the token's prefix).
      ...(settings.botUsername && Number.isSafeInteger(id) ? { botInfo: { id, is_bot: true, first_name: settings.botUsername, username: settings.botUsername, can_join_groups: false, can_read_all_group_messages: false, supports_inline_queries: false } } : {}),
    });
    bots.set(key, bot);
  }
  return bot;
}

/**
 * `bot.handleUpdate(update)` without a response object: every reply is a real Bot API call whose error reaches
 * here. 429 → retry after Telegram's `retry_after`; blocked / chat not found → permanent; others → retry.
 */
export async function respondTelegram(update: TgUpdate, ctx: RespondContext<TelegramSettings>): Promise<void> {
  const bot = botFor(ctx.source.sourceId, ctx.settings, botToken(ctx.settings, ctx.env));
  try {
    // TgUpdateSchema validated the parts we read and kept the rest: it is the Update Telegram sent.
    await bot.handleUpdate(update as unknown as Update);
  } catch (err) {
    const retryAfterMs = telegramRetryAfterMs(err);
    if (retryAfterMs !== undefined) throw new RespondError('Telegram rate limit (429)', { permanent: false, retryAfterMs, cause: err });
    if (isTelegramPermanent(err)) throw new RespondError(`Telegram refused: ${(err as TelegramError).description}`, { permanent: true, cause: err });
    throw new RespondError(`Bot API call failed: ${err instanceof TelegramError ? err.description : (err as Error).message}`, { permanent: false, cause: err });
  }
}

/** getFile → download from the Bot API file URL (which holds the token: fetched here, never shown). */
export async function openTelegramFile(fileId: string, ctx: FileContext<TelegramSettings>): Promise<OpenedFile | null> {
  const tg = new Telegram(botToken(ctx.settings, ctx.env), { apiRoot: ctx.settings.apiRoot });
  let file;
  try {
    file = await tg.getFile(fileId);
  } catch (err) {
    if (err instanceof TelegramError && err.code === 400) return null; // "invalid file_id"
    throw err;
  }
  if (!file.file_path) return null;
  const url = await tg.getFileLink(file);
  const name = basename(file.file_path);
  const sizeBytes = file.file_size;
  // A local Bot API server (`--local`) answers with an absolute path on its own disk.
  if (url.protocol === 'file:') return { body: createReadStream(fileURLToPath(url)), name, ...(sizeBytes !== undefined ? { sizeBytes } : {}), contentType: guessType(name) };
  const res = await fetch(url, { signal: AbortSignal.timeout(30_000) });
  if (res.status === 404) return null;
  if (!res.ok || !res.body) throw new Error(`Bot API file download answered ${res.status}`);
  const type = res.headers.get('content-type');
  return {
    body: Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>),
    name,
    ...(sizeBytes !== undefined ? { sizeBytes } : {}),
    contentType: type && type !== 'application/octet-stream' ? type : guessType(name),
  };
}

/** Telegram serves everything as octet-stream; the extension of its file_path says more. */
function guessType(name: string): string {
  const ext = /\.([a-z0-9]+)$/i.exec(name)?.[1]?.toLowerCase();
  const types: Record<string, string> = { jpg: 'image/jpeg', jpeg: 'image/jpeg', png: 'image/png', webp: 'image/webp', gif: 'image/gif', pdf: 'application/pdf', oga: 'audio/ogg', ogg: 'audio/ogg', mp3: 'audio/mpeg', mp4: 'video/mp4', txt: 'text/plain' };
  return (ext && types[ext]) || 'application/octet-stream';
}
