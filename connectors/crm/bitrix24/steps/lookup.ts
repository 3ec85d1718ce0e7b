/**
 * Finding who wrote (reference: bitrix24.md §6 `crm.duplicate.findbycomm`, §10 fact 10): every spelling of each
 * phone goes to `crm.duplicate.findbycomm` (≤ 20 values a call, all calls in one batch), because the portal
 * compares the stored string "as a whole" and a number stored as `8 916…` does not match `+7916…`. The hits
 * are then confirmed by reading the records back (one more batch) and comparing normalised numbers, and the
 * contact's open lead/deal is picked for repeat inquiries.
 */
import { z } from 'zod';
import { formatPhone, parsePhone, type CallerInfo } from '#sdk';
import type { BatchCommand, BitrixClient } from '../client.ts';
import { idOf, type Ctx } from './common.ts';

const MAX_VALUES = 20;

/** The spellings a phone may be stored in: E.164, digits, `8…`, display formats, the bare national number. */
export function phoneVariants(e164: string): string[] {
  const digits = e164.replace(/\D/g, '');
  const out = new Set<string>([e164, digits, formatPhone(e164, 'ru-display'), formatPhone(e164, 'international')]);
  if (e164.startsWith('+7') && digits.length === 11) {
    const n = digits.slice(1);
    out.add(`8${n}`);
    out.add(`8 (${n.slice(0, 3)}) ${n.slice(3, 6)}-${n.slice(6, 8)}-${n.slice(8)}`);
    out.add(`+7 ${n.slice(0, 3)} ${n.slice(3, 6)} ${n.slice(6, 8)} ${n.slice(8)}`);
    out.add(n);
  } else {
    out.add(`00${digits}`);
  }
  return [...out];
}

/** One comparable form per phone as people store it (`8 (916) …`, `+7916…`, `79161234567`). */
export function phoneKey(value: string): string {
  const p = parsePhone(value, 'RU');
  return p.e164 ?? value.replace(/\D/g, '');
}

export interface FoundContact {
  id: string;
  companyId?: string;
  assignedById?: string;
  phones: { id: string; value: string }[];
  emails: { id: string; value: string }[];
}

export interface Match {
  contact?: FoundContact;
  /** A company whose phone/e-mail matched, when no contact did. */
  companyId?: string;
  /** The open lead (classic mode) or open deal the contact already has. */
  open?: { entity: 'lead' | 'deal'; id: string; assignedById?: string };
}

const Hit = z.union([z.array(z.unknown()), z.object({ LEAD: z.array(z.unknown()).optional(), CONTACT: z.array(z.unknown()).optional(), COMPANY: z.array(z.unknown()).optional() })]);
const Multi = z.array(z.object({ ID: z.union([z.string(), z.number()]).optional(), VALUE: z.string() })).nullish();
const IdLike = z.union([z.string(), z.number()]).nullish();
const ContactRow = z.object({ ID: z.union([z.string(), z.number()]), COMPANY_ID: IdLike, ASSIGNED_BY_ID: IdLike, PHONE: Multi, EMAIL: Multi });
const LeadRow = z.object({ ID: z.union([z.string(), z.number()]), CONTACT_ID: IdLike, ASSIGNED_BY_ID: IdLike, PHONE: Multi, EMAIL: Multi });
const DealRow = z.object({ ID: z.union([z.string(), z.number()]), CONTACT_ID: IdLike, ASSIGNED_BY_ID: IdLike });

/** Rows of a list command; a command not sent gives none, an answer of another shape throws (never "no match"). */
function rows<T extends z.ZodType>(schema: T, v: unknown): z.infer<T>[] {
  return v === undefined ? [] : z.array(schema).parse(v);
}

function chunks<T>(xs: readonly T[], n: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += n) out.push(xs.slice(i, i + n));
  return out;
}

/** `findbycomm` commands for these phones and e-mails (one per ≤ 20 values). */
function searchCommands(phonesE164: readonly string[], emails: readonly string[], entityType?: 'CONTACT'): Record<string, BatchCommand> {
  const phones = [...new Set(phonesE164.flatMap(phoneVariants))];
  const mails = [...new Set(emails.map((e) => e.trim().toLowerCase()).filter(Boolean))];
  const cmds: Record<string, BatchCommand> = {};
  chunks(phones, MAX_VALUES).forEach((values, i) => (cmds[`p${i}`] = { method: 'crm.duplicate.findbycomm', params: { type: 'PHONE', values, ...(entityType ? { entity_type: entityType } : {}) } }));
  chunks(mails, MAX_VALUES).forEach((values, i) => (cmds[`e${i}`] = { method: 'crm.duplicate.findbycomm', params: { type: 'EMAIL', values, ...(entityType ? { entity_type: entityType } : {}) } }));
  return cmds;
}

