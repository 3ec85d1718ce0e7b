/**
 * Validation and write logic shared by every endpoint that creates or edits contacts,
 * companies and leads (plain add/update, `/leads/complex`, Unsorted). Validation never
 * mutates state, so a batch with one bad item writes nothing (sheet §3).
 */
import { applyCustomFields, parseCustomFields, type CfPatch } from './custom-fields.ts';
import { isInt, isRecord, optInt, optString, type ItemErrors } from './http.ts';
import type { AmoState } from './state.ts';
import type { CompanyRecord, ContactRecord, LeadContactLink, LeadRecord, Tag } from './types.ts';

export type Mode = 'create' | 'update';

interface TagOps {
  replace?: Tag[] | null;
  add: Tag[];
  remove: Array<{ id?: number; name?: string }>;
}

interface Common {
  id?: number;
  name?: string;
  responsible_user_id?: number;
  created_by?: number;
  updated_by?: number;
  created_at?: number;
  updated_at?: number;
  cf: CfPatch[];
  tags: TagOps;
}

export interface ContactDraft extends Common {
  first_name?: string;
  last_name?: string;
  company_id?: number | null;
}

export type CompanyDraft = Common;

export interface LeadDraft extends Common {
  price?: number;
  pipeline_id?: number;
  status_id?: number;
  loss_reason_id?: number;
  closed_at?: number;
  contacts?: LeadContactLink[];
  company_id?: number | null;
  visitor_uid?: string;
}

/** Tag references `[{name}|{id}]` → refs; records InvalidType otherwise. */
function tagRefs(raw: unknown, path: string, errs: ItemErrors): Array<{ id?: number; name?: string }> | undefined {
  if (!Array.isArray(raw)) {
    errs.type(path, 'array');
    return undefined;
  }
  const refs: Array<{ id?: number; name?: string }> = [];
  raw.forEach((t, i) => {
    if (isRecord(t) && typeof t.name === 'string') refs.push({ name: t.name });
    else if (isRecord(t) && isInt(t.id)) refs.push({ id: t.id });
    else errs.missing(`${path}.${i}.name`);
  });
  return refs;
}

function parseCommon(
  state: AmoState,
  item: Record<string, unknown>,
  entity: 'contacts' | 'companies' | 'leads',
  mode: Mode,
  errs: ItemErrors,
  prefix: string,
): Common {
  const out: Common = { cf: [], tags: { add: [], remove: [] } };
  if (mode === 'update') {
    const id = item.id;
    if (id === undefined) errs.missing(`${prefix}id`);
    else if (!isInt(id)) errs.type(`${prefix}id`, 'int');
    else if (!state.entityExists(entity, id)) errs.choice(`${prefix}id`);
    else out.id = id;
  }
  out.name = optString(item, 'name', errs, prefix);
  out.responsible_user_id = optInt(item, 'responsible_user_id', errs, prefix);
  if (out.responsible_user_id !== undefined && !state.user(out.responsible_user_id)) errs.choice(`${prefix}responsible_user_id`);
  out.created_by = optInt(item, 'created_by', errs, prefix);
  out.updated_by = optInt(item, 'updated_by', errs, prefix);
  out.created_at = optInt(item, 'created_at', errs, prefix);
  out.updated_at = optInt(item, 'updated_at', errs, prefix);
  out.cf = parseCustomFields(item.custom_fields_values, state.fieldsOf(entity), errs, prefix);
  const embedded = item._embedded;
  if (embedded !== undefined && embedded !== null && !isRecord(embedded)) errs.type(`${prefix}_embedded`, 'object');
  if (isRecord(embedded) && embedded.tags !== undefined) {
    if (embedded.tags === null) out.tags.replace = null;
    else out.tags.replace = resolveTags(state, tagRefs(embedded.tags, `${prefix}_embedded.tags`, errs));
  }
  if (item.tags_to_add !== undefined) out.tags.add = resolveTags(state, tagRefs(item.tags_to_add, `${prefix}tags_to_add`, errs)) ?? [];
  if (item.tags_to_delete !== undefined) out.tags.remove = tagRefs(item.tags_to_delete, `${prefix}tags_to_delete`, errs) ?? [];
  return out;
}

