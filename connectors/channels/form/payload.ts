/**
 * Generic site form: whatever a plain HTML form, a `fetch` from the site or a WordPress webhook plugin posts.
 * There is no vendor schema; the shapes we expect are described in forms-telegram-email.md §A2 and
 * https://contactform7.com/special-mail-tags/ (CF7 default names `your-name`, `your-email`, `your-message`).
 *
 * Permissive on purpose: any keys, strings and numbers mixed, repeated keys as arrays, bracket keys as
 * nested objects. Only the few keys we read as ids must have a usable shape.
 */
import { z } from 'zod';
import { FieldMapSchema, FilesSchema, NameList } from './fields.ts';

const Scalar = z.union([z.string(), z.number()]);
/** A sender id: a string or number; repeated keys (`id=1&id=1`) arrive as an array, the first item counts. */
const IdValue = z.union([Scalar, z.array(Scalar).min(1)]);

export const FormPayloadSchema = z.looseObject({
  event_id: IdValue.optional(),
  submission_id: IdValue.optional(),
  id: IdValue.optional(),
  /** Multipart uploads, described by the decoder (name, type, size); the bytes are not kept. */
  __files: FilesSchema,
});
export type FormPayload = z.infer<typeof FormPayloadSchema>;

/** Per-source settings of the `form` connector (`sources[].settings` in the config). */
export const FormSettingsSchema = z.strictObject({
  /** Field names per role when the form does not use the defaults (see README). */
  fields: FieldMapSchema.optional(),
  /**
   * Honeypot inputs: hidden from people, filled by bots. A non-empty one → `ignored` (`form:honeypot`).
   * Set `[]` if your form has a real field with one of these names.
   * @defaultValue ["website", "company_url"]
   */
  honeypot: NameList.default(['website', 'company_url']),
  /** Lead title; `{form}` is the form name. @defaultValue "Заявка с сайта: {form}" */
  title: z.string().min(1).default('Заявка с сайта: {form}'),
  /** Form name to use when the body carries none (`form_name`, `form_id`…). */
  formName: z.string().min(1).optional(),
  /**
   * Thank-you page for plain HTML forms: a browser that posted the form (not `fetch`) gets 303 See Other here
   * once the inquiry is stored, instead of a JSON answer. See README "Thank-you page".
   */
  thankYouUrl: z.url({ protocol: /^https?$/, error: 'expected an absolute http(s) URL such as https://acme.example/spasibo' }).optional(),
  /** Hidden field a page may use to pick its own thank-you URL (only on `redirectOrigins`). @defaultValue "_redirect" */
  redirectField: z.string().min(1).default('_redirect'),
  /** Origins (`https://acme.example`) a page's redirect field may point to; others fall back to `thankYouUrl`. */
  redirectOrigins: z.array(z.url({ protocol: /^https?$/ })).default([]),
});
export type FormSettings = z.infer<typeof FormSettingsSchema>;
