/**
 * Records → v4 JSON, in the shapes the real API returns (SDK models: ContactModel,
 * LeadModel, NoteModel, TaskModel, CustomFieldModel, StatusModel…).
 */
import { link } from './http.ts';
import type { AmoState } from './state.ts';
import type {
  CfEntry,
  CompanyRecord,
  ContactRecord,
  FieldDef,
  LeadRecord,
  NoteRecord,
  PipelineDef,
  StatusDef,
  TaskRecord,
  UnsortedRecord,
  UserDef,
} from './types.ts';

export interface RenderCtx {
  state: AmoState;
  base: string;
  with: Set<string>;
}

function cfv(entries: CfEntry[]): CfEntry[] | null {
  return entries.length > 0 ? entries : null;
}

function ref(base: string, path: string, id: number): { id: number; _links: ReturnType<typeof link> } {
  return { id, _links: link(`${base}/api/v4/${path}/${id}`) };
}

export function renderContact(c: ContactRecord, ctx: RenderCtx): Record<string, unknown> {
  const { state, base } = ctx;
  const embedded: Record<string, unknown> = {
    tags: c.tags,
    companies: c.company_id !== null ? [ref(base, 'companies', c.company_id)] : [],
  };
  if (ctx.with.has('leads')) embedded.leads = state.leadsOfContact(c.id).map((l) => ref(base, 'leads', l.id));
  if (ctx.with.has('customers')) embedded.customers = [];
  if (ctx.with.has('catalog_elements')) embedded.catalog_elements = [];
  return {
    id: c.id,
    name: c.name,
    first_name: c.first_name,
    last_name: c.last_name,
    responsible_user_id: c.responsible_user_id,
    group_id: c.group_id,
    created_by: c.created_by,
    updated_by: c.updated_by,
    created_at: c.created_at,
    updated_at: c.updated_at,
    closest_task_at: state.closestTaskAt('contacts', c.id),
    is_deleted: c.is_deleted,
    is_unsorted: c.is_unsorted,
    custom_fields_values: cfv(c.custom_fields_values),
    account_id: state.accountId,
    _links: link(`${base}/api/v4/contacts/${c.id}`),
    _embedded: embedded,
  };
}

export function renderCompany(c: CompanyRecord, ctx: RenderCtx): Record<string, unknown> {
  const { state, base } = ctx;
  const embedded: Record<string, unknown> = { tags: c.tags };
  if (ctx.with.has('contacts')) embedded.contacts = state.contactsOfCompany(c.id).map((x) => ref(base, 'contacts', x.id));
  if (ctx.with.has('leads')) embedded.leads = state.leadsOfCompany(c.id).map((l) => ref(base, 'leads', l.id));
  if (ctx.with.has('customers')) embedded.customers = [];
  return {
    id: c.id,
    name: c.name,
    responsible_user_id: c.responsible_user_id,
    group_id: c.group_id,
    created_by: c.created_by,
    updated_by: c.updated_by,
    created_at: c.created_at,
    updated_at: c.updated_at,
    closest_task_at: state.closestTaskAt('companies', c.id),
    is_deleted: c.is_deleted,
    custom_fields_values: cfv(c.custom_fields_values),
    account_id: state.accountId,
    _links: link(`${base}/api/v4/companies/${c.id}`),
    _embedded: embedded,
  };
}

export function renderLead(l: LeadRecord, ctx: RenderCtx): Record<string, unknown> {
  const { state, base } = ctx;
  const embedded: Record<string, unknown> = {
    tags: l.tags,
    companies: l.company_id !== null ? [ref(base, 'companies', l.company_id)] : [],
  };
  if (ctx.with.has('contacts')) {
    embedded.contacts = l.contacts.map((c) => ({ ...ref(base, 'contacts', c.id), is_main: c.is_main }));
  }
  if (ctx.with.has('loss_reason')) embedded.loss_reason = [];
  if (ctx.with.has('catalog_elements')) embedded.catalog_elements = [];
  if (ctx.with.has('source')) embedded.source = null;
  const out: Record<string, unknown> = {
    id: l.id,
    name: l.name,
    price: l.price,
    responsible_user_id: l.responsible_user_id,
    group_id: l.group_id,
    status_id: l.status_id,
    pipeline_id: l.pipeline_id,
    loss_reason_id: l.loss_reason_id,
    created_by: l.created_by,
    updated_by: l.updated_by,
    created_at: l.created_at,
    updated_at: l.updated_at,
    closed_at: l.closed_at,
    closest_task_at: state.closestTaskAt('leads', l.id),
    is_deleted: l.is_deleted,
    custom_fields_values: cfv(l.custom_fields_values),
    score: null,
    account_id: state.accountId,
    labor_cost: null,
  };
  if (ctx.with.has('source_id')) out.source_id = l.source_id;
  if (ctx.with.has('is_price_modified_by_robot')) out.is_price_modified_by_robot = false;
  out._links = link(`${base}/api/v4/leads/${l.id}`);
  out._embedded = embedded;
  return out;
}

