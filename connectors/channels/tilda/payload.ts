/**
 * Tilda "Webhook" form receiver: https://help-ru.tilda.cc/formsscript (English: https://help.tilda.cc/forms/script).
 * Facts we rely on are in forms-telegram-email.md §A1: form-urlencoded body keyed by the form's variable
 * names (`Name`, `Phone`, `Email`, `Textarea`, custom and Cyrillic names), service keys `tranid`, `formid`,
 * `formname`, `COOKIES`, `referer`, a shop-cart `payment` object, members-area `ma_*`; JSON bodies with the
 * same keys are also seen; the check request is `test=test`.
 *
 * Permissive on purpose: amounts arrive as strings or numbers, keys may repeat, anything extra is kept.
 */
import { z } from 'zod';
import { FieldMapSchema, FilesSchema } from '../form/fields.ts';

const Scalar = z.union([z.string(), z.number(), z.boolean(), z.null()]);
/** An id; repeated keys arrive as an array and the first item counts. */
const IdValue = z.union([z.string(), z.number(), z.array(z.union([z.string(), z.number()])).min(1)]);
/** A money or count value: `"1622.3"`, `1622.3`, `"1 622,30"`, `""`. Coerced in normalise, never rejected. */
const Amount = Scalar.optional();

const ProductOption = z.looseObject({ option: Scalar.optional(), variant: Scalar.optional() });
const Product = z.looseObject({
  name: Scalar.optional(),
  quantity: Amount,
  amount: Amount,
  price: Amount,
  sku: Scalar.optional(),
  externalid: Scalar.optional(),
  options: z.union([z.array(ProductOption), z.record(z.string(), ProductOption)]).optional(),
});
/** Object per product, or the older text mode line `Name - 1x5000 = 5000`. */
const ProductEntry = z.union([Product, z.string()]);

export const TildaPaymentSchema = z.looseObject({
  orderid: IdValue.optional(),
  sys: Scalar.optional(),
  systranid: Scalar.optional(),
  amount: Amount,
  subtotal: Amount,
  currency: Scalar.optional(),
  delivery: Scalar.optional(),
  delivery_price: Amount,
  delivery_fio: Scalar.optional(),
  delivery_address: Scalar.optional(),
  delivery_city: Scalar.optional(),
  delivery_zip: Scalar.optional(),
  delivery_comment: Scalar.optional(),
  promocode: Scalar.optional(),
  discount: Scalar.optional(),
  // An array normally; an object when qs meets indexes above its array limit; one text blob in old setups.
  products: z.union([z.array(ProductEntry), z.record(z.string(), ProductEntry), z.string()]).optional(),
});
export type TildaPayment = z.infer<typeof TildaPaymentSchema>;

/** Some setups send `payment` as a JSON string inside the form: unwrap it, else let the schema name the field. */
function unwrapJsonObject(v: unknown): unknown {
  if (typeof v !== 'string' || !v.trim().startsWith('{')) return v;
  try {
    return JSON.parse(v) as unknown;
  } catch {
    return v;
  }
}

export const TildaPayloadSchema = z.looseObject({
  /** Submission id `<projectId>:<number>`; stable across Tilda's retries. */
  tranid: IdValue.optional(),
  formid: IdValue.optional(),
  formname: Scalar.optional(),
  /** The browser's cookie string when "send cookies" is on. */
  COOKIES: z.union([z.string(), z.array(z.string())]).optional(),
  /** The page the form was sent from. */
  referer: z.union([z.string(), z.array(z.string())]).optional(),
  /** `test` only on the check request. */
  test: Scalar.optional(),
  payment: z.preprocess(unwrapJsonObject, TildaPaymentSchema).optional(),
  paymentsystem: Scalar.optional(),
  __files: FilesSchema,
});
export type TildaPayload = z.infer<typeof TildaPayloadSchema>;

/** Per-source settings of the `tilda` connector. */
export const TildaSettingsSchema = z.strictObject({
  /** Field variable names per role when the forms do not use the defaults (see README). */
  fields: FieldMapSchema.optional(),
  /** Lead title; `{form}` is `formname` or `formid`. @defaultValue "Заявка с сайта: {form}" */
  title: z.string().min(1).default('Заявка с сайта: {form}'),
  /** Title for shop-cart orders; `{order}` is the order id, `{form}` as above. @defaultValue "Заказ с сайта №{order}" */
  orderTitle: z.string().min(1).default('Заказ с сайта №{order}'),
  /** ISO currency of the shop (Tilda's webhook does not say). Shown in the order summary. */
  currency: z.string().regex(/^[A-Z]{3}$/, 'an ISO currency code like RUB').optional(),
});
export type TildaSettings = z.infer<typeof TildaSettingsSchema>;
