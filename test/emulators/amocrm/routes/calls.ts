/**
 * `POST /api/v4/calls` (sheet §9). Placement:
 * 1. contact/company whose PHONE matches by the last 10 digits;
 * 2. exactly one active lead (and no customers — the emulator has none) → that lead;
 * 3. otherwise → the contact/company card;
 * 4. no match → the call is not added: the item is missing from `_embedded.calls` and an
 *    `errors` entry names its `request_id` (error shape and status are unconfirmed; we answer 200).
 * A placed call also writes a `call_in`/`call_out` note on its target, as the real API does.
 */
import type { FastifyInstance } from 'fastify';
import { valuesByCode } from '../custom-fields.ts';
import { ItemErrors, isInt, isRecord, link, optInt, readBatch, requestIdOf, sendHal, sendValidation } from '../http.ts';
import { samePhone } from '../search.ts';
import type { AmoState } from '../state.ts';
import type { CallRecord, CallTargetType, EntityType } from '../types.ts';
import { renderCtx, userOf, type RouteDeps } from './deps.ts';
import { addNote } from './notes.ts';

type CallDraft = Omit<CallRecord, 'id' | 'entity_id' | 'entity_type' | 'note_id' | 'responsible_user_id' | 'created_by' | 'created_at'> & {
  responsible_user_id?: number;
  created_by?: number;
  created_at?: number;
};

function parseCall(state: AmoState, item: unknown, errs: ItemErrors): CallDraft | undefined {
  if (!isRecord(item)) {
    errs.type('', 'object');
    return undefined;
  }
  const str = (key: string, required: boolean): string | null => {
    const v = item[key];
    if (v === undefined || v === null) {
      if (required) errs.missing(key);
      return null;
    }
    if (typeof v !== 'string') {
      errs.type(key, 'string');
      return null;
    }
    return v;
  };
  const direction = item.direction;
  if (direction === undefined) errs.missing('direction');
  else if (direction !== 'inbound' && direction !== 'outbound') errs.choice('direction');
  if (item.duration === undefined) errs.missing('duration');
  const duration = optInt(item, 'duration', errs);
  const source = str('source', true);
  const phone = str('phone', true);
  const status = optInt(item, 'call_status', errs);
  if (status !== undefined && (status < 1 || status > 7)) errs.choice('call_status');
  const responsible = optInt(item, 'responsible_user_id', errs);
  if (responsible !== undefined && !state.user(responsible)) errs.choice('responsible_user_id');
  const cr = item.call_responsible;
  if (cr !== undefined && cr !== null && !isInt(cr) && typeof cr !== 'string') errs.type('call_responsible', 'string');
  const created_by = optInt(item, 'created_by', errs);
  const created_at = optInt(item, 'created_at', errs);
  const uniq = str('uniq', false);
  const linkUrl = str('link', false);
  const result = str('call_result', false);
  if (!errs.ok || (direction !== 'inbound' && direction !== 'outbound') || duration === undefined || source === null || phone === null) {
    return undefined;
  }
  return {
    direction,
    duration,
    source,
    phone,
    uniq,
    link: linkUrl,
    call_status: status ?? null,
    call_result: result,
    call_responsible: isInt(cr) || typeof cr === 'string' ? cr : null,
    ...(responsible !== undefined ? { responsible_user_id: responsible } : {}),
    ...(created_by !== undefined ? { created_by } : {}),
    ...(created_at !== undefined ? { created_at } : {}),
  };
}

interface Target {
  type: CallTargetType;
  entity: EntityType;
  id: number;
}

function placeCall(state: AmoState, phone: string): Target | undefined {
  const byPhone = <T extends { is_deleted: boolean; custom_fields_values: Parameters<typeof valuesByCode>[0] }>(list: Iterable<T>) =>
    [...list].filter((r) => !r.is_deleted && valuesByCode(r.custom_fields_values, 'PHONE').some((p) => samePhone(p, phone)));
  const contact = byPhone(state.contacts.values())[0];
  if (contact) {
    const active = state.leadsOfContact(contact.id).filter((l) => l.status_id !== 142 && l.status_id !== 143);
    const only = active.length === 1 ? active[0] : undefined;
    return only ? { type: 'lead', entity: 'leads', id: only.id } : { type: 'contact', entity: 'contacts', id: contact.id };
  }
  const company = byPhone(state.companies.values())[0];
  if (company) {
    const active = state.leadsOfCompany(company.id).filter((l) => l.status_id !== 142 && l.status_id !== 143);
    const only = active.length === 1 ? active[0] : undefined;
    return only ? { type: 'lead', entity: 'leads', id: only.id } : { type: 'company', entity: 'companies', id: company.id };
  }
  return undefined;
}

export function callRoutes(app: FastifyInstance, { state }: RouteDeps): void {
  app.post('/api/v4/calls', async (req, reply) => {
    const items = readBatch(reply, req.body);
    if (!items) return reply;
    const errors = items.map((item, i) => new ItemErrors(requestIdOf(item, i)));
    const drafts = items.map((item, i) => parseCall(state, item, errors[i] ?? new ItemErrors(String(i))));
    if (errors.some((e) => !e.ok)) return sendValidation(reply, errors);
    const userId = userOf(req, state);
    const ctx = renderCtx(req, state);
    const calls: unknown[] = [];
    const notPlaced: unknown[] = [];
    drafts.forEach((d, i) => {
      const requestId = errors[i]?.requestId ?? String(i);
      if (!d) return;
      const target = placeCall(state, d.phone);
      if (!target) {
        notPlaced.push({ request_id: requestId, code: 'EntityNotFound', detail: `No contact or company with phone ${d.phone}` });
        return;
      }
      const note = addNote(state, {
        entity_type: target.entity,
        entity_id: target.id,
        note_type: d.direction === 'inbound' ? 'call_in' : 'call_out',
        params: {
          uniq: d.uniq,
          duration: d.duration,
          source: d.source,
          link: d.link,
          phone: d.phone,
          call_status: d.call_status,
          call_result: d.call_result,
          call_responsible: d.call_responsible,
        },
        ...(d.created_by !== undefined ? { created_by: d.created_by } : {}),
        ...(d.created_at !== undefined ? { created_at: d.created_at } : {}),
      }, userId);
      const rec: CallRecord = {
        ...d,
        id: state.nextId('call'),
        responsible_user_id: d.responsible_user_id ?? userId,
        // No `created_by` → the call counts as made by a robot (sheet §9).
        created_by: d.created_by ?? 0,
        created_at: d.created_at ?? state.nowSec(),
        entity_id: target.id,
        entity_type: target.type,
        note_id: note.id,
      };
      state.calls.set(rec.id, rec);
      calls.push({
        id: rec.id,
        entity_id: target.id,
        entity_type: target.type,
        account_id: state.accountId,
        request_id: requestId,
        _embedded: { entity: { id: target.id, _links: link(`${ctx.base}/api/v4/${target.entity}/${target.id}`) } },
      });
    });
    return sendHal(reply, { _total_items: calls.length, errors: notPlaced, _embedded: { calls } });
  });
}
