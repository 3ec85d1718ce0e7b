/**
 * saveContact.
 * - A new contact is never created on its own: it is embedded in the write that opens the lead (Unsorted form,
 *   `/leads/complex`), so a crash can never leave a contact without its lead, nor create it twice.
 * - A found contact gets the phones/e-mails of this inquiry it does not have yet: one item of `PATCH
 *   /api/v4/contacts` (shared with other deliveries' items when batching) with the field's whole value list (sending
 *   a field replaces its values, sheet §4.2), existing values first, unchanged. Idempotent by nature; recovery
 *   checks the values are there.
 */
import { formatPhone, type Contact, type MappedField, type PhoneFormat } from '#sdk';
import { customFieldValues } from '../fields.ts';
import { hasEmail, hasPhone, samePhone, type FoundContact, type RawValue } from './find-contact.ts';
import type { StepCtx } from './context.ts';

export interface ContactDetailsResult {
  contactId: number;
  addedPhones: string[];
  addedEmails: string[];
}

/** The inquiry's phones/e-mails missing on the found contact. */
export function missingDetails(found: FoundContact, contact: Pick<Contact, 'phonesE164' | 'emails'>): { phones: string[]; emails: string[] } {
  const phones = contact.phonesE164.filter((p) => !found.phones.some((v) => samePhone(v.value, p)));
  const stored = found.emails.map((v) => v.value.trim().toLowerCase());
  const emails = contact.emails.map((e) => e.trim().toLowerCase()).filter((e, i, a) => !stored.includes(e) && a.indexOf(e) === i);
  return { phones, emails };
}

export async function addContactDetails(ctx: StepCtx, found: FoundContact, contact: Pick<Contact, 'phonesE164' | 'emails'>, phoneFormat: PhoneFormat): Promise<ContactDetailsResult> {
  const { phones, emails } = missingDetails(found, contact);
  const none: ContactDetailsResult = { contactId: found.contactId, addedPhones: [], addedEmails: [] };
  if (!phones.length && !emails.length) return none;
  return ctx.journal.step<ContactDetailsResult>(
    'saveContact',
    async () => {
      const cfv: Record<string, unknown>[] = [];
      if (phones.length) cfv.push({ field_code: 'PHONE', values: [...found.phones.map(keep), ...phones.map((p) => multitext(formatPhone(p, phoneFormat), ctx.meta.phoneEnumCode))] });
      if (emails.length) cfv.push({ field_code: 'EMAIL', values: [...found.emails.map(keep), ...emails.map((e) => multitext(e, ctx.meta.emailEnumCode))] });
      await ctx.c.patchContact(found.contactId, { custom_fields_values: cfv });
      return { contactId: found.contactId, addedPhones: phones, addedEmails: emails };
    },
    {
      recover: async () => {
        const now = await ctx.c.contact(found.contactId);
        if (!now) return undefined;
        const done = (!phones.length || phones.every((p) => hasPhone(now, [p]))) && (!emails.length || emails.every((e) => hasEmail(now, [e])));
        return done ? { contactId: found.contactId, addedPhones: phones, addedEmails: emails } : undefined;
      },
    },
  );
}

/** The contact object embedded in a lead-opening write. */
export function newContactPayload(ctx: Pick<StepCtx, 'facts' | 'meta'>, contact: Contact, phoneFormat: PhoneFormat, fields: readonly MappedField[], fallbackName: string, responsibleUserId?: string): Record<string, unknown> {
  const cfv: Record<string, unknown>[] = [];
  if (contact.phonesE164.length) cfv.push({ field_code: 'PHONE', values: contact.phonesE164.map((p) => multitext(formatPhone(p, phoneFormat), ctx.meta.phoneEnumCode)) });
  if (contact.emails.length && ctx.meta.emailEnumCode !== undefined) cfv.push({ field_code: 'EMAIL', values: contact.emails.map((e) => multitext(e, ctx.meta.emailEnumCode)) });
  cfv.push(...customFieldValues(ctx.facts, fields, 'contact').filter((f) => f.field_code !== 'PHONE' && f.field_code !== 'EMAIL'));
  return {
    name: contactName(contact, phoneFormat, fallbackName),
    ...(responsibleUserId ? { responsible_user_id: Number(responsibleUserId) } : {}),
    ...(cfv.length ? { custom_fields_values: cfv } : {}),
  };
}

export function contactName(contact: Contact, phoneFormat: PhoneFormat, fallback: string): string {
  if (contact.name?.trim()) return contact.name.trim();
  const phone = contact.phonesE164[0];
  if (phone) return formatPhone(phone, phoneFormat);
  if (contact.emails[0]) return contact.emails[0];
  if (contact.messenger) return contact.messenger.username ? `@${contact.messenger.username}` : `${contact.messenger.kind} ${contact.messenger.userId}`;
  return fallback;
}

function multitext(value: string, enumCode: string | undefined): Record<string, unknown> {
  return enumCode ? { value, enum_code: enumCode } : { value };
}

function keep(v: RawValue): Record<string, unknown> {
  return v.enum_id ? { value: v.value, enum_id: v.enum_id } : v.enum_code ? { value: v.value, enum_code: v.enum_code } : { value: v.value };
}