async function search(client: BitrixClient, phonesE164: readonly string[], emails: readonly string[], entityType?: 'CONTACT'): Promise<{ LEAD: string[]; CONTACT: string[]; COMPANY: string[] }> {
  const out = { LEAD: new Set<string>(), CONTACT: new Set<string>(), COMPANY: new Set<string>() };
  const cmds = searchCommands(phonesE164, emails, entityType);
  if (Object.keys(cmds).length === 0) return { LEAD: [], CONTACT: [], COMPANY: [] };
  const res = await client.batch(cmds);
  const firstError = Object.values(res.errors)[0];
  if (firstError) throw firstError;
  for (const v of Object.values(res.results)) {
    const hit = Hit.parse(v);
    if (Array.isArray(hit)) continue; // `[]`: nothing found
    for (const k of ['LEAD', 'CONTACT', 'COMPANY'] as const) for (const id of hit[k] ?? []) if (idOf(id)) out[k].add(idOf(id)!);
  }
  const sorted = (s: Set<string>): string[] => [...s].sort((a, b) => Number(a) - Number(b));
  return { LEAD: sorted(out.LEAD), CONTACT: sorted(out.CONTACT), COMPANY: sorted(out.COMPANY) };
}

/**
 * The contact (and company) this inquiry belongs to, and its open lead or deal. Confirmed against the records:
 * a hit whose stored phones/e-mails do not normalise to ours is ignored.
 */
export async function findMatch(ctx: Ctx, q: { phonesE164: readonly string[]; emails: readonly string[] }): Promise<Match> {
  const ids = await search(ctx.client, q.phonesE164, q.emails);
  if (!ids.CONTACT.length && !ids.LEAD.length && !ids.COMPANY.length) return {};
  const classic = ctx.meta.mode === 'classic';
  const contactIds = ids.CONTACT.slice(0, 50);
  const cmds: Record<string, BatchCommand> = {};
  if (contactIds.length) {
    cmds.contacts = { method: 'crm.contact.list', params: { filter: { '@ID': contactIds }, select: ['ID', 'COMPANY_ID', 'ASSIGNED_BY_ID', 'PHONE', 'EMAIL'] } };
    cmds.deals = { method: 'crm.deal.list', params: { filter: { '@CONTACT_ID': contactIds, CLOSED: 'N' }, select: ['ID', 'CONTACT_ID', 'ASSIGNED_BY_ID'], order: { ID: 'DESC' } } };
    if (classic) cmds.contactLeads = { method: 'crm.lead.list', params: { filter: { '@CONTACT_ID': contactIds, STATUS_SEMANTIC_ID: 'P' }, select: ['ID', 'CONTACT_ID', 'ASSIGNED_BY_ID'], order: { ID: 'DESC' } } };
  }
  if (classic && ids.LEAD.length) {
    cmds.leads = { method: 'crm.lead.list', params: { filter: { '@ID': ids.LEAD.slice(0, 50), STATUS_SEMANTIC_ID: 'P' }, select: ['ID', 'CONTACT_ID', 'ASSIGNED_BY_ID', 'PHONE', 'EMAIL'], order: { ID: 'DESC' } } };
  }
  const match: Match = {};
  if (Object.keys(cmds).length) {
    const res = await ctx.client.batch(cmds);
    const firstError = Object.values(res.errors)[0];
    if (firstError) throw firstError;
    const ours = { phones: new Set(q.phonesE164.map(phoneKey)), emails: new Set(q.emails.map((e) => e.trim().toLowerCase())) };
    const score = (phones: z.infer<typeof Multi>, emails: z.infer<typeof Multi>): number =>
      (phones ?? []).some((p) => ours.phones.has(phoneKey(p.VALUE))) ? 2 : (emails ?? []).some((e) => ours.emails.has(e.VALUE.trim().toLowerCase())) ? 1 : 0;

    const contacts = rows(ContactRow, res.results.contacts).filter((c) => score(c.PHONE, c.EMAIL) > 0);
    const deals = rows(DealRow, res.results.deals);
    const contactLeads = rows(LeadRow, res.results.contactLeads);
    const leads = rows(LeadRow, res.results.leads).filter((l) => score(l.PHONE, l.EMAIL) > 0);
    const hasOpen = (id: string): boolean => contactLeads.some((l) => idOf(l.CONTACT_ID) === id) || deals.some((d) => idOf(d.CONTACT_ID) === id);
    const best = [...contacts].sort((a, b) => score(b.PHONE, b.EMAIL) - score(a.PHONE, a.EMAIL) || Number(hasOpen(String(b.ID))) - Number(hasOpen(String(a.ID))) || Number(a.ID) - Number(b.ID))[0];
    if (best) {
      const id = String(best.ID);
      match.contact = {
        id,
        ...(idOf(best.COMPANY_ID) ? { companyId: idOf(best.COMPANY_ID)! } : {}),
        ...(idOf(best.ASSIGNED_BY_ID) ? { assignedById: idOf(best.ASSIGNED_BY_ID)! } : {}),
        phones: (best.PHONE ?? []).map((p) => ({ id: String(p.ID ?? ''), value: p.VALUE })),
        emails: (best.EMAIL ?? []).map((e) => ({ id: String(e.ID ?? ''), value: e.VALUE })),
      };
    }
    const contactId = match.contact?.id;
    const byId = (a: { ID: string | number }, b: { ID: string | number }): number => Number(b.ID) - Number(a.ID);
    // The newest open lead of this contact (or, without a contact, one holding this phone/e-mail), else its newest open deal.
    const openLead = [...contactLeads.filter((l) => contactId !== undefined && idOf(l.CONTACT_ID) === contactId), ...leads.filter((l) => contactId === undefined || !idOf(l.CONTACT_ID) || idOf(l.CONTACT_ID) === contactId)].sort(byId)[0];
    const openDeal = deals.filter((d) => contactId !== undefined && idOf(d.CONTACT_ID) === contactId).sort(byId)[0];
    const open = openLead ? { entity: 'lead' as const, row: openLead } : openDeal ? { entity: 'deal' as const, row: openDeal } : undefined;
    if (open) match.open = { entity: open.entity, id: String(open.row.ID), ...(idOf(open.row.ASSIGNED_BY_ID) ? { assignedById: idOf(open.row.ASSIGNED_BY_ID)! } : {}) };
  }
  const companyId = match.contact?.companyId ?? ids.COMPANY[0];
  if (!match.contact && companyId) match.companyId = companyId;
  return match;
}