export function renderUnsorted(u: UnsortedRecord, ctx: RenderCtx): Record<string, unknown> {
  const { base } = ctx;
  return {
    uid: u.uid,
    source_uid: u.source_uid,
    source_name: u.source_name,
    category: u.category,
    pipeline_id: u.pipeline_id,
    created_at: u.created_at,
    metadata: u.metadata,
    account_id: ctx.state.accountId,
    _links: link(`${base}/api/v4/leads/unsorted/${u.uid}`),
    _embedded: {
      contacts: u.contact_ids.map((id) => ref(base, 'contacts', id)),
      leads: u.lead_ids.map((id) => ref(base, 'leads', id)),
      companies: u.company_ids.map((id) => ref(base, 'companies', id)),
    },
  };
}

export function renderNote(n: NoteRecord, ctx: RenderCtx): Record<string, unknown> {
  return {
    id: n.id,
    entity_id: n.entity_id,
    created_by: n.created_by,
    updated_by: n.updated_by,
    created_at: n.created_at,
    updated_at: n.updated_at,
    responsible_user_id: n.responsible_user_id,
    group_id: n.group_id,
    note_type: n.note_type,
    params: n.params,
    account_id: ctx.state.accountId,
    _links: link(`${ctx.base}/api/v4/${n.entity_type}/${n.entity_id}/notes/${n.id}`),
  };
}

export function renderTask(t: TaskRecord, ctx: RenderCtx): Record<string, unknown> {
  return {
    id: t.id,
    created_by: t.created_by,
    updated_by: t.updated_by,
    created_at: t.created_at,
    updated_at: t.updated_at,
    responsible_user_id: t.responsible_user_id,
    group_id: t.group_id,
    entity_id: t.entity_id,
    entity_type: t.entity_type,
    duration: t.duration,
    is_completed: t.is_completed,
    task_type_id: t.task_type_id,
    text: t.text,
    result: t.result ?? [],
    complete_till: t.complete_till,
    account_id: ctx.state.accountId,
    _links: link(`${ctx.base}/api/v4/tasks/${t.id}`),
  };
}

export function renderField(f: FieldDef, ctx: RenderCtx): Record<string, unknown> {
  return {
    id: f.id,
    name: f.name,
    type: f.type,
    account_id: ctx.state.accountId,
    code: f.code,
    sort: f.sort,
    is_api_only: f.is_api_only,
    enums: f.enums ? f.enums.map((e) => ({ id: e.id, value: e.value, sort: e.sort })) : null,
    group_id: f.group_id,
    required_statuses: [],
    is_deletable: f.is_deletable,
    is_predefined: f.is_predefined,
    entity_type: f.entity_type,
    remind: null,
    triggers: [],
    currency: null,
    hidden_statuses: [],
    chained_lists: null,
    _links: link(`${ctx.base}/api/v4/${f.entity_type}/custom_fields/${f.id}`),
  };
}

export function renderStatus(s: StatusDef, pipelineId: number, ctx: RenderCtx): Record<string, unknown> {
  return {
    id: s.id,
    name: s.name,
    sort: s.sort,
    is_editable: s.is_editable,
    pipeline_id: pipelineId,
    color: s.color,
    type: s.type,
    account_id: ctx.state.accountId,
    _links: link(`${ctx.base}/api/v4/leads/pipelines/${pipelineId}/statuses/${s.id}`),
  };
}

export function renderPipeline(p: PipelineDef, ctx: RenderCtx): Record<string, unknown> {
  return {
    id: p.id,
    name: p.name,
    sort: p.sort,
    is_main: p.is_main,
    is_unsorted_on: p.is_unsorted_on,
    is_archive: p.is_archive,
    account_id: ctx.state.accountId,
    _links: link(`${ctx.base}/api/v4/leads/pipelines/${p.id}`),
    _embedded: { statuses: p.statuses.map((s) => renderStatus(s, p.id, ctx)) },
  };
}

export function renderUser(u: UserDef, ctx: RenderCtx): Record<string, unknown> {
  const all = { view: 'A', edit: 'A', add: 'A', delete: 'A', export: 'A' };
  const own = { view: 'M', edit: 'M', add: 'A', delete: 'M', export: 'M' };
  const r = u.is_admin ? all : own;
  const out: Record<string, unknown> = {
    id: u.id,
    name: u.name,
    email: u.email,
    lang: u.lang,
    rights: {
      leads: r,
      contacts: r,
      companies: r,
      tasks: { edit: r.edit, delete: r.delete },
      mail_access: true,
      catalog_access: true,
      files_access: true,
      status_rights: [],
      catalog_rights: null,
      custom_fields_rights: null,
      oper_day_reports_view_access: false,
      oper_day_user_tracking: false,
      is_admin: u.is_admin,
      is_free: false,
      is_active: u.is_active,
      group_id: u.group_id === 0 ? null : u.group_id,
      role_id: null,
    },
    _links: link(`${ctx.base}/api/v4/users/${u.id}`),
  };
  if (ctx.with.has('role') || ctx.with.has('group')) {
    out._embedded = {
      ...(ctx.with.has('role') ? { roles: [] } : {}),
      ...(ctx.with.has('group') ? { groups: [{ id: 0, name: 'Отдел продаж' }] } : {}),
    };
  }
  return out;
}
