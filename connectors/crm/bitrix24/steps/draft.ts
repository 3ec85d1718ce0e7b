/**
 * Bitrix24 `fields` of the contact, lead and deal we create, from a delivery task (reference: bitrix24.md
 * §4.2 lead fields, §4.3 multifields, §5 deal fields, §6 contacts). Pure.
 */
import { formatPhone, type DeliveryTask, type MappedField, type PhoneFormat } from '#sdk';
import type { Params } from '../client.ts';
import { DEFAULTS } from '../settings.ts';
import type { Ctx } from './common.ts';

type LeadTask = Extract<DeliveryTask, { kind: 'lead' }>;

/** The portal refuses the whole add for one bad address ("contains an invalid address"): such e-mails stay in the note. */
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const UTM = /^UTM_(SOURCE|MEDIUM|CAMPAIGN|CONTENT|TERM)$/;

export function phoneItems(phonesE164: readonly string[], format: PhoneFormat): { VALUE: string; VALUE_TYPE: string }[] {
  return phonesE164.map((p) => ({ VALUE: formatPhone(p, format), VALUE_TYPE: 'WORK' }));
}

export function emailItems(emails: readonly string[]): { VALUE: string; VALUE_TYPE: string }[] {
  return emails.filter((e) => EMAIL.test(e)).map((e) => ({ VALUE: e, VALUE_TYPE: 'WORK' }));
}

function imItems(task: LeadTask): { VALUE: string; VALUE_TYPE: string }[] {
  const m = task.lead.contact.messenger;
  if (!m || m.kind !== 'telegram') return [];
  // Telegram identity kept as IM/TELEGRAM (value format unconfirmed, sheet §4.3): the @username a manager can open.
  return [{ VALUE: m.username ? `@${m.username.replace(/^@/, '')}` : m.userId, VALUE_TYPE: 'TELEGRAM' }];
}

/**
 * Mapped values for one Bitrix entity. Enumeration fields take an item id; a mapping may name the item's text
 * ("Site form"), which is turned into its id here.
 */
export function mappedFields(ctx: Ctx, fields: readonly MappedField[], from: 'lead' | 'contact', into: 'lead' | 'deal' | 'contact'): Params {
  const out: Params = {};
  for (const f of fields) {
    if (f.entity !== from || f.target === 'SOURCE_ID') continue;
    const entry = ctx.facts.fields.find((x) => x.entity === into && x.key === f.target);
    const item = entry?.enums?.find((e) => e.id === f.value) ?? entry?.enums?.find((e) => e.value.toLowerCase() === f.value.toLowerCase());
    out[f.target] = item ? item.id : f.value;
  }
  return out;
}

/** The mapping's SOURCE_ID if the portal knows it, else the account default (an unknown one is logged, never sent). */
export function sourceIdFor(ctx: Ctx, fields: readonly MappedField[], fallback: string): string {
  const mapped = fields.find((f) => f.target === 'SOURCE_ID' && f.entity === 'lead')?.value;
  if (!mapped) return fallback;
  if (ctx.meta.sourceIds.length === 0 || ctx.meta.sourceIds.includes(mapped)) return mapped;
  ctx.io.log.warn({ mapped, used: fallback, valid: ctx.meta.sourceIds }, 'mapped SOURCE_ID is not a source on the portal; using the account default');
  return fallback;
}

function sourceDescription(task: LeadTask): string {
  const l = task.lead;
  return `${l.source.name}${l.formName ? ` / ${l.formName}` : ''}`;
}

/** Name a manager sees on a contact; Bitrix shows nothing useful for a nameless one. */
export function contactName(task: LeadTask): string {
  const c = task.lead.contact;
  const phone = c.phonesE164[0];
  return c.name?.trim() || (phone ? formatPhone(phone, task.phoneFormat) : '') || c.emails[0] || (c.messenger?.username ? `@${c.messenger.username}` : '') || 'Без имени';
}

const marks = (originId: string): Params => ({ ORIGINATOR_ID: DEFAULTS.originatorId, ORIGIN_ID: originId });

export function contactFields(ctx: Ctx, task: LeadTask, originId: string, o: { companyId?: string | undefined; assignedById?: string | undefined }): Params {
  const lead = mappedFields(ctx, task.fields, 'lead', ctx.meta.mode === 'simple' ? 'deal' : 'lead');
  // First-touch attribution on the contact: its UTM_* come from the inquiry that created it.
  const utm = Object.fromEntries(Object.entries(lead).filter(([k]) => UTM.test(k)));
  return {
    NAME: contactName(task),
    PHONE: phoneItems(task.lead.contact.phonesE164, task.phoneFormat),
    EMAIL: emailItems(task.lead.contact.emails),
    IM: imItems(task),
    SOURCE_ID: sourceIdFor(ctx, task.fields, ctx.meta.sourceId),
    SOURCE_DESCRIPTION: lead.SOURCE_DESCRIPTION ?? sourceDescription(task),
    OPENED: 'Y',
    ...utm,
    ...mappedFields(ctx, task.fields, 'contact', 'contact'),
    ...(o.companyId ? { COMPANY_ID: o.companyId } : {}),
    ...(o.assignedById ? { ASSIGNED_BY_ID: o.assignedById } : {}),
    ...marks(originId),
  };
}

export function leadFields(ctx: Ctx, task: LeadTask, originId: string, o: { contactId?: string | undefined; companyId?: string | undefined; assignedById?: string | undefined }): Params {
  const c = task.lead.contact;
  return {
    TITLE: task.lead.title,
    ...(c.name ? { NAME: c.name } : {}),
    ...(c.company && !o.companyId ? { COMPANY_TITLE: c.company } : {}),
    PHONE: phoneItems(c.phonesE164, task.phoneFormat),
    EMAIL: emailItems(c.emails),
    IM: imItems(task),
    SOURCE_DESCRIPTION: sourceDescription(task),
    OPENED: 'Y',
    ...mappedFields(ctx, task.fields, 'lead', 'lead'),
    SOURCE_ID: sourceIdFor(ctx, task.fields, ctx.meta.sourceId),
    // CONTACT_ID/COMPANY_ID make it a repeat lead (IS_RETURN_CUSTOMER=Y) on portals with repeat leads on.
    ...(o.contactId ? { CONTACT_ID: o.contactId } : {}),
    ...(o.companyId ? { COMPANY_ID: o.companyId } : {}),
    ...(o.assignedById ? { ASSIGNED_BY_ID: o.assignedById } : {}),
    ...marks(originId),
  };
}

export function dealFields(
  ctx: Ctx,
  task: LeadTask,
  originId: string,
  o: { contactId?: string | undefined; companyId?: string | undefined; assignedById?: string | undefined; categoryId: number; stageId: string | undefined },
): Params {
  return {
    TITLE: task.lead.title,
    CATEGORY_ID: o.categoryId,
    ...(o.stageId ? { STAGE_ID: o.stageId } : {}),
    SOURCE_DESCRIPTION: sourceDescription(task),
    OPENED: 'Y',
    ...mappedFields(ctx, task.fields, 'lead', 'deal'),
    // Always set: a deal without SOURCE_ID gets the first source of the directory (sheet §5).
    SOURCE_ID: sourceIdFor(ctx, task.fields, ctx.meta.sourceId),
    ...(o.contactId ? { CONTACT_IDS: [o.contactId] } : {}),
    ...(o.companyId ? { COMPANY_ID: o.companyId } : {}),
    ...(o.assignedById ? { ASSIGNED_BY_ID: o.assignedById } : {}),
    ...marks(originId),
  };
}
