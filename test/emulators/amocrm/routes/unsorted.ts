/**
 * Incoming leads, "Неразобранное" (sheet §6): create via `/forms` and `/sip`, list, get,
 * accept, decline, summary. Creating an item makes a lead in the pipeline's Unsorted status
 * (type 1) and contacts/companies that stay hidden from lists until the item is accepted.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { valuesByCode } from '../custom-fields.ts';
import {
  ItemErrors,
  isInt,
  isRecord,
  link,
  optInt,
  queryOf,
  readBatch,
  requestIdOf,
  sendHal,
  sendList,
  sendProblem,
  sendValidation,
  stringList,
  intList,
} from '../http.ts';
import { samePhone } from '../search.ts';
import { renderUnsorted } from '../serialize.ts';
import type { AmoState } from '../state.ts';
import type { CompanyRecord, ContactRecord, LeadRecord, UnsortedCategory, UnsortedRecord } from '../types.ts';
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
import { renderCtx, sendMissing, stringParam, userOf, type RouteDeps } from './deps.ts';
import { addNote } from './notes.ts';

/** Metadata keys and their JSON types (SDK FormsMetadata / SipMetadata). */
const METADATA_TYPES: Record<UnsortedCategory, Record<string, 'string' | 'int' | 'bool' | 'int|string'>> = {
  forms: {
    form_id: 'string', form_name: 'string', form_page: 'string', form_sent_at: 'int',
    ip: 'string', referer: 'string', visitor_uid: 'string', form_type: 'int',
  },
  sip: {
    uniq: 'string', duration: 'int', service_code: 'string', link: 'string', phone: 'int|string',
    from: 'string', called_at: 'int', call_responsible: 'int|string', is_call_event_needed: 'bool',
  },
};

interface UnsortedDraft {
  source_uid: string;
  source_name: string;
  pipeline_id: number;
  created_at?: number;
  metadata: Record<string, unknown>;
  lead?: LeadDraft;
  contacts: Array<{ existing: number } | { draft: ContactDraft }>;
  companies: Array<{ existing: number } | { draft: CompanyDraft }>;
}

function requiredString(item: Record<string, unknown>, key: string, errs: ItemErrors): string {
  const v = item[key];
  if (v === undefined || v === null || v === '') errs.missing(key);
  else if (typeof v !== 'string') errs.type(key, 'string');
  return typeof v === 'string' ? v : '';
}

function parseMetadata(raw: unknown, category: UnsortedCategory, errs: ItemErrors): Record<string, unknown> {
  if (raw === undefined || raw === null) return {};
  if (!isRecord(raw)) {
    errs.type('metadata', 'object');
    return {};
  }
  for (const [key, type] of Object.entries(METADATA_TYPES[category])) {
    const v = raw[key];
    if (v === undefined || v === null) continue;
    const ok =
      (type === 'string' && typeof v === 'string') ||
      (type === 'int' && isInt(v)) ||
      (type === 'bool' && typeof v === 'boolean') ||
      (type === 'int|string' && (isInt(v) || typeof v === 'string'));
    if (!ok) errs.type(`metadata.${key}`, type === 'int|string' ? 'string' : type);
  }
  return { ...raw };
}

function parseEmbeddedList<D>(
  state: AmoState,
  embedded: Record<string, unknown>,
  key: 'contacts' | 'companies',
  errs: ItemErrors,
  parse: (x: unknown, prefix: string) => D,
): Array<{ existing: number } | { draft: D }> {
  const list = embedded[key];
  if (list === undefined || list === null) return [];
  if (!Array.isArray(list)) {
    errs.type(`_embedded.${key}`, 'array');
    return [];
  }
  return list.flatMap((x, i): Array<{ existing: number } | { draft: D }> => {
    if (isRecord(x) && x.id !== undefined) {
      if (isInt(x.id) && state.entityExists(key, x.id)) return [{ existing: x.id }];
      errs.choice(`_embedded.${key}.${i}.id`);
      return [];
    }
    return [{ draft: parse(x, `_embedded.${key}.${i}.`) }];
  });
}

