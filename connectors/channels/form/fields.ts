/**
 * Form fields → contact, message and "label: value" extras. Shared by the form-builder connectors
 * (form, tilda, elementor): every site form ends up as a list of entries that this module sorts into
 * roles by field name, with per-source overrides. Pure.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { findPhonesInText, parsePhone, parsePhones, type Attachment, type Contact, type CountryCode, type ExtraField, type RawEvent } from '#sdk';

export type FieldRole = 'name' | 'phone' | 'email' | 'message' | 'company';
const ROLES: readonly FieldRole[] = ['name', 'phone', 'email', 'message', 'company'];

/** Exact (case-insensitive) field names per role, used when a source sets no names of its own. */
export const DEFAULT_FIELD_NAMES: Readonly<Record<FieldRole, readonly string[]>> = {
  name: ['name', 'fio', 'фио', 'имя', 'your-name', 'full_name', 'fullname', 'first_name', 'last_name', 'фамилия'],
  phone: ['phone', 'tel', 'телефон', 'whatsapp', 'your-phone', 'mobile'],
  email: ['email', 'e-mail', 'почта', 'your-email', 'mail'],
  message: ['message', 'comment', 'comments', 'комментарий', 'сообщение', 'your-message', 'textarea'],
  company: ['company', 'компания', 'организация', 'company_name', 'organization'],
};

/**
 * Words that mark a role inside a longer name (`Ваш телефон`, `Номер телефона`, `billing_phone`, `tel-123`,
 * `Your Name`). Checked only when no exact name matched; the order decides ties (`Company name` is a company).
 * `prefix` catches endings (`телефона`, `email2`). For the roles marked `onlyWithFiller`
 * every other word must be filler, so `product_name` or `company_size` stay plain fields.
 */
const ROLE_WORDS: readonly { role: FieldRole; exact: readonly string[]; prefix: readonly string[]; onlyWithFiller: boolean }[] = [
  { role: 'email', exact: ['mail', 'email', 'почта', 'почты'], prefix: ['email'], onlyWithFiller: false },
  { role: 'phone', exact: ['tel', 'whatsapp', 'mobile'], prefix: ['phone', 'телефон'], onlyWithFiller: false },
  { role: 'company', exact: ['company'], prefix: ['компани', 'организаци'], onlyWithFiller: true },
  { role: 'name', exact: ['name', 'fio', 'фио', 'имя', 'фамилия', 'surname', 'firstname', 'lastname'], prefix: [], onlyWithFiller: true },
  { role: 'message', exact: ['comment', 'comments', 'message'], prefix: ['комментари', 'сообщени'], onlyWithFiller: true },
];
const FILLER = new Set([
  'your', 'ваш', 'ваше', 'ваша', 'ваши', 'first', 'last', 'full', 'contact', 'client', 'customer', 'клиента',
  'контактное', 'контактный', 'the', 'and', 'и', 'для', 'связи', 'number', 'номер', 'name', 'имя', 'field', 'поле',
  'of', 'к', 'вашей', 'вашего', 'название', 'наименование', 'additional', 'дополнительный', 'заказу',
]);

/** One name or a list of names (YAML-friendly). */
export const NameList = z
  .union([z.string().min(1), z.array(z.string().min(1))])
  .transform((v) => (typeof v === 'string' ? [v] : v));

/**
 * Per-source field names. A role listed here uses exactly these names (case-insensitive; a bracket key
 * like `contact[phone]` or its last part `phone` both match) and no longer the defaults.
 */
export const FieldMapSchema = z.strictObject({
  name: NameList.optional(),
  phone: NameList.optional(),
  email: NameList.optional(),
  message: NameList.optional(),
  company: NameList.optional(),
});
export type FieldMap = z.infer<typeof FieldMapSchema>;

/** One submitted value as the sender labelled it. */
export interface FormEntry {
  /** Stable key (the field's variable name / id), e.g. `Phone`, `fields[phone]`. */
  key: string;
  /** What a person reads in the CRM note; often the same as `key`. */
  label: string;
  value: string;
  /** Sender's field type when it has one (Elementor `tel`, `email`, `textarea`). */
  type?: string;
  /** Further names the entry answers to (a field id next to its label). */
  aliases?: readonly string[];
}

export interface MappedForm {
  contact: Contact;
  message: string | undefined;
  fields: ExtraField[];
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@.]{2,}$/;

