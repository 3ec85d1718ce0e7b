/**
 * Links between leads, contacts and companies (sheet §4.3):
 * `POST /api/v4/{e}/{id}/link|unlink`, `POST /api/v4/{e}/link|unlink` (items carry `entity_id`),
 * `GET /api/v4/{e}/{id}/links`, `GET /api/v4/{e}/links?filter[entity_id][]=`.
 * The main-contact flag is accepted as `metadata.is_main` (SDK) or `metadata.main_contact` (docs).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  ItemErrors,
  intList,
  isInt,
  isRecord,
  link,
  queryOf,
  readBatch,
  requestIdOf,
  sendEmpty,
  sendHal,
  sendValidation,
  stringList,
} from '../http.ts';
import type { AmoState } from '../state.ts';
import type { EntityType } from '../types.ts';
import { intParam, renderCtx, sendMissing, type RouteDeps } from './deps.ts';

/** Targets the emulator can store; customers/catalog_elements are valid on the real API but absent here. */
const TARGETS: Record<EntityType, EntityType[]> = {
  leads: ['contacts', 'companies'],
  contacts: ['companies', 'leads'],
  companies: ['contacts', 'leads'],
};

interface LinkItem {
  entity_id: number;
  entity_type: EntityType;
  to_entity_id: number;
  to_entity_type: EntityType;
  metadata: { main_contact: boolean } | null;
}

function parseLink(state: AmoState, from: EntityType, item: unknown, pathId: number | undefined, errs: ItemErrors): LinkItem | undefined {
  if (!isRecord(item)) {
    errs.type('', 'object');
    return undefined;
  }
  let entityId = pathId;
  if (entityId === undefined) {
    if (!isInt(item.entity_id)) errs.missing('entity_id');
    else entityId = item.entity_id;
  }
  if (entityId !== undefined && !state.entityExists(from, entityId)) errs.choice('entity_id');
  const toType = TARGETS[from].find((t) => t === item.to_entity_type);
  if (item.to_entity_type === undefined) errs.missing('to_entity_type');
  else if (!toType) errs.choice('to_entity_type');
  if (!isInt(item.to_entity_id)) errs.missing('to_entity_id');
  else if (toType && !state.entityExists(toType, item.to_entity_id)) errs.choice('to_entity_id');
  if (!errs.ok || entityId === undefined || !toType || !isInt(item.to_entity_id)) return undefined;
  const meta = isRecord(item.metadata) ? item.metadata : {};
  const isMain = meta.is_main === true || meta.main_contact === true;
  const involvesContactAndLead = (from === 'leads' && toType === 'contacts') || (from === 'contacts' && toType === 'leads');
  return {
    entity_id: entityId,
    entity_type: from,
    to_entity_id: item.to_entity_id,
    to_entity_type: toType,
    metadata: involvesContactAndLead ? { main_contact: isMain } : null,
  };
}

/** Normalises a link to (lead, contact) / (lead, company) / (contact, company) and applies it. */
function apply(state: AmoState, l: LinkItem, on: boolean): void {
  const ids: Partial<Record<EntityType, number>> = { [l.entity_type]: l.entity_id, [l.to_entity_type]: l.to_entity_id };
  const lead = ids.leads !== undefined ? state.leads.get(ids.leads) : undefined;
  const contact = ids.contacts !== undefined ? state.contacts.get(ids.contacts) : undefined;
  const companyId = ids.companies;
  if (lead && contact) {
    const rest = lead.contacts.filter((c) => c.id !== contact.id);
    if (!on) lead.contacts = rest;
    else {
      const isMain = l.metadata?.main_contact === true || rest.length === 0;
      lead.contacts = [...rest.map((c) => ({ ...c, is_main: isMain ? false : c.is_main })), { id: contact.id, is_main: isMain }];
    }
  } else if (lead && companyId !== undefined) {
    if (on) lead.company_id = companyId;
    else if (lead.company_id === companyId) lead.company_id = null;
  } else if (contact && companyId !== undefined) {
    if (on) contact.company_id = companyId;
    else if (contact.company_id === companyId) contact.company_id = null;
  }
}