function resolveTags(state: AmoState, refs: Array<{ id?: number; name?: string }> | undefined): Tag[] | undefined {
  return refs?.map((r) => state.tag(r)).filter((t): t is Tag => t !== undefined);
}

function applyTags(current: Tag[], ops: TagOps): Tag[] {
  let tags = ops.replace === undefined ? [...current] : [...(ops.replace ?? [])];
  for (const t of ops.add) if (!tags.some((x) => x.id === t.id)) tags.push(t);
  tags = tags.filter((t) => !ops.remove.some((r) => r.id === t.id || (r.name !== undefined && r.name.toLowerCase() === t.name.toLowerCase())));
  return tags;
}

/** `_embedded.{key}: [{id}]` of existing entities. */
function embeddedIds(
  state: AmoState,
  item: Record<string, unknown>,
  key: 'contacts' | 'companies',
  errs: ItemErrors,
  prefix: string,
): Array<{ id: number; is_main: boolean }> | undefined {
  const embedded = item._embedded;
  if (!isRecord(embedded) || embedded[key] === undefined) return undefined;
  const list = embedded[key];
  const path = `${prefix}_embedded.${key}`;
  if (!Array.isArray(list)) {
    errs.type(path, 'array');
    return undefined;
  }
  const out: Array<{ id: number; is_main: boolean }> = [];
  list.forEach((x, i) => {
    if (!isRecord(x) || x.id === undefined) return errs.missing(`${path}.${i}.id`);
    if (!isInt(x.id)) return errs.type(`${path}.${i}.id`, 'int');
    if (!state.entityExists(key, x.id)) return errs.choice(`${path}.${i}.id`);
    out.push({ id: x.id, is_main: x.is_main === true });
  });
  return out;
}

// ---------------------------------------------------------------- contacts

export function parseContact(state: AmoState, item: unknown, mode: Mode, errs: ItemErrors, prefix = ''): ContactDraft {
  if (!isRecord(item)) {
    errs.type(prefix.replace(/\.$/, ''), 'object');
    return { cf: [], tags: { add: [], remove: [] } };
  }
  const d: ContactDraft = parseCommon(state, item, 'contacts', mode, errs, prefix);
  d.first_name = optString(item, 'first_name', errs, prefix);
  d.last_name = optString(item, 'last_name', errs, prefix);
  const companies = embeddedIds(state, item, 'companies', errs, prefix);
  if (companies && companies.length > 1) errs.tooMany(`${prefix}_embedded.companies`, 1);
  if (companies) d.company_id = companies[0]?.id ?? null;
  return d;
}

export function createContact(state: AmoState, d: ContactDraft, userId: number, isUnsorted = false): ContactRecord {
  const now = state.nowSec();
  const first = d.first_name ?? '';
  const last = d.last_name ?? '';
  const rec: ContactRecord = {
    id: state.nextId('contact'),
    name: d.name ?? [first, last].filter(Boolean).join(' '),
    first_name: first,
    last_name: last,
    responsible_user_id: d.responsible_user_id ?? userId,
    group_id: 0,
    created_by: d.created_by ?? userId,
    updated_by: d.updated_by ?? d.created_by ?? userId,
    created_at: d.created_at ?? now,
    updated_at: d.updated_at ?? d.created_at ?? now,
    is_deleted: false,
    is_unsorted: isUnsorted,
    custom_fields_values: applyCustomFields([], d.cf),
    tags: applyTags([], d.tags),
    company_id: d.company_id ?? null,
  };
  state.contacts.set(rec.id, rec);
  return rec;
}

export function updateContact(state: AmoState, rec: ContactRecord, d: ContactDraft, userId: number): ContactRecord {
  if (d.name !== undefined) rec.name = d.name;
  if (d.first_name !== undefined) rec.first_name = d.first_name;
  if (d.last_name !== undefined) rec.last_name = d.last_name;
  if (d.responsible_user_id !== undefined) rec.responsible_user_id = d.responsible_user_id;
  if (d.company_id !== undefined) rec.company_id = d.company_id;
  rec.custom_fields_values = applyCustomFields(rec.custom_fields_values, d.cf);
  rec.tags = applyTags(rec.tags, d.tags);
  rec.updated_by = d.updated_by ?? userId;
  rec.updated_at = d.updated_at ?? state.nowSec();
  return rec;
}