function parseUnsorted(state: AmoState, item: unknown, category: UnsortedCategory, errs: ItemErrors): UnsortedDraft | undefined {
  if (!isRecord(item)) {
    errs.type('', 'object');
    return undefined;
  }
  const source_uid = requiredString(item, 'source_uid', errs);
  const source_name = requiredString(item, 'source_name', errs);
  const pipelineId = optInt(item, 'pipeline_id', errs) ?? state.mainPipeline().id;
  const pipeline = state.pipeline(pipelineId);
  if (!pipeline || !pipeline.is_unsorted_on || !state.unsortedStatus(pipeline)) errs.choice('pipeline_id');
  const created_at = optInt(item, 'created_at', errs);
  const metadata = parseMetadata(item.metadata, category, errs);
  const embedded = item._embedded === undefined || item._embedded === null ? {} : item._embedded;
  if (!isRecord(embedded)) {
    errs.type('_embedded', 'object');
    return undefined;
  }
  let lead: LeadDraft | undefined;
  if (embedded.leads !== undefined && embedded.leads !== null) {
    if (!Array.isArray(embedded.leads)) errs.type('_embedded.leads', 'array');
    else {
      if (embedded.leads.length > 1) errs.tooMany('_embedded.leads', 1);
      if (embedded.leads[0] !== undefined) {
        lead = parseLead(state, embedded.leads[0], 'create', errs, '_embedded.leads.0.', { embeddedRefs: false, allowUnsortedStatus: true });
      }
    }
  }
  const contacts = parseEmbeddedList(state, embedded, 'contacts', errs, (x, p) => parseContact(state, x, 'create', errs, p));
  const companies = parseEmbeddedList(state, embedded, 'companies', errs, (x, p) => parseCompany(state, x, 'create', errs, p));
  if (companies.length > 1) errs.tooMany('_embedded.companies', 1);
  const d: UnsortedDraft = { source_uid, source_name, pipeline_id: pipelineId, metadata, contacts, companies };
  if (lead) d.lead = lead;
  if (created_at !== undefined) d.created_at = created_at;
  return d;
}

export interface NewUnsorted {
  category: UnsortedCategory;
  source_uid: string;
  source_name: string;
  pipeline_id: number;
  created_at?: number;
  metadata: Record<string, unknown>;
  lead: LeadRecord;
  contacts: ContactRecord[];
  companies: CompanyRecord[];
}

export function createUnsortedRecord(state: AmoState, n: NewUnsorted): UnsortedRecord {
  const rec: UnsortedRecord = {
    uid: state.nextUnsortedUid(),
    source_uid: n.source_uid,
    source_name: n.source_name,
    category: n.category,
    pipeline_id: n.pipeline_id,
    created_at: n.created_at ?? state.nowSec(),
    metadata: n.metadata,
    lead_ids: [n.lead.id],
    contact_ids: n.contacts.map((c) => c.id),
    company_ids: n.companies.map((c) => c.id),
    status: 'pending',
  };
  state.unsorted.set(rec.uid, rec);
  return rec;
}

interface ContactKeys {
  phones: string[];
  emails: string[];
}

function keysOfContacts(contacts: ContactRecord[]): ContactKeys {
  return {
    phones: contacts.flatMap((c) => valuesByCode(c.custom_fields_values, 'PHONE')),
    emails: contacts.flatMap((c) => valuesByCode(c.custom_fields_values, 'EMAIL')).map((e) => e.toLowerCase()),
  };
}

function keysOfDraft(state: AmoState, d: UnsortedDraft): ContactKeys {
  const patches = d.contacts.flatMap((c) => ('draft' in c ? c.draft.cf : []));
  const pick = (code: string): string[] =>
    patches.filter((p) => p.field.code === code).flatMap((p) => (p.values ?? []).map((v) => String(v.value)));
  const existing = keysOfContacts(
    d.contacts.flatMap((c) => ('existing' in c ? [state.contacts.get(c.existing)] : [])).filter((c): c is ContactRecord => c !== undefined),
  );
  return { phones: [...pick('PHONE'), ...existing.phones], emails: [...pick('EMAIL').map((e) => e.toLowerCase()), ...existing.emails] };
}

