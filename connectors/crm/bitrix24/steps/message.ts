/**
 * A later message of a conversation whose lead exists (Telegram chat, mail thread). Reference: bitrix24.md §4.3
 * multifields, §6 duplicate search, §7 timeline. One journal step each:
 *
 *   contact-details  (read) ONE batch: the lead/deal, its contact (`$result[r][CONTACT_ID]`); then, for the values
 *                    the contact lacks, `crm.duplicate.findbycomm` (entity CONTACT) and a read-back of the hits, so
 *                    a value ANOTHER contact holds is known. Journaled: a retry takes the same decision.
 *   contact-update   `crm.contact.update` with only the new PHONE/EMAIL items (no `ID`: appended, the existing ones
 *                    stay, §4.3); recover: read the contact back.
 *   comment          one timeline comment on the lead/deal (recover: list its comments since the attempt); a value
 *                    another contact owns is only named there — contacts are never merged.
 *
 * Only when `task.addToContact` is set and the message carries a phone or e-mail; a value already on the contact is
 * remembered in the account cache for a day, so the replies of a mail thread do not read the contact every time.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { formatPhone, type DeliveryReceipt, type DeliveryTask, type PhoneFormat, type StepJournal } from '#sdk';
import type { BatchCommand } from '../client.ts';
import { emailItems, phoneItems } from './draft.ts';
import { missingComms, phoneKey, phoneVariants, type FoundContact } from './lookup.ts';
import { idOf, parseRef, recordUrl, refString, type Ctx, type RecordRef } from './common.ts';
import { commentStep } from './lead.ts';

type MessageTask = Extract<DeliveryTask, { kind: 'message' }>;

const Multi = z.array(z.object({ ID: z.union([z.string(), z.number()]).optional(), VALUE: z.string() })).nullish();
const ContactRow = z.object({ ID: z.union([z.string(), z.number()]), PHONE: Multi, EMAIL: Multi });
const Owner = z.object({ CONTACT_ID: z.union([z.string(), z.number()]).nullish() });
const Hit = z.union([z.array(z.unknown()), z.object({ CONTACT: z.array(z.union([z.string(), z.number()])).optional() }).passthrough()]);

/** The journaled decision of `contact-details`. */
export interface DetailsDecision {
  contactId: string | null;
  add: { phones: string[]; emails: string[] };
  /** Values another contact already has: noted, not added. */
  elsewhere: { kind: 'phone' | 'email'; value: string; contactId: string }[];
}

const MAX_VALUES = 3;
const KNOWN_TTL_SEC = 86_400;

export async function deliverMessage(ctx: Ctx, task: MessageTask, journal: StepJournal): Promise<DeliveryReceipt> {
  const ref = parseRef(task.threadLeadId);
  const lines = task.addToContact ? await shareDetails(ctx, journal, task, ref, task.addToContact.phoneFormat) : [];
  const text = lines.length ? `${task.noteText}\n\n${lines.join('\n')}` : task.noteText;
  const noteId = await commentStep(ctx, journal, 'comment', ref, text);
  return { leadId: refString(ref), createdLead: false, noteId, url: recordUrl(ctx, ref) };
}

async function shareDetails(ctx: Ctx, journal: StepJournal, task: MessageTask, ref: RecordRef, phoneFormat: PhoneFormat): Promise<string[]> {
  const phones = task.contact.phonesE164.slice(0, MAX_VALUES);
  const emails = emailItems(task.contact.emails.slice(0, MAX_VALUES).map((e) => e.trim().toLowerCase())).map((e) => e.VALUE);
  if (!phones.length && !emails.length) return [];
  const knownKey = `msgcontact:${refString(ref)}:${createHash('sha256').update([...phones, ...emails].join('\n')).digest('hex').slice(0, 24)}`;
  if ((await ctx.io.cache.get(knownKey)) === '1' && !(await journal.snapshot())['contact-details']) return [];

  const d = await journal.step<DetailsDecision>('contact-details', () => decide(ctx, ref, phones, emails));
  if (!d.contactId) {
    ctx.io.log.info({ lead: refString(ref) }, 'the conversation lead/deal has no contact: a shared phone/e-mail stays in the comment only');
    return [];
  }
  if (d.add.phones.length || d.add.emails.length) {
    const contactId = d.contactId;
    const added = d.add.phones.length + d.add.emails.length;
    await journal.step(
      'contact-update',
      async () => {
        const fields: Record<string, unknown> = {};
        if (d.add.phones.length) fields.PHONE = phoneItems(d.add.phones, phoneFormat);
        if (d.add.emails.length) fields.EMAIL = emailItems(d.add.emails);
        await ctx.client.call('crm.contact.update', { id: contactId, fields, params: { REGISTER_SONET_EVENT: 'N' } });
        return { added };
      },
      {
        recover: async () => {
          const still = missingComms(found(ContactRow.parse(await ctx.client.call('crm.contact.get', { id: contactId }))), d.add.phones, d.add.emails);
          return still.phones.length || still.emails.length ? undefined : { added };
        },
      },
    );
    ctx.io.log.info({ lead: refString(ref), contact: contactId, phones: d.add.phones.length, emails: d.add.emails.length }, 'shared phone/e-mail added to the lead contact');
  }
  if (!d.elsewhere.length) await ctx.io.cache.set(knownKey, '1', KNOWN_TTL_SEC);
  const shown = (kind: 'phone' | 'email', v: string): string => (kind === 'phone' ? formatPhone(v, phoneFormat) : v);
  return [
    ...[...d.add.phones.map((v) => shown('phone', v)), ...d.add.emails].map((v) => `Добавлено в контакт: ${v}`),
    ...d.elsewhere.map((x) => `${x.kind === 'phone' ? 'Номер' : 'Адрес'} ${shown(x.kind, x.value)} уже есть у другого контакта (id ${x.contactId}): в контакт сделки не добавлен, контакты не объединены.`),
  ];
}

