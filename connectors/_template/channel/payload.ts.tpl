/**
 * __TITLE__ webhook payload.
 * Vendor documentation: TODO — paste the link to the sender's webhook reference here
 * (e.g. https://yandex.ru/support/forms/… or https://quiz.marquiz.ru/…) and note which facts you rely on.
 *
 * Describe what the sender really posts, no more: zod rejects a wrong shape with a 4xx naming the field, so
 * be permissive where the sender is sloppy (numbers as strings, empty strings) and strict where we read ids.
 * Keep unknown keys (`looseObject`): a new field in the sender's payload must not break intake.
 */
import { z } from 'zod';

/** A value a person typed: senders send strings, sometimes numbers. */
const Text = z.union([z.string(), z.number()]).transform(String);

export const __PASCAL__PayloadSchema = z.looseObject({
  /**
   * The sender's id of this delivery, stable across its retries: the idempotency key (see `eventId` in index.ts).
   * Without one the gateway falls back to a hash of the body, so an identical resend is still one event.
   */
  id: z.union([z.string().min(1), z.number()]).optional(),
  name: Text.optional(),
  phone: Text.optional(),
  email: z.string().optional(),
  message: Text.optional(),
  /** The page the form was sent from; its query may carry utm_* and click ids. */
  page_url: z.string().optional(),
});
export type __PASCAL__Payload = z.infer<typeof __PASCAL__PayloadSchema>;

/**
 * Per-source settings (`sources[].settings` in leadgate.yaml). Strict: a misspelt key stops start-up instead of
 * being ignored. Secrets are never settings: the source's `secretEnv` names the env var (see README.md).
 */
export const __PASCAL__SettingsSchema = z.strictObject({
  /** Lead title. @defaultValue "Заявка: __TITLE__" */
  title: z.string().min(1).default('Заявка: __TITLE__'),
});
export type __PASCAL__Settings = z.infer<typeof __PASCAL__SettingsSchema>;
