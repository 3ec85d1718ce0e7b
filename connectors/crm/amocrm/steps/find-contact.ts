/**
 * findContact: `GET /api/v4/contacts?query=` by the last 10 digits of each phone and by each e-mail, then
 * confirmation on the contact's own PHONE/EMAIL values (the query matches any field: a phone inside a
 * comment or another contact's note must not pick the wrong person, amocrm-api-php #515). Falls back to
 * the recent-intake index for contacts still hidden in Unsorted. A read: it never writes.
 */
import { parsePhone, phoneTail10 } from '#sdk';
import type { AmoCfEntry, AmoClient, AmoContact } from '../client.ts';
import type { StepCtx } from './context.ts';
import { rememberedContacts, type IntakeKeys } from './recent-intake.ts';

/** A stored multitext value, kept as amoCRM has it so an update can send it back unchanged. */
export interface RawValue {
  value: string;
  enum_id?: number;
  enum_code?: string;
}

export interface FoundContact {
  contactId: number;
  name?: string;
  responsibleUserId?: number;
  phones: RawValue[];
  emails: RawValue[];
  leadIds: number[];
  /** How it was found: `phone`, `email`, `index`. */
  via: string;
}

export async function findContact(ctx: Pick<StepCtx, 'io' | 'c'>, q: IntakeKeys): Promise<FoundContact | null> {
  const phones = q.phonesE164.slice(0, 3);
  const emails = q.emails.slice(0, 3).map((e) => e.trim().toLowerCase());
  const byPhone: AmoContact[] = [];
  for (const p of phones) {
    for (const c of await ctx.c.searchContacts(phoneTail10(p))) if (hasPhone(c, phones) && !byPhone.some((x) => x.id === c.id)) byPhone.push(c);
  }
  const pick = (list: AmoContact[]): AmoContact | undefined => [...list].sort((a, b) => (b.updated_at ?? 0) - (a.updated_at ?? 0) || a.id - b.id)[0];
  const viaPhone = pick(byPhone);
  if (viaPhone) return foundContact(viaPhone, 'phone');
  const byEmail: AmoContact[] = [];
  for (const e of emails) {
    for (const c of await ctx.c.searchContacts(e)) if (hasEmail(c, emails) && !byEmail.some((x) => x.id === c.id)) byEmail.push(c);
  }
  const viaEmail = pick(byEmail);
  if (viaEmail) return foundContact(viaEmail, 'email');
  return fromIndex(ctx.c, ctx.io, { phonesE164: phones, emails, messengerKey: q.messengerKey });
}

async function fromIndex(c: AmoClient, io: StepCtx['io'], q: IntakeKeys): Promise<FoundContact | null> {
  for (const id of await rememberedContacts(io, q)) {
    const contact = await c.contact(id);
    if (!contact) continue; // declined Unsorted item or deleted contact
    const confirmed = hasPhone(contact, q.phonesE164) || hasEmail(contact, q.emails) || (!q.phonesE164.length && !q.emails.length);
    if (confirmed) return foundContact(contact, 'index');
  }
  return null;
}

/** A contact as the steps use it, with how it was found. */
export function foundContact(c: AmoContact, via: string): FoundContact {
  return {
    contactId: c.id,
    ...(c.name ? { name: c.name } : {}),
    ...(c.responsible_user_id ? { responsibleUserId: c.responsible_user_id } : {}),
    phones: rawValues(c.custom_fields_values, 'PHONE'),
    emails: rawValues(c.custom_fields_values, 'EMAIL'),
    leadIds: (c._embedded?.leads ?? []).map((l) => l.id),
    via,
  };
}

export function rawValues(cfv: AmoCfEntry[], code: string): RawValue[] {
  return cfv
    .filter((e) => e.field_code === code)
    .flatMap((e) => e.values)
    .filter((v) => typeof v.value === 'string' || typeof v.value === 'number')
    .map((v) => ({ value: String(v.value), ...(v.enum_id ? { enum_id: v.enum_id } : {}), ...(v.enum_code ? { enum_code: v.enum_code } : {}) }));
}

/** A stored phone as E.164 when it parses (Russian habits: `8 912…`), else undefined. */
export function storedPhoneE164(value: string): string | undefined {
  return parsePhone(value, 'RU').e164;
}

/** Same number: equal E.164, or equal last 10 digits when the stored value does not parse (amoCRM's own rule). */
export function samePhone(stored: string, e164: string): boolean {
  const p = storedPhoneE164(stored);
  if (p) return p === e164;
  const d = stored.replace(/\D/g, '');
  return d.length >= 10 && phoneTail10(d) === phoneTail10(e164);
}

export function hasPhone(c: AmoContact, phonesE164: readonly string[]): boolean {
  const stored = rawValues(c.custom_fields_values, 'PHONE');
  return phonesE164.some((p) => stored.some((s) => samePhone(s.value, p)));
}

export function hasEmail(c: AmoContact, emails: readonly string[]): boolean {
  const stored = rawValues(c.custom_fields_values, 'EMAIL').map((v) => v.value.trim().toLowerCase());
  return emails.some((e) => stored.includes(e.trim().toLowerCase()));
}