/** Sort entries into contact roles; the rest become extra fields. Empty values are dropped. */
export function mapFormEntries(entries: readonly FormEntry[], fieldMap: FieldMap | undefined, region: CountryCode): MappedForm {
  const byRole: Record<FieldRole, FormEntry[]> = { name: [], phone: [], email: [], message: [], company: [] };
  const fields: ExtraField[] = [];
  for (const entry of entries) {
    if (entry.value.trim() === '') continue;
    const role = roleOf(entry, fieldMap);
    if (role) byRole[role].push(entry);
    else fields.push(extra(entry));
  }

  // No field is called a phone, but one labelled "Ваш номер" / "Number" holds nothing but a valid number.
  if (byRole.phone.length === 0 && fieldMap?.phone === undefined) {
    const i = fields.findIndex((f) => /(^|[^\p{L}])(номер|number)([^\p{L}]|$)/iu.test(f.label) && /^[\d\s()+\-.]{7,}$/.test(f.value) && findPhonesInText(f.value, region).length === 1);
    const found = i >= 0 ? fields.splice(i, 1)[0] : undefined;
    if (found) byRole.phone.push({ key: found.key, label: found.label, value: found.value });
  }
  const { phonesE164, phonesUnparsed } = parsePhones(
    byRole.phone.map((e) => e.value),
    region,
  );
  // The Lead has no place for an extension: keep the number as typed in the note so the "доб. 204" survives.
  for (const entry of byRole.phone) {
    if (entry.value.split(/[;,\n]/).some((part) => parsePhone(part, region).extension !== undefined)) fields.push(extra(entry));
  }
  const emails: string[] = [];
  for (const entry of byRole.email) {
    const bad: string[] = [];
    for (const part of entry.value.split(/[\s,;]+/)) {
      if (!part) continue;
      const email = part.replace(/^mailto:/i, '').toLowerCase();
      if (EMAIL.test(email)) {
        if (!emails.includes(email)) emails.push(email);
      } else bad.push(part);
    }
    // Nothing the customer typed is lost: an address we cannot read stays in the note.
    if (bad.length) fields.push(extra({ ...entry, value: bad.join(' ') }));
  }
  const name = joinDistinct(byRole.name, ' ');
  const company = byRole.company[0]?.value.trim();
  const contact: Contact = {
    ...(name ? { name } : {}),
    phonesE164,
    phonesUnparsed,
    emails,
    ...(company ? { company } : {}),
  };
  return { contact, message: joinDistinct(byRole.message, '\n') || undefined, fields };
}

function roleOf(entry: FormEntry, fieldMap: FieldMap | undefined): FieldRole | undefined {
  const names = [entry.key, entry.label, ...(entry.aliases ?? [])].flatMap(namesOf);
  const configured = (role: FieldRole): string[] | undefined => fieldMap?.[role]?.map((n) => n.trim().toLowerCase());
  for (const role of ROLES) {
    const list = configured(role);
    if (list && names.some((n) => list.includes(n))) return role;
  }
  const free = ROLES.filter((r) => configured(r) === undefined);
  const type = entry.type?.toLowerCase();
  if (type === 'email' && free.includes('email')) return 'email';
  if (type === 'tel' && free.includes('phone')) return 'phone';
  for (const role of free) {
    if (names.some((n) => DEFAULT_FIELD_NAMES[role].includes(n))) return role;
  }
  for (const { role, exact, prefix, onlyWithFiller } of ROLE_WORDS) {
    if (!free.includes(role)) continue;
    for (const n of names) {
      const words = n.split(/[^\p{L}\p{N}]+/u).filter((w) => w !== '' && !/^\d+$/.test(w));
      const isRoleWord = (w: string): boolean => exact.includes(w) || prefix.some((p) => w.startsWith(p));
      if (!words.some(isRoleWord)) continue;
      if (!onlyWithFiller || words.every((w) => isRoleWord(w) || FILLER.has(w))) return role;
    }
  }
  if (type === 'textarea' && free.includes('message')) return 'message';
  return undefined;
}

/** `contact[phone]` answers to itself and to `phone`; everything lower-cased and trimmed. */
function namesOf(s: string): string[] {
  const n = s.trim().toLowerCase();
  const leaf = /\[([^\]]*)\]$/.exec(n)?.[1];
  return leaf && leaf !== n ? [n, leaf] : [n];
}

function joinDistinct(entries: readonly FormEntry[], sep: string): string {
  const out: string[] = [];
  for (const e of entries) {
    const v = e.value.trim();
    if (v && !out.includes(v)) out.push(v);
  }
  return out.join(sep);
}