function found(row: z.infer<typeof ContactRow>): FoundContact {
  return {
    id: String(row.ID),
    phones: (row.PHONE ?? []).map((p) => ({ id: String(p.ID ?? ''), value: p.VALUE })),
    emails: (row.EMAIL ?? []).map((e) => ({ id: String(e.ID ?? ''), value: e.VALUE })),
  };
}

async function decide(ctx: Ctx, ref: RecordRef, phones: string[], emails: string[]): Promise<DetailsDecision> {
  const none: DetailsDecision = { contactId: null, add: { phones: [], emails: [] }, elsewhere: [] };
  const res = await ctx.client.batch({
    r: { method: `crm.${ref.entity}.get`, params: { id: ref.id } },
    c: { method: 'crm.contact.get', params: { id: `$result[r][CONTACT_ID]` } },
  });
  if (res.errors.r) throw res.errors.r;
  const contactId = idOf(Owner.parse(res.results.r).CONTACT_ID);
  // No contact on the record: `c` asked for id 0 and failed, which is expected.
  if (!contactId || res.results.c === undefined) return none;
  const contact = found(ContactRow.parse(res.results.c));
  const miss = missingComms(contact, phones, emails);
  const out: DetailsDecision = { contactId, add: { phones: [], emails: [] }, elsewhere: [] };
  if (!miss.phones.length && !miss.emails.length) return out;

  // Who else holds each missing value: findbycomm over every spelling, confirmed by reading the hits back.
  const cmds: Record<string, BatchCommand> = {};
  miss.phones.forEach((p, i) => (cmds[`p${i}`] = { method: 'crm.duplicate.findbycomm', params: { type: 'PHONE', values: phoneVariants(p).slice(0, 20), entity_type: 'CONTACT' } }));
  miss.emails.forEach((e, i) => (cmds[`e${i}`] = { method: 'crm.duplicate.findbycomm', params: { type: 'EMAIL', values: [e], entity_type: 'CONTACT' } }));
  const hits = await ctx.client.batch(cmds);
  const firstError = Object.values(hits.errors)[0];
  if (firstError) throw firstError;
  const idsOf = (k: string): string[] => {
    const h = Hit.parse(hits.results[k] ?? []);
    return Array.isArray(h) ? [] : (h.CONTACT ?? []).map(idOf).filter((x): x is string => x !== undefined && x !== contactId);
  };
  const candidates = [...new Set(Object.keys(cmds).flatMap(idsOf))].slice(0, 50);
  const others = candidates.length
    ? z.array(ContactRow).parse(await ctx.client.call('crm.contact.list', { filter: { '@ID': candidates }, select: ['ID', 'PHONE', 'EMAIL'], order: { ID: 'ASC' } })).map(found)
    : [];
  for (const p of miss.phones) {
    const owner = others.find((o) => o.phones.some((x) => phoneKey(x.value) === phoneKey(p)));
    if (owner) out.elsewhere.push({ kind: 'phone', value: p, contactId: owner.id });
    else out.add.phones.push(p);
  }
  for (const e of miss.emails) {
    const owner = others.find((o) => o.emails.some((x) => x.value.trim().toLowerCase() === e));
    if (owner) out.elsewhere.push({ kind: 'email', value: e, contactId: owner.id });
    else out.add.emails.push(e);
  }
  return out;
}
