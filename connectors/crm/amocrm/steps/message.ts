/**
 * A later message of a conversation whose lead exists (Telegram chat, mail thread): a note on that lead. When the
 * message carries a phone or e-mail the lead's contact lacks (the Telegram "share my number" button, a phone in a
 * mail signature) and `task.addToContact` is set, it is added to that contact first:
 *
 *   contactDetails  (read, journaled) the lead's contact (`GET /api/v4/leads/{id}?with=contacts`, then the contact),
 *                   what it lacks, and for each missing value whether ANOTHER contact already has it (the same
 *                   confirmed search as a new inquiry). Journaled so a retry takes the same decision.
 *   saveContact     `PATCH /api/v4/contacts` (array item) with the field's whole list, existing values first (amoCRM replaces
 *                   a multitext field's values, sheet §4.2); recover: the values are on the contact (save-contact.ts)
 *   addNote         the message; a value another contact owns is only named there — contacts are never merged.
 *
 * A message without a phone or e-mail costs no extra request; one whose values the contact already has costs the
 * two reads once a day (the answer is remembered in the account's cache).
 */
import { createHash } from 'node:crypto';
import { CrmError, formatPhone, type DeliveryReceipt, type DeliveryTask, type PhoneFormat } from '#sdk';
import type { StepCtx } from './context.ts';
import { addNote } from './add-note.ts';
import { findContact, foundContact, type FoundContact } from './find-contact.ts';
import { addContactDetails, missingDetails } from './save-contact.ts';

type MessageTask = Extract<DeliveryTask, { kind: 'message' }>;

/** The journaled decision of `contactDetails`. */
export interface DetailsDecision {
  /** The lead's contact as read (its values are sent back unchanged with the new ones); null: the lead has none. */
  contact: FoundContact | null;
  add: { phones: string[]; emails: string[] };
  /** Values another contact already has: noted, not added. */
  elsewhere: { kind: 'phone' | 'email'; value: string; contactId: number }[];
}

/** At most this many of a message's phones/e-mails are looked at (a signature rarely holds more). */
const MAX_VALUES = 3;
/** How long "this lead's contact has these values" is trusted (skips the reads for every reply of a mail thread). */
const KNOWN_TTL_SEC = 86_400;

export async function deliverMessage(ctx: StepCtx, task: MessageTask): Promise<DeliveryReceipt> {
  if (!/^\d+$/.test(task.threadLeadId)) {
    throw new CrmError({ kind: 'reject', cause: `thread lead id "${task.threadLeadId}" is not an amoCRM lead id` });
  }
  const leadId = Number(task.threadLeadId);
  const lines = task.addToContact ? await shareDetails(ctx, task, leadId, task.addToContact.phoneFormat) : [];
  const text = lines.length ? `${task.noteText}\n\n${lines.join('\n')}` : task.noteText;
  const note = await addNote(ctx, 'addNote', 'leads', leadId, text, task.key);
  return { leadId: String(leadId), createdLead: false, noteId: String(note.noteId), url: `${ctx.s.baseUrl}/leads/detail/${leadId}` };
}

/** Adds what the contact lacks; returns the lines the note gets about it. */
async function shareDetails(ctx: StepCtx, task: MessageTask, leadId: number, phoneFormat: PhoneFormat): Promise<string[]> {
  const phones = task.contact.phonesE164.slice(0, MAX_VALUES);
  const emails = task.contact.emails.slice(0, MAX_VALUES).map((e) => e.trim().toLowerCase());
  if (!phones.length && !emails.length) return [];
  const knownKey = `msgcontact:${leadId}:${createHash('sha256').update([...phones, ...emails].join('\n')).digest('hex').slice(0, 24)}`;
  if ((await ctx.io.cache.get(knownKey)) === '1' && !(await ctx.journal.snapshot())['contactDetails']) return [];

  const d = await ctx.journal.step<DetailsDecision>('contactDetails', () => decide(ctx, leadId, phones, emails));
  if (!d.contact) {
    ctx.io.log.info({ lead: leadId }, 'the conversation lead has no contact: a shared phone/e-mail stays in the note only');
    return [];
  }
  if (d.add.phones.length || d.add.emails.length) {
    await addContactDetails(ctx, d.contact, { phonesE164: d.add.phones, emails: d.add.emails }, phoneFormat);
    ctx.io.log.info({ lead: leadId, contact: d.contact.contactId, phones: d.add.phones.length, emails: d.add.emails.length }, 'shared phone/e-mail added to the lead contact');
  }
  if (!d.elsewhere.length) await ctx.io.cache.set(knownKey, '1', KNOWN_TTL_SEC);
  const shown = (kind: 'phone' | 'email', v: string): string => (kind === 'phone' ? formatPhone(v, phoneFormat) : v);
  return [
    ...[...d.add.phones.map((v) => shown('phone', v)), ...d.add.emails].map((v) => `Добавлено в контакт: ${v}`),
    ...d.elsewhere.map((x) => `${x.kind === 'phone' ? 'Номер' : 'Адрес'} ${shown(x.kind, x.value)} уже есть у другого контакта (id ${x.contactId}): в контакт сделки не добавлен, контакты не объединены.`),
  ];
}

async function decide(ctx: StepCtx, leadId: number, phones: string[], emails: string[]): Promise<DetailsDecision> {
  const none: DetailsDecision = { contact: null, add: { phones: [], emails: [] }, elsewhere: [] };
  const lead = await ctx.c.lead(leadId);
  const contactId = lead?._embedded?.contacts?.[0]?.id;
  if (contactId === undefined) return none;
  const c = await ctx.c.contact(contactId);
  if (!c) return none;
  const contact = foundContact(c, 'lead');
  const miss = missingDetails(contact, { phonesE164: phones, emails });
  const out: DetailsDecision = { contact, add: { phones: [], emails: [] }, elsewhere: [] };
  // Each value on its own: the search confirms the hit really holds it (amoCRM `query` matches any field).
  for (const p of miss.phones) {
    const other = await findContact(ctx, { phonesE164: [p], emails: [] });
    if (other && other.contactId !== contact.contactId) out.elsewhere.push({ kind: 'phone', value: p, contactId: other.contactId });
    else out.add.phones.push(p);
  }
  for (const e of miss.emails) {
    const other = await findContact(ctx, { phonesE164: [], emails: [e] });
    if (other && other.contactId !== contact.contactId) out.elsewhere.push({ kind: 'email', value: e, contactId: other.contactId });
    else out.add.emails.push(e);
  }
  return out;
}