function extra(e: FormEntry): ExtraField {
  return { key: e.key, label: e.label, value: e.value.trim() };
}

/**
 * A decoded body (qs-style nested objects/arrays, or JSON) → flat entries in body order.
 * Scalars become strings; arrays of scalars (repeated keys, checkboxes) are joined with `, `;
 * nested objects get bracket keys (`contact[phone]`). `skip` sees the top-level key.
 */
export function flattenBody(body: Readonly<Record<string, unknown>>, skip: (key: string) => boolean = () => false): FormEntry[] {
  const out: FormEntry[] = [];
  const walk = (key: string, v: unknown, depth: number): void => {
    if (v === null || v === undefined) return;
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') {
      out.push({ key, label: key, value: String(v) });
      return;
    }
    if (Array.isArray(v) && v.every((x) => x === null || ['string', 'number', 'boolean'].includes(typeof x))) {
      // Repeated keys: a resent hidden input repeats its value, a checkbox group does not.
      const parts = [...new Set(v.filter((x) => x !== null && String(x).trim() !== '').map((x) => String(x).trim()))];
      out.push({ key, label: key, value: parts.join(', ') });
      return;
    }
    if (typeof v === 'object') {
      if (depth >= 6) {
        out.push({ key, label: key, value: JSON.stringify(v) });
        return;
      }
      for (const [k, child] of Object.entries(v)) walk(`${key}[${k}]`, child, depth + 1);
    }
  };
  for (const [k, v] of Object.entries(body)) {
    if (!skip(k)) walk(k, v, 0);
  }
  return out;
}

/** `decodeAnyForm` puts multipart file descriptions under `__files`; we keep name, type and size only. */
export const FilesSchema = z
  .array(
    z.looseObject({
      field: z.string().optional(),
      filename: z.string().optional(),
      contentType: z.string().optional(),
      sizeBytes: z.number().int().nonnegative().optional(),
    }),
  )
  .optional();

export function filesToAttachments(files: z.infer<typeof FilesSchema>): Attachment[] {
  return (files ?? []).map((f) => ({
    ...(f.filename ? { name: f.filename } : {}),
    ...(f.contentType ? { contentType: f.contentType } : {}),
    ...(f.sizeBytes !== undefined ? { sizeBytes: f.sizeBytes } : {}),
  }));
}

/**
 * Fill a title template: `{form}` and `{order}` are replaced; when a value is missing, the dangling
 * separator goes too (`Заявка с сайта: {form}` without a form name → `Заявка с сайта`).
 */
export function fillTitle(template: string, vars: Readonly<Record<string, string | undefined>>, fallback: string): string {
  const filled = template
    .replace(/\{(\w+)\}/g, (_, k: string) => vars[k]?.trim() ?? '')
    .replace(/\(\s*\)|\[\s*\]|«\s*»|"\s*"/g, '')
    .replace(/\s+/g, ' ')
    .replace(/[\s:№#—–-]+$/u, '')
    .trim();
  return filled || fallback;
}

/** First non-empty string among the values (numbers stringified). */
export function firstText(...values: unknown[]): string | undefined {
  for (const v of values) {
    if (typeof v === 'string' && v.trim() !== '') return v.trim();
    if (typeof v === 'number' && Number.isFinite(v)) return String(v);
    if (Array.isArray(v)) {
      const s = firstText(...v);
      if (s !== undefined) return s;
    }
  }
  return undefined;
}

/** A Lead with nothing in it: no contact, no message, no fields. Counted as ignored, not delivered. */
export function isEmptyLead(m: MappedForm): boolean {
  const c = m.contact;
  return !c.name && !c.company && !c.phonesE164.length && !c.phonesUnparsed.length && !c.emails.length && !m.message && !m.fields.length;
}

/**
 * The id used when the sender gives none: a hash of the exact body (and the query for GET senders).
 * The gateway's dedupe key for such events must be computed the same way.
 */
export function bodyHashId(e: RawEvent): string {
  const h = createHash('sha256').update(e.body);
  if (e.body.length === 0) h.update(new URLSearchParams({ ...e.query }).toString());
  return `sha256:${h.digest('hex')}`;
}

/** A key lookup that ignores case: the first key of `body` equal to one of `names`. */
export function getCi(body: Readonly<Record<string, unknown>>, names: readonly string[]): unknown {
  const wanted = names.map((n) => n.toLowerCase());
  for (const w of wanted) {
    for (const [k, v] of Object.entries(body)) if (k.toLowerCase() === w) return v;
  }
  return undefined;
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
