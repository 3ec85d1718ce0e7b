/**
 * `POST /api/v4/leads/complex` (sheet §5.2): ≤ 50 leads, each with at most one contact and
 * one company (new objects or `{id}`), ≤ 40 custom-field values per entity. Answers a bare
 * array `[{id, contact_id, company_id, request_id: [..], merged}]`. With `_embedded.metadata`
 * (`category: forms|sip`) the lead lands in Unsorted.
 */
import type { FastifyInstance } from 'fastify';
import { valuesByCode } from '../custom-fields.ts';
import { ItemErrors, isInt, isRecord, readBatch, requestIdOf, sendValidation } from '../http.ts';
import { samePhone } from '../search.ts';
import type { AmoState } from '../state.ts';
import type { CompanyRecord, ContactRecord, LeadRecord } from '../types.ts';
import {
  createCompany,
  createContact,
  createLead,
  parseCompany,
  parseContact,
  parseLead,
  type CompanyDraft,
  type ContactDraft,
  type LeadDraft,
} from '../writers.ts';
import { userOf, type RouteDeps } from './deps.ts';
import { createUnsortedRecord } from './unsorted.ts';

const MAX_COMPLEX = 50;
const MAX_CF_VALUES = 40;

type Ref<D> = { existing: number } | { draft: D } | null;

interface ComplexItem {
  lead: LeadDraft;
  contact: Ref<ContactDraft>;
  company: Ref<CompanyDraft>;
  category: 'forms' | 'sip' | null;
  metadata: Record<string, unknown>;
}

function parseRef<D>(
  state: AmoState,
  embedded: Record<string, unknown>,
  key: 'contacts' | 'companies',
  errs: ItemErrors,
  parse: (item: unknown, prefix: string) => D,
): Ref<D> {
  const list = embedded[key];
  if (list === undefined || list === null) return null;
  const path = `_embedded.${key}`;
  if (!Array.isArray(list)) {
    errs.type(path, 'array');
    return null;
  }
  if (list.length > 1) errs.tooMany(path, 1);
  const first: unknown = list[0];
  if (first === undefined) return null;
  if (isRecord(first) && first.id !== undefined) {
    if (!isInt(first.id)) errs.type(`${path}.0.id`, 'int');
    else if (!state.entityExists(key, first.id)) errs.choice(`${path}.0.id`);
    else return { existing: first.id };
    return null;
  }
  if (isRecord(first) && Array.isArray(first.custom_fields_values) && first.custom_fields_values.length > MAX_CF_VALUES) {
    errs.tooMany(`${path}.0.custom_fields_values`, MAX_CF_VALUES);
  }
  return { draft: parse(first, `${path}.0.`) };
}

function parseItem(state: AmoState, item: unknown, errs: ItemErrors): ComplexItem {
  const lead = parseLead(state, item, 'create', errs, '', { embeddedRefs: false, allowUnsortedStatus: false });
  const out: ComplexItem = { lead, contact: null, company: null, category: null, metadata: {} };
  if (!isRecord(item)) return out;
  if (Array.isArray(item.custom_fields_values) && item.custom_fields_values.length > MAX_CF_VALUES) {
    errs.tooMany('custom_fields_values', MAX_CF_VALUES);
  }
  const embedded = isRecord(item._embedded) ? item._embedded : {};
  out.contact = parseRef(state, embedded, 'contacts', errs, (x, p) => parseContact(state, x, 'create', errs, p));
  out.company = parseRef(state, embedded, 'companies', errs, (x, p) => parseCompany(state, x, 'create', errs, p));
  const meta = embedded.metadata;
  if (meta !== undefined && meta !== null) {
    if (!isRecord(meta)) errs.type('_embedded.metadata', 'object');
    else if (meta.category !== 'forms' && meta.category !== 'sip') errs.choice('_embedded.metadata.category');
    else {
      out.category = meta.category;
      out.metadata = meta;
    }
  }
  return out;
}

