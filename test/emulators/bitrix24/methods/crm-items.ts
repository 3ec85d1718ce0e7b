/**
 * Leads, deals, contacts, companies: per-entity defaults on top of `crm-entity.ts`.
 * Defaults from the docs: deal `crm-deal-add.md` (title `Deal #{id}`, first type, default pipeline,
 * first stage of the pipeline, first source, +7 days close date), contact `crm-contact-add.md`
 * (first type, first source), lead `crm-lead-add.md` (`IS_RETURN_CUSTOMER=Y` when `CONTACT_ID`
 * or `COMPANY_ID` is given).
 *
 * Simple CRM mode (`crm.settings.mode.get` = 2, docs tutorial `how-to-add-objects-with-crm-mode.md`):
 * `crm.lead.add` still returns the lead id, and when `NAME` is filled the lead is converted at once —
 * `STATUS_ID=CONVERTED`, a deal with `LEAD_ID` (plus a contact, and a company for `COMPANY_TITLE`).
 * Without `NAME` the lead is not converted and stays `NEW`.
 */
import { formatPortalDate, formatPortalDay } from '../time.ts';
import type { CrmItem, MultiFieldValue } from '../types.ts';
import { createItem, entityMethods, type EntityHooks } from './crm-entity.ts';
import type { MethodContext, MethodTable } from './method.ts';

const DEFAULT_CURRENCY = 'RUB';
const UTM = ['UTM_SOURCE', 'UTM_MEDIUM', 'UTM_CAMPAIGN', 'UTM_CONTENT', 'UTM_TERM'];

const firstStatus = (ctx: MethodContext, entityId: string): string | null => ctx.state.statusesOf(entityId)[0]?.STATUS_ID ?? null;

function semanticOf(ctx: MethodContext, entityId: string, statusId: unknown): 'P' | 'S' | 'F' {
  const s = ctx.state.statuses.find((x) => x.ENTITY_ID === entityId && x.STATUS_ID === statusId);
  return s?.SEMANTICS === 'S' ? 'S' : s?.SEMANTICS === 'F' ? 'F' : 'P';
}

function moved(ctx: MethodContext, item: CrmItem): void {
  item.MOVED_BY_ID = String(ctx.auth.userId);
  item.MOVED_TIME = formatPortalDate(ctx.nowMs, ctx.opts.utcOffsetMinutes);
}

/** Keep the deprecated single binding (`CONTACT_ID`) and the list (`CONTACT_IDS`) in step. */
function syncBinding(item: CrmItem, single: string, list: string, changed: string[]): void {
  if (!(list in item)) return;
  const ids = Array.isArray(item[list]) ? (item[list] as number[]) : [];
  if (changed.includes(list)) item[single] = ids.length > 0 ? String(ids[0]) : null;
  else if (changed.includes(single)) item[list] = item[single] ? [Number(item[single])] : [];
}

export const leadHooks: EntityHooks = {
  defaults(ctx, item) {
    Object.assign(item, {
      STATUS_ID: 'NEW',
      CURRENCY_ID: DEFAULT_CURRENCY,
      OPPORTUNITY: '0.00',
      IS_MANUAL_OPPORTUNITY: 'N',
      IS_RETURN_CUSTOMER: 'N',
    });
    moved(ctx, item);
  },
  finalize(ctx, item, isAdd, changed) {
    if (!item.TITLE) item.TITLE = `Lead #${String(item.ID)}`;
    syncBinding(item, 'CONTACT_ID', 'CONTACT_IDS', changed);
    if (!item.STATUS_ID || !ctx.state.hasStatus('STATUS', String(item.STATUS_ID))) item.STATUS_ID = firstStatus(ctx, 'STATUS');
    item.STATUS_SEMANTIC_ID = semanticOf(ctx, 'STATUS', item.STATUS_ID);
    if (!isAdd && changed.includes('STATUS_ID')) moved(ctx, item);
    if (isAdd && (item.CONTACT_ID || item.COMPANY_ID)) item.IS_RETURN_CUSTOMER = 'Y';
  },
  afterAdd(ctx, id, item) {
    if (ctx.state.crmMode === 'simple' && String(item.NAME ?? '').trim() !== '' && item.STATUS_ID !== 'CONVERTED') {
      convertLead(ctx, id, item);
    }
  },
};

export const dealHooks: EntityHooks = {
  defaults(ctx, item) {
    const day = 86_400_000;
    Object.assign(item, {
      TYPE_ID: firstStatus(ctx, 'DEAL_TYPE'),
      CATEGORY_ID: '0',
      IS_NEW: 'Y',
      IS_RECURRING: 'N',
      IS_RETURN_CUSTOMER: 'N',
      IS_REPEATED_APPROACH: 'N',
      CURRENCY_ID: DEFAULT_CURRENCY,
      OPPORTUNITY: '0.00',
      IS_MANUAL_OPPORTUNITY: 'N',
      TAX_VALUE: '0.00',
      CLOSED: 'N',
      BEGINDATE: formatPortalDay(ctx.nowMs, ctx.opts.utcOffsetMinutes),
      CLOSEDATE: formatPortalDay(ctx.nowMs + 7 * day, ctx.opts.utcOffsetMinutes),
      SOURCE_ID: firstStatus(ctx, 'SOURCE'),
    });
    moved(ctx, item);
  },
  finalize(ctx, item, isAdd, changed) {
    if (!item.TITLE) item.TITLE = `Deal #${String(item.ID)}`;
    syncBinding(item, 'CONTACT_ID', 'CONTACT_IDS', changed);
    const categoryId = Number(item.CATEGORY_ID ?? 0);
    const category = ctx.state.dealCategories.find((c) => c.id === categoryId) ?? ctx.state.dealCategories.find((c) => c.id === 0);
    item.CATEGORY_ID = String(category?.id ?? 0);
    // A stage of another pipeline (or none) falls back to the pipeline's first stage.
    const stageEntity = ctx.state.dealStageEntity(category?.id ?? 0);
    if (!item.STAGE_ID || !ctx.state.hasStatus(stageEntity, String(item.STAGE_ID))) item.STAGE_ID = firstStatus(ctx, stageEntity);
    item.STAGE_SEMANTIC_ID = semanticOf(ctx, stageEntity, item.STAGE_ID);
    item.CLOSED = item.STAGE_SEMANTIC_ID === 'P' ? 'N' : 'Y';
    if (!isAdd && changed.includes('STAGE_ID')) moved(ctx, item);
  },
};