/** Phones and e-mails of the inquiry the found contact does not have yet. */
export function missingComms(c: FoundContact, phonesE164: readonly string[], emails: readonly string[]): { phones: string[]; emails: string[] } {
  const have = new Set(c.phones.map((p) => phoneKey(p.value)));
  const haveMail = new Set(c.emails.map((e) => e.value.trim().toLowerCase()));
  return {
    phones: phonesE164.filter((p) => !have.has(phoneKey(p))),
    emails: emails.filter((e) => !haveMail.has(e.trim().toLowerCase())),
  };
}

const CallerContact = z.object({ ID: z.union([z.string(), z.number()]), NAME: z.string().nullish(), LAST_NAME: z.string().nullish(), COMPANY_ID: IdLike, ASSIGNED_BY_ID: IdLike });

/** Caller-ID: the contact behind a number, its company, responsible user and open lead. */
export async function lookupCaller(client: BitrixClient, phoneE164: string): Promise<CallerInfo | null> {
  const ids = await search(client, [phoneE164], [], 'CONTACT');
  const contactId = ids.CONTACT[0];
  if (!contactId) return null;
  const res = await client.batch({
    c: { method: 'crm.contact.get', params: { id: contactId } },
    co: { method: 'crm.company.get', params: { id: '$result[c][COMPANY_ID]' } },
    u: { method: 'user.get', params: { ID: '$result[c][ASSIGNED_BY_ID]' } },
    l: { method: 'crm.lead.list', params: { filter: { CONTACT_ID: contactId, STATUS_SEMANTIC_ID: 'P' }, select: ['ID'], order: { ID: 'DESC' } } },
  });
  const c = CallerContact.safeParse(res.results.c);
  if (!c.success) return { contactId };
  const company = z.object({ TITLE: z.string().nullish() }).safeParse(res.results.co);
  const user = z.array(z.object({ NAME: z.string().nullish(), LAST_NAME: z.string().nullish() })).safeParse(res.results.u);
  const lead = z.array(z.object({ ID: z.union([z.string(), z.number()]) })).safeParse(res.results.l);
  const name = [c.data.NAME, c.data.LAST_NAME].filter(Boolean).join(' ');
  const u = user.success ? user.data[0] : undefined;
  const responsibleName = u ? [u.NAME, u.LAST_NAME].filter(Boolean).join(' ') : '';
  const info: CallerInfo = { contactId: String(c.data.ID) };
  if (name) info.name = name;
  if (company.success && company.data.TITLE) info.company = company.data.TITLE;
  if (idOf(c.data.ASSIGNED_BY_ID)) info.responsibleUserId = idOf(c.data.ASSIGNED_BY_ID)!;
  if (responsibleName) info.responsibleName = responsibleName;
  const openLead = lead.success ? lead.data[0] : undefined;
  if (openLead) info.openLeadId = String(openLead.ID);
  return info;
}
