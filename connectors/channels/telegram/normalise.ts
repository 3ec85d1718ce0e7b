/**
 * Telegram Update → outcomes. Pure: whether a chat already has a lead lives in Redis, so this never
 * decides it. The design (README.md "Threads and the first message"):
 *   - `/start [payload]` in a private chat → `lead` (carries the deep-link attribution code);
 *   - every other private text/photo/document/contact/… → `message` with `fallbackTitle`; the pipeline
 *     notes it on the chat's lead, or opens the lead from it when the chat has none yet;
 *   - groups, channels, service messages, edits, button presses, (un)blocking → `ignored` with a code.
 * Either way a chat gets exactly one lead: the pipeline resolves both kinds through one per-thread lookup.
 */
import { parsePhone, type Attachment, type Contact, type ExtraField, type NormaliseContext, type Outcome } from '#sdk';
import { isAttributionCode, parseStartCommand } from './deeplink.ts';
import { updateKind, type TgFile, type TgMessage, type TgUpdate, type TgUser } from './payload.ts';
import type { TelegramSettings } from './settings.ts';

type Ctx = NormaliseContext<TelegramSettings>;

/** Message keys that mark a service message (joins, pins, topics, payments…), not something a person wrote. */
const SERVICE_KEYS = [
  'new_chat_members', 'left_chat_member', 'new_chat_title', 'new_chat_photo', 'delete_chat_photo', 'group_chat_created',
  'supergroup_chat_created', 'channel_chat_created', 'message_auto_delete_timer_changed', 'migrate_to_chat_id',
  'migrate_from_chat_id', 'pinned_message', 'successful_payment', 'users_shared', 'chat_shared', 'write_access_allowed',
  'proximity_alert_triggered', 'forum_topic_created', 'forum_topic_edited', 'forum_topic_closed', 'forum_topic_reopened',
  'general_forum_topic_hidden', 'general_forum_topic_unhidden', 'video_chat_scheduled', 'video_chat_started',
  'video_chat_ended', 'video_chat_participants_invited', 'web_app_data', 'boost_added', 'giveaway_created',
] as const;

/** Non-photo media that become attachments, with the content type to assume when Telegram gives none. */
const MEDIA_KEYS = { document: undefined, voice: 'audio/ogg', audio: undefined, video: 'video/mp4', video_note: 'video/mp4', animation: 'video/mp4' } as const;

export function telegramThreadKey(sourceId: string, chatId: number): string {
  return `telegram:${sourceId}:${chatId}`;
}

export function normaliseUpdate(u: TgUpdate, ctx: Ctx): Outcome[] {
  if (u.message) return normaliseMessage(u.update_id, u.message, ctx);
  if (u.edited_message) {
    // The original already became a note; an edit must never open a lead (and FollowUp has no "edit" kind).
    return ignored('telegram:edited-message', `message ${u.edited_message.message_id} edited in a ${u.edited_message.chat.type} chat`);
  }
  if (u.channel_post || u.edited_channel_post) return ignored('telegram:channel-post', 'posts in channels are not customer messages');
  if (u.callback_query) return ignored('telegram:callback-query', 'inline button press; the bot worker answers it (answerCallbackQuery)');
  const member = u.my_chat_member ?? u.chat_member;
  if (member) {
    const to = member.new_chat_member.status;
    const code = member.chat.type === 'private' && to === 'kicked' ? 'telegram:bot-blocked' : member.chat.type === 'private' && to === 'member' ? 'telegram:bot-unblocked' : 'telegram:chat-member';
    return ignored(code, `${member.old_chat_member.status} → ${to} in a ${member.chat.type} chat`);
  }
  if (u.business_message || u.edited_business_message) return ignored('telegram:business-message', 'Telegram Business messages are not handled in v1');
  return ignored('telegram:unsupported-update', `update kind "${updateKind(u)}"`);
}

function normaliseMessage(updateId: number, m: TgMessage, ctx: Ctx): Outcome[] {
  const service = SERVICE_KEYS.find((k) => k in m);
  if (service) return ignored('telegram:service-message', `${service} in a ${m.chat.type} chat`);
  if (m.chat.type !== 'private') return ignored('telegram:group-chat', `message in a ${m.chat.type} chat; only private chats with the bot become leads`);
  if (!m.from || m.from.is_bot) return ignored('telegram:from-bot', 'message without a human sender');

  const from = m.from;
  const base = {
    source: ctx.source,
    externalId: `tg:${ctx.source.sourceId}:${updateId}`,
    threadKey: telegramThreadKey(ctx.source.sourceId, m.chat.id),
    occurredAt: new Date(m.date * 1000).toISOString(),
  };
  const title = titleFor(from);

  const start = parseStartCommand(m.text);
  if (start) {
    const fields: ExtraField[] = [profileField(from)];
    if (start.payload !== undefined) {
      fields.push(
        isAttributionCode(start.payload)
          ? { key: 'attribution_code', label: 'Код источника (ссылка t.me)', value: start.payload }
          : { key: 'start_payload', label: 'Параметр ссылки /start', value: start.payload },
      );
    }
    const bot = ctx.settings.botUsername;
    return [
      {
        kind: 'lead',
        lead: {
          ...base,
          ...(bot ? { formName: `@${bot}` } : {}),
          contact: contactOf(from, [], []),
          title,
          utm: {},
          tracking: {},
          fields,
          attachments: [],
        },
      },
    ];
  }

  const content = contentOf(m, from, ctx);
  if (!content) return ignored('telegram:unsupported-message', `private message with ${messageKeys(m)}`);
  return [
    {
      kind: 'message',
      message: { ...base, relatedThreadKeys: [], contact: contactOf(from, content.ownPhones, content.ownUnparsed), text: content.text, attachments: content.attachments, fallbackTitle: title, ...(content.ownPhones.length ? { sharedOwnDetails: true as const } : {}) },
    },
  ];
}