/** Duplicate control (when enabled): an open lead of a contact sharing a phone or email. */
function findDuplicate(state: AmoState, d: ContactDraft | undefined): LeadRecord | undefined {
  if (!d) return undefined;
  const phones = d.cf.filter((p) => p.field.code === 'PHONE').flatMap((p) => (p.values ?? []).map((v) => String(v.value)));
  const emails = d.cf.filter((p) => p.field.code === 'EMAIL').flatMap((p) => (p.values ?? []).map((v) => String(v.value).toLowerCase()));
  for (const c of state.contacts.values()) {
    if (c.is_deleted) continue;
    const cPhones = valuesByCode(c.custom_fields_values, 'PHONE');
    const cEmails = valuesByCode(c.custom_fields_values, 'EMAIL').map((e) => e.toLowerCase());
    const same = phones.some((p) => cPhones.some((x) => samePhone(p, x))) || emails.some((e) => cEmails.includes(e));
    if (!same) continue;
    const open = state.leadsOfContact(c.id).find((l) => l.status_id !== 142 && l.status_id !== 143);
    if (open) return open;
  }
  return undefined;
}

export function complexRoutes(app: FastifyInstance, { state, opts }: RouteDeps): void {
  app.post('/api/v4/leads/complex', async (req, reply) => {
    const items = readBatch(reply, req.body, MAX_COMPLEX);
    if (!items) return reply;
    const errors = items.map((item, i) => new ItemErrors(requestIdOf(item, i)));
    const parsed = items.map((item, i) => parseItem(state, item, errors[i] ?? new ItemErrors(String(i))));
    if (errors.some((e) => !e.ok)) return sendValidation(reply, errors);
    const userId = userOf(req, state);
    const result = parsed.map((p, i) => {
      const requestId = errors[i]?.requestId ?? String(i);
      const contactDraft = p.contact && 'draft' in p.contact ? p.contact.draft : undefined;
      const dup = opts.complexDuplicateControl ? findDuplicate(state, contactDraft) : undefined;
      if (dup) {
        return { id: dup.id, contact_id: dup.contacts[0]?.id ?? null, company_id: dup.company_id, request_id: [requestId], merged: true };
      }
      const unsorted = p.category !== null;
      let contact: ContactRecord | undefined;
      let company: CompanyRecord | undefined;
      if (p.company) company = 'existing' in p.company ? state.companies.get(p.company.existing) : createCompany(state, p.company.draft, userId, unsorted);
      if (p.contact) {
        contact = 'existing' in p.contact ? state.contacts.get(p.contact.existing) : createContact(state, p.contact.draft, userId, unsorted);
        // New contact and company of one request are linked to each other.
        if (contact && company && contact.company_id === null) contact.company_id = company.id;
      }
      const pipeline = (p.lead.pipeline_id !== undefined ? state.pipeline(p.lead.pipeline_id) : undefined) ?? state.mainPipeline();
      const leadDraft: LeadDraft = {
        ...p.lead,
        contacts: contact ? [{ id: contact.id, is_main: true }] : [],
        company_id: company?.id ?? null,
      };
      if (unsorted) {
        leadDraft.pipeline_id = pipeline.id;
        leadDraft.status_id = state.unsortedStatus(pipeline)?.id ?? p.lead.status_id;
      }
      const lead = createLead(state, leadDraft, userId);
      if (p.category !== null) {
        createUnsortedRecord(state, {
          category: p.category,
          source_uid: typeof p.metadata.form_id === 'string' ? p.metadata.form_id : 'complex',
          source_name: typeof p.metadata.form_name === 'string' ? p.metadata.form_name : 'API',
          pipeline_id: pipeline.id,
          metadata: p.metadata,
          lead,
          contacts: contact ? [contact] : [],
          companies: company ? [company] : [],
        });
      }
      return { id: lead.id, contact_id: contact?.id ?? null, company_id: company?.id ?? null, request_id: [requestId], merged: false };
    });
    return reply.type('application/json').send(result);
  });
}