// ---------------------------------------------------------------- companies

export function parseCompany(state: AmoState, item: unknown, mode: Mode, errs: ItemErrors, prefix = ''): CompanyDraft {
  if (!isRecord(item)) {
    errs.type(prefix.replace(/\.$/, ''), 'object');
    return { cf: [], tags: { add: [], remove: [] } };
  }
  return parseCommon(state, item, 'companies', mode, errs, prefix);
}

export function createCompany(state: AmoState, d: CompanyDraft, userId: number, isUnsorted = false): CompanyRecord {
  const now = state.nowSec();
  const rec: CompanyRecord = {
    id: state.nextId('company'),
    name: d.name ?? '',
    responsible_user_id: d.responsible_user_id ?? userId,
    group_id: 0,
    created_by: d.created_by ?? userId,
    updated_by: d.updated_by ?? d.created_by ?? userId,
    created_at: d.created_at ?? now,
    updated_at: d.updated_at ?? d.created_at ?? now,
    is_deleted: false,
    is_unsorted: isUnsorted,
    custom_fields_values: applyCustomFields([], d.cf),
    tags: applyTags([], d.tags),
  };
  state.companies.set(rec.id, rec);
  return rec;
}

export function updateCompany(state: AmoState, rec: CompanyRecord, d: CompanyDraft, userId: number): CompanyRecord {
  if (d.name !== undefined) rec.name = d.name;
  if (d.responsible_user_id !== undefined) rec.responsible_user_id = d.responsible_user_id;
  rec.custom_fields_values = applyCustomFields(rec.custom_fields_values, d.cf);
  rec.tags = applyTags(rec.tags, d.tags);
  rec.updated_by = d.updated_by ?? userId;
  rec.updated_at = d.updated_at ?? state.nowSec();
  return rec;
}

// ---------------------------------------------------------------- leads

export interface LeadParseOpts {
  /** Unsorted and complex items embed full contacts instead of `{id}` refs. */
  embeddedRefs: boolean;
  /** Putting a lead straight into the Unsorted status is refused outside §6 endpoints. */
  allowUnsortedStatus: boolean;
}

export function parseLead(
  state: AmoState,
  item: unknown,
  mode: Mode,
  errs: ItemErrors,
  prefix = '',
  o: LeadParseOpts = { embeddedRefs: true, allowUnsortedStatus: false },
): LeadDraft {
  if (!isRecord(item)) {
    errs.type(prefix.replace(/\.$/, ''), 'object');
    return { cf: [], tags: { add: [], remove: [] } };
  }
  const d: LeadDraft = parseCommon(state, item, 'leads', mode, errs, prefix);
  if (item.price !== undefined && item.price !== null) {
    if (typeof item.price !== 'number' || !Number.isFinite(item.price)) errs.type(`${prefix}price`, 'int');
    else d.price = item.price;
  }
  d.pipeline_id = optInt(item, 'pipeline_id', errs, prefix);
  d.status_id = optInt(item, 'status_id', errs, prefix);
  d.loss_reason_id = optInt(item, 'loss_reason_id', errs, prefix);
  d.closed_at = optInt(item, 'closed_at', errs, prefix);
  d.visitor_uid = optString(item, 'visitor_uid', errs, prefix);
  if (d.pipeline_id !== undefined && !state.pipeline(d.pipeline_id)) errs.choice(`${prefix}pipeline_id`);
  if (d.status_id !== undefined) {
    const p = d.pipeline_id !== undefined ? state.pipeline(d.pipeline_id) : state.pipelineOfStatus(d.status_id);
    const s = p?.statuses.find((x) => x.id === d.status_id);
    if (p && !s) errs.choice(`${prefix}status_id`);
    if (!p && d.pipeline_id === undefined) errs.choice(`${prefix}status_id`);
    // Unconfirmed on the real API (sheet §5.1); refusing keeps clients on the Unsorted endpoints.
    if (s?.type === 1 && !o.allowUnsortedStatus) errs.choice(`${prefix}status_id`);
  }
  if (o.embeddedRefs) {
    const contacts = embeddedIds(state, item, 'contacts', errs, prefix);
    if (contacts) {
      const main = contacts.findIndex((c) => c.is_main);
      d.contacts = contacts.map((c, i) => ({ id: c.id, is_main: main === -1 ? i === 0 : i === main }));
    }
    const companies = embeddedIds(state, item, 'companies', errs, prefix);
    if (companies && companies.length > 1) errs.tooMany(`${prefix}_embedded.companies`, 1);
    if (companies) d.company_id = companies[0]?.id ?? null;
  }
  return d;
}

