/**
 * Telegram Bot API `Update`, permissive: the fields we read are checked, everything else passes through
 * (Telegram adds fields every release). https://core.telegram.org/bots/api#update
 * Shapes: forms-telegram-email.md §B2.
 */
import { z } from 'zod';

export const TgUserSchema = z.looseObject({
  id: z.number().int(),
  is_bot: z.boolean(),
  first_name: z.string(),
  last_name: z.string().optional(),
  username: z.string().optional(),
  language_code: z.string().optional(),
});
export type TgUser = z.infer<typeof TgUserSchema>;

export const TgChatSchema = z.looseObject({
  /** Private chats: equals the user id. Groups/supergroups: negative (`-100…`). */
  id: z.number().int(),
  /** `private` | `group` | `supergroup` | `channel`. */
  type: z.string(),
  title: z.string().optional(),
  username: z.string().optional(),
  first_name: z.string().optional(),
  last_name: z.string().optional(),
});
export type TgChat = z.infer<typeof TgChatSchema>;

/** Any file-like object (photo size, document, voice, audio, video, video_note, animation, sticker). */
export const TgFileSchema = z.looseObject({
  file_id: z.string().min(1),
  file_unique_id: z.string().optional(),
  file_name: z.string().optional(),
  mime_type: z.string().optional(),
  file_size: z.number().int().nonnegative().optional(),
});
export type TgFile = z.infer<typeof TgFileSchema>;

export const TgContactSchema = z.looseObject({
  /** Often without `+`, e.g. `79123456789`. */
  phone_number: z.string(),
  first_name: z.string(),
  last_name: z.string().optional(),
  /** Absent when the user forwards somebody else's card. */
  user_id: z.number().int().optional(),
  vcard: z.string().optional(),
});

export const TgEntitySchema = z.looseObject({ type: z.string(), offset: z.number().int(), length: z.number().int() });

export const TgMessageSchema = z.looseObject({
  message_id: z.number().int(),
  /** Absent in channel posts. */
  from: TgUserSchema.optional(),
  sender_chat: TgChatSchema.optional(),
  chat: TgChatSchema,
  /** Unix seconds. */
  date: z.number().int(),
  edit_date: z.number().int().optional(),
  text: z.string().optional(),
  entities: z.array(TgEntitySchema).optional(),
  caption: z.string().optional(),
  /** Sizes of one photo, smallest first. */
  photo: z.array(TgFileSchema).optional(),
  document: TgFileSchema.optional(),
  voice: TgFileSchema.optional(),
  audio: TgFileSchema.optional(),
  video: TgFileSchema.optional(),
  video_note: TgFileSchema.optional(),
  animation: TgFileSchema.optional(),
  sticker: TgFileSchema.extend({ emoji: z.string().optional() }).optional(),
  contact: TgContactSchema.optional(),
  location: z.looseObject({ latitude: z.number(), longitude: z.number() }).optional(),
  /** Recursion is not modelled: we never read inside it. */
  reply_to_message: z.unknown().optional(),
});
export type TgMessage = z.infer<typeof TgMessageSchema>;

export const TgChatMemberUpdatedSchema = z.looseObject({
  chat: TgChatSchema,
  from: TgUserSchema,
  date: z.number().int(),
  old_chat_member: z.looseObject({ status: z.string() }),
  /** `kicked` = the user blocked the bot; `member` = unblocked / started again. */
  new_chat_member: z.looseObject({ status: z.string() }),
});

export const TgCallbackQuerySchema = z.looseObject({
  id: z.string(),
  from: TgUserSchema,
  chat_instance: z.string().optional(),
  data: z.string().optional(),
  message: z.unknown().optional(),
});

/** Update kinds we know by name; any other key still passes (e.g. `poll`, `business_connection`). */
export const KNOWN_UPDATE_KINDS = [
  'message',
  'edited_message',
  'channel_post',
  'edited_channel_post',
  'business_message',
  'edited_business_message',
  'callback_query',
  'my_chat_member',
  'chat_member',
] as const;

export const TgUpdateSchema = z
  .looseObject({
    /** Grows by one per update; the idempotency key within one bot. */
    update_id: z.number().int().nonnegative(),
    message: TgMessageSchema.optional(),
    edited_message: TgMessageSchema.optional(),
    channel_post: TgMessageSchema.optional(),
    edited_channel_post: TgMessageSchema.optional(),
    business_message: TgMessageSchema.optional(),
    edited_business_message: TgMessageSchema.optional(),
    callback_query: TgCallbackQuerySchema.optional(),
    my_chat_member: TgChatMemberUpdatedSchema.optional(),
    chat_member: TgChatMemberUpdatedSchema.optional(),
  })
  .refine((u) => Object.keys(u).some((k) => k !== 'update_id'), {
    message: 'an Update carries one object besides update_id (message, edited_message, callback_query, my_chat_member, …)',
    path: ['message'],
  });
export type TgUpdate = z.infer<typeof TgUpdateSchema>;

/** The update's kind: its one key besides `update_id`. */
export function updateKind(u: TgUpdate): string {
  return Object.keys(u).find((k) => k !== 'update_id') ?? 'unknown';
}