/** A pending item with the same category, source and a shared phone/email (sheet §6). */
function findDuplicate(state: AmoState, category: UnsortedCategory, sourceUid: string, keys: ContactKeys): UnsortedRecord | undefined {
  return [...state.unsorted.values()].find((u) => {
    if (u.status !== 'pending' || u.category !== category || u.source_uid !== sourceUid) return false;
    const other = keysOfContacts(u.contact_ids.map((id) => state.contacts.get(id)).filter((c): c is ContactRecord => c !== undefined));
    return keys.phones.some((p) => other.phones.some((o) => samePhone(p, o))) || keys.emails.some((e) => other.emails.includes(e));
  });
}

export function unsortedRoutes(app: FastifyInstance, { state, opts }: RouteDeps): void {
  for (const category of ['forms', 'sip'] as const) {
    app.post(`/api/v4/leads/unsorted/${category}`, async (req, reply) => {
      const items = readBatch(reply, req.body);
      if (!items) return reply;
      const errors = items.map((item, i) => new ItemErrors(requestIdOf(item, i)));
      const drafts = items.map((item, i) => parseUnsorted(state, item, category, errors[i] ?? new ItemErrors(String(i))));
      if (opts.unsortedDuplicates === 'reject') {
        drafts.forEach((d, i) => {
          if (d && findDuplicate(state, category, d.source_uid, keysOfDraft(state, d))) errors[i]?.add('Duplicate', '', 'Unsorted with the same data already exists.');
        });
      }
      if (errors.some((e) => !e.ok)) return sendValidation(reply, errors);
      const userId = userOf(req, state);
      const out = drafts.map((d, i) => {
        if (!d) throw new Error('amoCRM emulator: validated unsorted item vanished');
        const dup = opts.unsortedDuplicates === 'tag' ? findDuplicate(state, category, d.source_uid, keysOfDraft(state, d)) : undefined;
        const companies = d.companies.map((c) => ('existing' in c ? state.companies.get(c.existing) : createCompany(state, c.draft, userId, true))).filter((c): c is CompanyRecord => c !== undefined);
        const contacts = d.contacts.map((c) => ('existing' in c ? state.contacts.get(c.existing) : createContact(state, c.draft, userId, true))).filter((c): c is ContactRecord => c !== undefined);
        const company = companies[0];
        if (company) for (const c of contacts) if (c.company_id === null) c.company_id = company.id;
        const pipeline = state.pipeline(d.pipeline_id) ?? state.mainPipeline();
        const lead = createLead(state, {
          ...(d.lead ?? { cf: [], tags: { add: [], remove: [] } }),
          pipeline_id: pipeline.id,
          status_id: state.unsortedStatus(pipeline)?.id ?? state.mainPipeline().id,
          contacts: contacts.map((c, j) => ({ id: c.id, is_main: j === 0 })),
          company_id: company?.id ?? null,
          ...(d.created_at !== undefined ? { created_at: d.created_at } : {}),
        }, userId);
        if (dup) {
          const tag = state.tag({ name: 'Дубль' });
          for (const l of [lead, ...dup.lead_ids.map((id) => state.leads.get(id))]) {
            if (tag && l && !l.tags.some((t) => t.id === tag.id)) l.tags.push(tag);
          }
        }
        const rec = createUnsortedRecord(state, { category, ...d, lead, contacts, companies });
        if (category === 'sip' && d.metadata.is_call_event_needed === true) {
          const m = d.metadata;
          addNote(state, {
            entity_type: 'leads',
            entity_id: lead.id,
            note_type: 'call_in',
            params: { uniq: m.uniq, duration: m.duration, source: m.service_code, link: m.link, phone: m.from ?? m.phone },
          }, userId);
        }
        return {
          uid: rec.uid,
          account_id: state.accountId,
          request_id: errors[i]?.requestId ?? String(i),
          _embedded: {
            leads: rec.lead_ids.map((id) => ({ id })),
            contacts: rec.contact_ids.map((id) => ({ id })),
            companies: rec.company_ids.map((id) => ({ id })),
          },
        };
      });
      return sendHal(reply, { _total_items: out.length, _embedded: { unsorted: out } });
    });
  }

  app.get('/api/v4/leads/unsorted', async (req, reply) => {
    const q = queryOf(req);
    const filter = isRecord(q.filter) ? q.filter : {};
    const categories = stringList(filter.category);
    const pipelines = intList(filter.pipeline_id);
    const uids = stringList(filter.uid);
    let list = [...state.unsorted.values()].filter(
      (u) =>
        u.status === 'pending' &&
        (!categories || categories.includes(u.category)) &&
        (!pipelines || pipelines.includes(u.pipeline_id)) &&
        (!uids || uids.includes(u.uid)),
    );
    const order = isRecord(q.order) ? q.order.created_at : undefined;
    if (order === 'desc') list = [...list].reverse();
    const ctx = renderCtx(req, state);
    return sendList(req, reply, 'unsorted', list, (u) => renderUnsorted(u, ctx), { total: true });
  });

  app.get('/api/v4/leads/unsorted/summary', async (_req, reply) => {
    const all = [...state.unsorted.values()];
    const categories: Record<string, number> = { forms: 0, sip: 0, chats: 0, mail: 0 };
    for (const u of all) categories[u.category] = (categories[u.category] ?? 0) + 1;
    return sendHal(reply, {
      total: all.filter((u) => u.status === 'pending').length,
      accepted: all.filter((u) => u.status === 'accepted').length,
      declined: all.filter((u) => u.status === 'declined').length,
      average_sort_time: 0,
      categories,
    });
  });

  app.get('/api/v4/leads/unsorted/:uid', async (req, reply) => {
    const u = state.unsorted.get(stringParam(req, 'uid'));
    return u ? sendHal(reply, renderUnsorted(u, renderCtx(req, state))) : sendMissing(reply, opts, req);
  });

  const act = (action: 'accept' | 'decline') => async (req: FastifyRequest, reply: FastifyReply) => {
    const u = state.unsorted.get(stringParam(req, 'uid'));
    if (!u) return sendMissing(reply, opts, req);
    if (u.status !== 'pending') return sendProblem(reply, 400, `Unsorted ${u.uid} is already ${u.status}`);
    const body = isRecord(req.body) ? req.body : {};
    const errs = new ItemErrors('0');
    const userId = optInt(body, 'user_id', errs) ?? userOf(req, state);
    const statusId = action === 'accept' ? optInt(body, 'status_id', errs) : undefined;
    const pipeline = state.pipeline(u.pipeline_id) ?? state.mainPipeline();
    const target = statusId !== undefined ? pipeline.statuses.find((s) => s.id === statusId && s.type === 0) : state.firstStage(pipeline);
    if (statusId !== undefined && !target) errs.choice('status_id');
    if (!errs.ok) return sendValidation(reply, [errs]);
    const now = state.nowSec();
    for (const id of u.lead_ids) {
      const lead = state.leads.get(id);
      if (!lead) continue;
      if (action === 'accept') lead.status_id = target?.id ?? lead.status_id;
      else lead.is_deleted = true;
      lead.updated_at = now;
      lead.updated_by = userId;
    }
    for (const rec of [...u.contact_ids.map((id) => state.contacts.get(id)), ...u.company_ids.map((id) => state.companies.get(id))]) {
      if (!rec?.is_unsorted) continue;
      rec.is_unsorted = false;
      if (action === 'decline') rec.is_deleted = true;
    }
    u.status = action === 'accept' ? 'accepted' : 'declined';
    const ctx = renderCtx(req, state);
    const full = renderUnsorted(u, ctx);
    return sendHal(reply, {
      uid: u.uid,
      category: u.category,
      pipeline_id: u.pipeline_id,
      created_at: u.created_at,
      _embedded: full._embedded,
      _links: link(`${ctx.base}/api/v4/leads/unsorted/${u.uid}/${action}`),
    });
  };
  app.post('/api/v4/leads/unsorted/:uid/accept', act('accept'));
  app.delete('/api/v4/leads/unsorted/:uid/decline', act('decline'));
}
