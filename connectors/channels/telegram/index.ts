/**
 * Telegram bot as a lead channel: Bot API webhook → verify the secret header → enqueue → normalise in a
 * worker; the same worker replies through bot.ts. See README.md for setting up a bot.
 */
import { decodeJson, defineChannel } from '#sdk';
import { normaliseUpdate } from './normalise.ts';
import { TgUpdateSchema, type TgUpdate } from './payload.ts';
import { TelegramSettingsSchema, type TelegramSettings } from './settings.ts';
import { verifyTelegram } from './verify.ts';
import { openTelegramFile, respondTelegram } from './respond.ts';

export const telegram = defineChannel<TgUpdate, TelegramSettings>({
  id: 'telegram',
  kind: 'messenger',
  title: 'Telegram',
  settings: TelegramSettingsSchema,
  intake: { mode: 'webhook', methods: ['POST'] },
  requiresSecret: true,
  verify: verifyTelegram,
  // A real JSON parser: Telegram's body may hold a newline after `"update_id":N,`.
  decode: (e) => decodeJson(e.body),
  payload: TgUpdateSchema,
  // The gateway namespaces event ids by source (Keys.idem(sourceId, …)), so the update id suffices here;
  // outcomes carry `tg:<sourceId>:<update_id>` as their externalId.
  eventId: (p) => `tg:${p.update_id}`,
  normalise: normaliseUpdate,
  // The worker runs the bot over the stored update: /start → greeting + phone button, own contact → thanks.
  respond: respondTelegram,
  // Photos/documents: CRM notes link `<publicUrl>/files/telegram/<sourceId>/<file_id>?sig=…`, never a token URL.
  files: { open: openTelegramFile },
});

export default telegram;