function placeLead(state: AmoState, d: LeadDraft, current?: LeadRecord): { pipeline_id: number; status_id: number } {
  if (d.status_id !== undefined) {
    const p = d.pipeline_id !== undefined ? state.pipeline(d.pipeline_id) : state.pipelineOfStatus(d.status_id, current?.pipeline_id);
    return { pipeline_id: p?.id ?? state.mainPipeline().id, status_id: d.status_id };
  }
  if (d.pipeline_id !== undefined && d.pipeline_id !== current?.pipeline_id) {
    const p = state.pipeline(d.pipeline_id) ?? state.mainPipeline();
    return { pipeline_id: p.id, status_id: state.firstStage(p)?.id ?? 142 };
  }
  if (current) return { pipeline_id: current.pipeline_id, status_id: current.status_id };
  const main = state.mainPipeline();
  return { pipeline_id: main.id, status_id: state.firstStage(main)?.id ?? 142 };
}

function isClosed(statusId: number): boolean {
  return statusId === 142 || statusId === 143;
}

export function createLead(state: AmoState, d: LeadDraft, userId: number): LeadRecord {
  const now = state.nowSec();
  const id = state.nextId('lead');
  const place = placeLead(state, d);
  const rec: LeadRecord = {
    id,
    name: d.name ?? `Сделка #${id}`,
    price: d.price ?? 0,
    ...place,
    responsible_user_id: d.responsible_user_id ?? userId,
    group_id: 0,
    created_by: d.created_by ?? userId,
    updated_by: d.updated_by ?? d.created_by ?? userId,
    created_at: d.created_at ?? now,
    updated_at: d.updated_at ?? d.created_at ?? now,
    is_deleted: false,
    loss_reason_id: d.loss_reason_id ?? null,
    closed_at: isClosed(place.status_id) ? (d.closed_at ?? now) : null,
    custom_fields_values: applyCustomFields([], d.cf),
    tags: applyTags([], d.tags),
    contacts: d.contacts ?? [],
    company_id: d.company_id ?? null,
    source_id: null,
    visitor_uid: d.visitor_uid ?? null,
  };
  state.leads.set(rec.id, rec);
  return rec;
}

export function updateLead(state: AmoState, rec: LeadRecord, d: LeadDraft, userId: number): LeadRecord {
  const place = placeLead(state, d, rec);
  if (!isClosed(rec.status_id) && isClosed(place.status_id)) rec.closed_at = d.closed_at ?? state.nowSec();
  Object.assign(rec, place);
  if (d.name !== undefined) rec.name = d.name;
  if (d.price !== undefined) rec.price = d.price;
  if (d.responsible_user_id !== undefined) rec.responsible_user_id = d.responsible_user_id;
  if (d.loss_reason_id !== undefined) rec.loss_reason_id = d.loss_reason_id;
  if (d.contacts !== undefined) rec.contacts = d.contacts;
  if (d.company_id !== undefined) rec.company_id = d.company_id;
  rec.custom_fields_values = applyCustomFields(rec.custom_fields_values, d.cf);
  rec.tags = applyTags(rec.tags, d.tags);
  rec.updated_by = d.updated_by ?? userId;
  rec.updated_at = d.updated_at ?? state.nowSec();
  return rec;
}