export const contactHooks: EntityHooks = {
  defaults(ctx, item) {
    Object.assign(item, { TYPE_ID: firstStatus(ctx, 'CONTACT_TYPE'), SOURCE_ID: firstStatus(ctx, 'SOURCE'), EXPORT: 'Y' });
  },
  finalize(_ctx, item, _isAdd, changed) {
    syncBinding(item, 'COMPANY_ID', 'COMPANY_IDS', changed);
  },
};

export const companyHooks: EntityHooks = {
  defaults(ctx, item) {
    Object.assign(item, {
      COMPANY_TYPE: firstStatus(ctx, 'COMPANY_TYPE'),
      CURRENCY_ID: DEFAULT_CURRENCY,
      REVENUE: '0.00',
      IS_MY_COMPANY: 'N',
    });
  },
  finalize(_ctx, item) {
    if (item.TITLE === null || item.TITLE === undefined) item.TITLE = '';
  },
};

const copyMulti = (item: CrmItem, code: string): { VALUE: string; VALUE_TYPE: string }[] =>
  Array.isArray(item[code]) ? (item[code] as MultiFieldValue[]).map((m) => ({ VALUE: m.VALUE, VALUE_TYPE: m.VALUE_TYPE })) : [];

const pick = (item: CrmItem, codes: string[]): Record<string, unknown> =>
  Object.fromEntries(codes.filter((c) => item[c] !== null && item[c] !== undefined && item[c] !== '').map((c) => [c, item[c]]));

export interface Conversion {
  dealId: number;
  contactId: number | null;
  companyId: number | null;
  created: { ENTITY_TYPE: string; ENTITY_ID: number }[];
}

/** Lead conversion as simple mode does it: contact (unless bound), company (for `COMPANY_TITLE`), deal. */
export function convertLead(ctx: MethodContext, leadId: number, lead: CrmItem): Conversion {
  const created: Conversion['created'] = [];
  let contactId = lead.CONTACT_ID ? Number(lead.CONTACT_ID) : null;
  if (contactId === null) {
    contactId = createItem(
      ctx,
      'contact',
      {
        ...pick(lead, ['HONORIFIC', 'NAME', 'SECOND_NAME', 'LAST_NAME', 'POST', 'BIRTHDATE', 'SOURCE_ID', 'SOURCE_DESCRIPTION', 'ASSIGNED_BY_ID', 'OPENED', ...UTM]),
        PHONE: copyMulti(lead, 'PHONE'),
        EMAIL: copyMulti(lead, 'EMAIL'),
        WEB: copyMulti(lead, 'WEB'),
        IM: copyMulti(lead, 'IM'),
      },
      contactHooks,
    );
    const contact = ctx.state.contacts.get(contactId);
    if (contact) contact.LEAD_ID = String(leadId);
    created.push({ ENTITY_TYPE: 'CONTACT', ENTITY_ID: contactId });
  }
  let companyId = lead.COMPANY_ID ? Number(lead.COMPANY_ID) : null;
  if (companyId === null && lead.COMPANY_TITLE) {
    companyId = createItem(ctx, 'company', { TITLE: lead.COMPANY_TITLE, ASSIGNED_BY_ID: lead.ASSIGNED_BY_ID }, companyHooks);
    const company = ctx.state.companies.get(companyId);
    if (company) company.LEAD_ID = String(leadId);
    created.push({ ENTITY_TYPE: 'COMPANY', ENTITY_ID: companyId });
  }
  const dealId = createItem(
    ctx,
    'deal',
    {
      ...pick(lead, ['TITLE', 'SOURCE_ID', 'SOURCE_DESCRIPTION', 'OPPORTUNITY', 'CURRENCY_ID', 'ASSIGNED_BY_ID', 'COMMENTS', 'OPENED', ...UTM]),
      CONTACT_IDS: [contactId],
      ...(companyId !== null ? { COMPANY_ID: companyId } : {}),
    },
    dealHooks,
  );
  const deal = ctx.state.deals.get(dealId);
  if (deal) deal.LEAD_ID = String(leadId);
  created.push({ ENTITY_TYPE: 'DEAL', ENTITY_ID: dealId });
  Object.assign(lead, {
    STATUS_ID: 'CONVERTED',
    STATUS_SEMANTIC_ID: 'S',
    CONTACT_ID: String(contactId),
    CONTACT_IDS: [contactId],
    COMPANY_ID: companyId === null ? null : String(companyId),
    DATE_CLOSED: formatPortalDate(ctx.nowMs, ctx.opts.utcOffsetMinutes),
  });
  return { dealId, contactId, companyId, created };
}

export const crmItemMethods: MethodTable = {
  ...entityMethods('lead', leadHooks),
  ...entityMethods('deal', dealHooks),
  ...entityMethods('contact', contactHooks),
  ...entityMethods('company', companyHooks),
};