function linksOf(state: AmoState, from: EntityType, id: number): LinkItem[] {
  const out: LinkItem[] = [];
  const push = (to: EntityType, toId: number, metadata: LinkItem['metadata']) =>
    out.push({ entity_id: id, entity_type: from, to_entity_id: toId, to_entity_type: to, metadata });
  if (from === 'leads') {
    const lead = state.leads.get(id);
    for (const c of lead?.contacts ?? []) push('contacts', c.id, { main_contact: c.is_main });
    if (lead?.company_id) push('companies', lead.company_id, null);
  } else if (from === 'contacts') {
    const contact = state.contacts.get(id);
    if (contact?.company_id) push('companies', contact.company_id, null);
    for (const l of state.leadsOfContact(id)) push('leads', l.id, { main_contact: l.contacts.some((c) => c.id === id && c.is_main) });
  } else {
    for (const c of state.contactsOfCompany(id)) push('contacts', c.id, null);
    for (const l of state.leadsOfCompany(id)) push('leads', l.id, null);
  }
  return out;
}

export function linkRoutes(app: FastifyInstance, { state, opts }: RouteDeps): void {
  for (const entity of ['leads', 'contacts', 'companies'] as const) {
    const write = (on: boolean, byPath: boolean) => async (req: FastifyRequest, reply: FastifyReply) => {
      const pathId = byPath ? intParam(req, 'id') : undefined;
      if (byPath && pathId === undefined) return sendMissing(reply, opts, req);
      const items = readBatch(reply, req.body);
      if (!items) return reply;
      const errors = items.map((item, i) => new ItemErrors(requestIdOf(item, i)));
      const parsed = items.map((item, i) => parseLink(state, entity, item, pathId, errors[i] ?? new ItemErrors(String(i))));
      if (errors.some((e) => !e.ok)) return sendValidation(reply, errors);
      const links = parsed.filter((l): l is LinkItem => l !== undefined);
      for (const l of links) apply(state, l, on);
      if (!on) return sendEmpty(reply);
      const ctx = renderCtx(req, state);
      return sendHal(reply, {
        _total_items: links.length,
        _links: link(`${ctx.base}${req.url.split('?')[0] ?? ''}`),
        _embedded: { links },
      });
    };
    app.post(`/api/v4/${entity}/:id/link`, write(true, true));
    app.post(`/api/v4/${entity}/:id/unlink`, write(false, true));
    app.post(`/api/v4/${entity}/link`, write(true, false));
    app.post(`/api/v4/${entity}/unlink`, write(false, false));

    const list = (byPath: boolean) => async (req: FastifyRequest, reply: FastifyReply) => {
      const f = isRecord(queryOf(req).filter) ? queryOf(req).filter : undefined;
      const filter = isRecord(f) ? f : {};
      const ids = byPath ? [intParam(req, 'id') ?? -1] : (intList(filter.entity_id) ?? []);
      const toTypes = stringList(filter.to_entity_type);
      const toIds = intList(filter.to_entity_id);
      const links = ids
        .filter((id) => state.entityExists(entity, id))
        .flatMap((id) => linksOf(state, entity, id))
        .filter((l) => (!toTypes || toTypes.includes(l.to_entity_type)) && (!toIds || toIds.includes(l.to_entity_id)));
      if (links.length === 0) return sendEmpty(reply);
      const ctx = renderCtx(req, state);
      return sendHal(reply, {
        _total_items: links.length,
        _links: link(`${ctx.base}${req.url}`),
        _embedded: { links },
      });
    };
    app.get(`/api/v4/${entity}/:id/links`, list(true));
    app.get(`/api/v4/${entity}/links`, list(false));
  }
}