interface Content {
  text: string;
  attachments: Attachment[];
  /** The sender's own number, from a contact they shared via the request_contact button. */
  ownPhones: string[];
  /** The same when it could not be parsed, kept verbatim. */
  ownUnparsed: string[];
}

function contentOf(m: TgMessage, from: TgUser, ctx: Ctx): Content | undefined {
  const caption = m.caption ?? '';
  if (m.contact) {
    const c = m.contact;
    const parsed = parsePhone(c.phone_number, ctx.defaultRegion);
    // Telegram often drops the `+`; a bare international number is what it means.
    const e164 = parsed.e164 ?? parsePhone(`+${c.phone_number.replace(/^\+/, '')}`, ctx.defaultRegion).e164;
    const shown = e164 ?? c.phone_number;
    if (c.user_id !== undefined && c.user_id === from.id) {
      return { text: `Поделился своим номером: ${shown}`, attachments: [], ownPhones: e164 ? [e164] : [], ownUnparsed: e164 ? [] : [c.phone_number] };
    }
    const who = [c.first_name, c.last_name].filter(Boolean).join(' ');
    return { text: `Прислал чужой контакт: ${who}, ${shown} (не номер клиента)`, attachments: [], ownPhones: [], ownUnparsed: [] };
  }
  if (m.text !== undefined) return { text: m.text, attachments: [], ownPhones: [], ownUnparsed: [] };
  if (m.photo && m.photo.length > 0) {
    const largest = m.photo[m.photo.length - 1]!;
    return { text: caption, attachments: [fileAttachment(largest, 'image/jpeg')], ownPhones: [], ownUnparsed: [] };
  }
  for (const [key, fallbackType] of Object.entries(MEDIA_KEYS)) {
    const file = m[key as keyof typeof MEDIA_KEYS];
    if (file) return { text: caption, attachments: [fileAttachment(file, fallbackType)], ownPhones: [], ownUnparsed: [] };
  }
  if (m.sticker) return { text: `[стикер${m.sticker.emoji ? ` ${m.sticker.emoji}` : ''}]`, attachments: [], ownPhones: [], ownUnparsed: [] };
  if (m.location) return { text: `Геолокация: ${m.location.latitude}, ${m.location.longitude}`, attachments: [], ownPhones: [], ownUnparsed: [] };
  return undefined;
}

/** `ref` is the file_id: the worker resolves it to a URL with getFile (URLs expire, ids do not). */
function fileAttachment(f: TgFile, fallbackType: string | undefined): Attachment {
  const contentType = f.mime_type ?? fallbackType;
  return {
    ...(f.file_name ? { name: f.file_name } : {}),
    ...(contentType ? { contentType } : {}),
    ...(f.file_size !== undefined ? { sizeBytes: f.file_size } : {}),
    ref: f.file_id,
  };
}

function contactOf(from: TgUser, phonesE164: string[], phonesUnparsed: string[]): Contact {
  const name = [from.first_name, from.last_name].filter(Boolean).join(' ').trim();
  return {
    ...(name ? { name } : {}),
    phonesE164,
    phonesUnparsed,
    emails: [],
    messenger: { kind: 'telegram', userId: String(from.id), ...(from.username ? { username: from.username } : {}) },
  };
}

function titleFor(from: TgUser): string {
  const name = [from.first_name, from.last_name].filter(Boolean).join(' ').trim() || `id ${from.id}`;
  return `Telegram: ${name}${from.username ? ` (@${from.username})` : ''}`;
}

function profileField(from: TgUser): ExtraField {
  return { key: 'telegram_profile', label: 'Telegram', value: from.username ? `https://t.me/${from.username}` : `tg://user?id=${from.id}` };
}

function messageKeys(m: TgMessage): string {
  const skip = new Set(['message_id', 'from', 'sender_chat', 'chat', 'date', 'entities', 'reply_to_message']);
  return Object.keys(m).filter((k) => !skip.has(k)).join(', ') || 'no content';
}

function ignored(code: string, detail: string): Outcome[] {
  return [{ kind: 'ignored', reason: { code, detail } }];
}
