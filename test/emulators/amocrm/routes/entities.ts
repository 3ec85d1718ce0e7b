/**
 * List / get / add / update for contacts, companies and leads (sheet §4, §5.1):
 * `GET /api/v4/{e}?query=&with=&filter[id][]=&page=&limit=`, `GET /api/v4/{e}/{id}`,
 * `POST /api/v4/{e}` (array), `PATCH /api/v4/{e}` (array with ids), `PATCH /api/v4/{e}/{id}`.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  ItemErrors,
  intList,
  isRecord,
  link,
  queryOf,
  queryString,
  readBatch,
  requestIdOf,
  sendHal,
  sendList,
  sendValidation,
  type Query,
} from '../http.ts';
import { matchesQuery } from '../search.ts';
import { renderCompany, renderContact, renderLead, type RenderCtx } from '../serialize.ts';
import type { AmoState } from '../state.ts';
import type { CfEntry } from '../types.ts';
import {
  createCompany,
  createContact,
  createLead,
  parseCompany,
  parseContact,
  parseLead,
  updateCompany,
  updateContact,
  updateLead,
  type Mode,
} from '../writers.ts';
import { intParam, renderCtx, sendMissing, userOf, type RouteDeps } from './deps.ts';

interface BaseRecord {
  id: number;
  name: string;
  is_deleted: boolean;
  created_at: number;
  updated_at: number;
  custom_fields_values: CfEntry[];
  first_name?: string;
  last_name?: string;
  is_unsorted?: boolean;
  pipeline_id?: number;
  status_id?: number;
}

interface EntitySpec<R extends BaseRecord, D> {
  entity: 'contacts' | 'companies' | 'leads';
  records(state: AmoState): Map<number, R>;
  parse(state: AmoState, item: unknown, mode: Mode, errs: ItemErrors): D;
  create(state: AmoState, d: D, userId: number): R;
  update(state: AmoState, rec: R, d: D, userId: number): R;
  render(rec: R, ctx: RenderCtx): unknown;
}

function filterOf(q: Query, key: string): unknown {
  const f = q.filter;
  return isRecord(f) ? f[key] : undefined;
}

function ordered<R extends BaseRecord>(list: R[], q: Query): R[] {
  const order = q.order;
  if (!isRecord(order)) return list;
  for (const key of ['id', 'created_at', 'updated_at'] as const) {
    const dir = order[key];
    if (dir === 'asc' || dir === 'desc') {
      const sign = dir === 'asc' ? 1 : -1;
      return [...list].sort((a, b) => sign * (a[key] - b[key]));
    }
  }
  return list;
}

function register<R extends BaseRecord, D>(app: FastifyInstance, deps: RouteDeps, spec: EntitySpec<R, D>): void {
  const { state, opts } = deps;
  const base = `/api/v4/${spec.entity}`;

  app.get(base, async (req, reply) => {
    const q = queryOf(req);
    const query = queryString(q, 'query');
    const ids = intList(filterOf(q, 'id'));
    const pipelines = intList(filterOf(q, 'pipeline_id'));
    const list = [...spec.records(state).values()].filter((r) => {
      if (r.is_deleted) return false;
      // Contacts/companies of a pending Unsorted item are hidden from lists (sheet §4.1).
      if (r.is_unsorted && !(query && opts.unsortedContactsSearchable)) return false;
      if (ids && !ids.includes(r.id)) return false;
      if (pipelines && r.pipeline_id !== undefined && !pipelines.includes(r.pipeline_id)) return false;
      return query === undefined || matchesQuery(r, query);
    });
    const ctx = renderCtx(req, state);
    return sendList(req, reply, spec.entity, ordered(list, q), (r) => spec.render(r, ctx));
  });

  app.get(`${base}/:id`, async (req, reply) => {
    const rec = spec.records(state).get(intParam(req, 'id') ?? -1);
    if (!rec || rec.is_deleted) return sendMissing(reply, opts, req);
    return sendHal(reply, spec.render(rec, renderCtx(req, state)));
  });

  const writeBatch = (mode: Mode) =>
    async (req: FastifyRequest, reply: FastifyReply) => {
      const items = readBatch(reply, req.body);
      if (!items) return reply;
      const errors = items.map((item, i) => new ItemErrors(requestIdOf(item, i)));
      const drafts = items.map((item, i) => spec.parse(state, item, mode, errors[i] ?? new ItemErrors(String(i))));
      if (errors.some((e) => !e.ok)) return sendValidation(reply, errors);
      const userId = userOf(req, state);
      const hrefBase = renderCtx(req, state).base;
      const out = drafts.map((d, i) => {
        const rec = mode === 'create' ? spec.create(state, d, userId) : updateExisting(d, userId);
        const summary: Record<string, unknown> = { id: rec.id };
        if (mode === 'update') summary.updated_at = rec.updated_at;
        summary.request_id = errors[i]?.requestId ?? String(i);
        summary._links = link(`${hrefBase}${base}/${rec.id}`);
        return summary;
      });
      return sendHal(reply, { _links: link(`${hrefBase}${base}`), _embedded: { [spec.entity]: out } });
    };

  const updateExisting = (d: D, userId: number): R => {
    const id = isRecord(d) && typeof d.id === 'number' ? d.id : -1;
    const rec = spec.records(state).get(id);
    if (!rec) throw new Error(`amoCRM emulator: validated ${spec.entity} id ${id} vanished`);
    return spec.update(state, rec, d, userId);
  };

  app.post(base, writeBatch('create'));
  app.patch(base, writeBatch('update'));

  app.patch(`${base}/:id`, async (req, reply) => {
    const id = intParam(req, 'id');
    const rec = spec.records(state).get(id ?? -1);
    if (!rec || rec.is_deleted) return sendMissing(reply, opts, req);
    const body = isRecord(req.body) ? { ...req.body, id: rec.id } : req.body;
    const errs = new ItemErrors(requestIdOf(body, 0));
    const draft = spec.parse(state, body, 'update', errs);
    if (!errs.ok) return sendValidation(reply, [errs]);
    spec.update(state, rec, draft, userOf(req, state));
    const hrefBase = renderCtx(req, state).base;
    return sendHal(reply, { id: rec.id, updated_at: rec.updated_at, _links: link(`${hrefBase}${base}/${rec.id}`) });
  });
}

export function entityRoutes(app: FastifyInstance, deps: RouteDeps): void {
  register(app, deps, {
    entity: 'contacts',
    records: (s) => s.contacts,
    parse: (s, item, mode, errs) => parseContact(s, item, mode, errs),
    create: (s, d, u) => createContact(s, d, u),
    update: updateContact,
    render: renderContact,
  });
  register(app, deps, {
    entity: 'companies',
    records: (s) => s.companies,
    parse: (s, item, mode, errs) => parseCompany(s, item, mode, errs),
    create: (s, d, u) => createCompany(s, d, u),
    update: updateCompany,
    render: renderCompany,
  });
  register(app, deps, {
    entity: 'leads',
    records: (s) => s.leads,
    parse: (s, item, mode, errs) => parseLead(s, item, mode, errs),
    create: createLead,
    update: updateLead,
    render: renderLead,
  });
}
