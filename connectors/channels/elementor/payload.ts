/**
 * Elementor Pro Forms, "Actions After Submit → Webhook":
 * https://elementor.com/help/actions-after-submit/ (Webhook section). Body shapes, from Elementor Pro's
 * `modules/forms/actions/webhook.php` and `Form_Record` (forms-telegram-email.md §A2):
 * - Advanced Data ON: `form[id]`, `form[name]`, `fields[<custom_id>][id|type|title|value|raw_value|required]`,
 *   `meta[date|time|page_url|page_title|user_agent|remote_ip|credit][title|value]`;
 * - OFF: flat `<field label>=<value>` (unlabelled: `No Label <custom_id>`), meta rows by their titles
 *   (`Page URL`, `Remote IP`…), plus `form_id` and `form_name`.
 * Sent form-urlencoded by `wp_remote_post`; JSON from webhook add-ons is accepted too.
 */
import { z } from 'zod';
import { FieldMapSchema } from '../form/fields.ts';

const Scalar = z.union([z.string(), z.number(), z.boolean(), z.null()]);

export const ElementorFieldSchema = z.looseObject({
  id: Scalar.optional(),
  /** `text`, `email`, `tel`, `textarea`, `hidden`, `upload`, `acceptance`, `honeypot`… */
  type: Scalar.optional(),
  /** The field label. */
  title: Scalar.optional(),
  /** Sanitised value; multi-choice values are already joined with `, `. */
  value: z.union([Scalar, z.array(Scalar)]).optional(),
  raw_value: z.unknown().optional(),
  required: Scalar.optional(),
});
export type ElementorField = z.infer<typeof ElementorFieldSchema>;

const MetaRow = z.looseObject({ title: Scalar.optional(), value: Scalar.optional() });

function arrayToRecord(v: unknown): unknown {
  return Array.isArray(v) ? Object.fromEntries(v.map((item, i) => [String(i), item])) : v;
}

export const ElementorPayloadSchema = z.looseObject({
  form: z.looseObject({ id: Scalar.optional(), name: Scalar.optional() }).optional(),
  // A record keyed by custom id. When every id is numeric qs turns `fields[1]` into an array index: back to a record.
  fields: z.preprocess(arrayToRecord, z.record(z.string(), ElementorFieldSchema)).optional(),
  meta: z.record(z.string(), MetaRow).optional(),
  form_id: Scalar.optional(),
  form_name: Scalar.optional(),
});
export type ElementorPayload = z.infer<typeof ElementorPayloadSchema>;

/** Per-source settings of the `elementor` connector. */
export const ElementorSettingsSchema = z.strictObject({
  /** Field ids or labels per role when the form does not use the defaults (see README). */
  fields: FieldMapSchema.optional(),
  /** Lead title; `{form}` is the form name. @defaultValue "Заявка с сайта: {form}" */
  title: z.string().min(1).default('Заявка с сайта: {form}'),
});
export type ElementorSettings = z.infer<typeof ElementorSettingsSchema>;
