/**
 * Notes (sheet §8) for leads, contacts and companies:
 * `POST /api/v4/{e}/notes` (items carry `entity_id`), `POST /api/v4/{e}/{id}/notes`,
 * `GET /api/v4/{e}/notes`, `GET /api/v4/{e}/{id}/notes`, `GET /api/v4/{e}/notes/{note_id}`,
 * `PATCH /api/v4/{e}/notes` (array, items carry `id`; sheet §8 "edit"). An edit's `params` REPLACE the note's: the
 * merge-vs-replace behaviour is undocumented, so the emulator takes the stricter one (a caller must send them whole).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  ItemErrors,
  intList,
  isInt,
  isRecord,
  link,
  optInt,
  queryOf,
  readBatch,
  requestIdOf,
  sendHal,
  sendList,
  sendValidation,
  stringList,
} from '../http.ts';
import { renderNote } from '../serialize.ts';
import type { AmoState } from '../state.ts';
import type { EntityType, NoteRecord } from '../types.ts';
import { intParam, renderCtx, sendMissing, userOf, type RouteDeps } from './deps.ts';

type ParamSpec = Record<string, { required: boolean; type: 'string' | 'int' | 'number' | 'int|string' }>;

const s = (required = true) => ({ required, type: 'string' as const });

/** Writable note types and their `params` (SDK NoteFactory; docs "notes-types"). */
const NOTE_PARAMS: Record<string, ParamSpec> = {
  common: { text: s() },
  call_in: callParams(),
  call_out: callParams(),
  service_message: { service: s(), text: s() },
  extended_service_message: { service: s(), text: s() },
  sms_in: { text: s(), phone: s() },
  sms_out: { text: s(), phone: s() },
  geolocation: { text: s(), address: s(), longitude: { required: true, type: 'number' }, latitude: { required: true, type: 'number' } },
  attachment: { file_uuid: s(), version_uuid: s(false), file_name: s() },
};

function callParams(): ParamSpec {
  return {
    uniq: s(),
    duration: { required: true, type: 'int' },
    source: s(),
    link: s(false),
    phone: s(),
    call_result: s(false),
    call_status: { required: false, type: 'int' },
    call_responsible: { required: false, type: 'int|string' },
  };
}

export interface NewNote {
  entity_type: EntityType;
  entity_id: number;
  note_type: string;
  params: Record<string, unknown>;
  responsible_user_id?: number;
  created_by?: number;
  created_at?: number;
}

export function addNote(state: AmoState, n: NewNote, userId: number): NoteRecord {
  const now = state.nowSec();
  const rec: NoteRecord = {
    id: state.nextId('note'),
    entity_type: n.entity_type,
    entity_id: n.entity_id,
    note_type: n.note_type,
    params: n.params,
    responsible_user_id: n.responsible_user_id ?? userId,
    group_id: 0,
    created_by: n.created_by ?? userId,
    updated_by: n.created_by ?? userId,
    created_at: n.created_at ?? now,
    updated_at: n.created_at ?? now,
    is_pinned: false,
  };
  state.notes.set(rec.id, rec);
  return rec;
}

function parseParams(type: string, raw: unknown, errs: ItemErrors): Record<string, unknown> {
  const spec = NOTE_PARAMS[type];
  if (!spec) return {};
  if (!isRecord(raw)) {
    if (raw === undefined || raw === null) errs.missing('params');
    else errs.type('params', 'object');
    return {};
  }
  for (const [key, p] of Object.entries(spec)) {
    const v = raw[key];
    if (v === undefined || v === null) {
      if (p.required) errs.missing(`params.${key}`);
      continue;
    }
    const ok =
      (p.type === 'string' && typeof v === 'string') ||
      (p.type === 'int' && isInt(v)) ||
      (p.type === 'number' && typeof v === 'number') ||
      (p.type === 'int|string' && (isInt(v) || typeof v === 'string'));
    if (!ok) errs.type(`params.${key}`, p.type === 'int' ? 'int' : p.type === 'number' ? 'numeric' : 'string');
  }
  const status = raw.call_status;
  if ((type === 'call_in' || type === 'call_out') && isInt(status) && (status < 1 || status > 7)) errs.choice('params.call_status');
  return { ...raw };
}

function parseNote(state: AmoState, entity: EntityType, item: unknown, pathId: number | undefined, errs: ItemErrors): NewNote | undefined {
  if (!isRecord(item)) {
    errs.type('', 'object');
    return undefined;
  }
  let entityId = pathId;
  if (entityId === undefined) {
    if (item.entity_id === undefined) errs.missing('entity_id');
    else if (!isInt(item.entity_id)) errs.type('entity_id', 'int');
    else entityId = item.entity_id;
  }
  if (entityId !== undefined && !state.entityExists(entity, entityId)) errs.choice('entity_id');
  const type = item.note_type;
  if (type === undefined) errs.missing('note_type');
  else if (typeof type !== 'string' || !NOTE_PARAMS[type]) errs.choice('note_type');
  const params = typeof type === 'string' ? parseParams(type, item.params, errs) : {};
  const responsible = optInt(item, 'responsible_user_id', errs);
  if (responsible !== undefined && !state.user(responsible)) errs.choice('responsible_user_id');
  const created_by = optInt(item, 'created_by', errs);
  const created_at = optInt(item, 'created_at', errs);
  if (!errs.ok || entityId === undefined || typeof type !== 'string') return undefined;
  return {
    entity_type: entity,
    entity_id: entityId,
    note_type: type,
    params,
    ...(responsible !== undefined ? { responsible_user_id: responsible } : {}),
    ...(created_by !== undefined ? { created_by } : {}),
    ...(created_at !== undefined ? { created_at } : {}),
  };
}

function filterOf(req: FastifyRequest): Record<string, unknown> {
  const f = queryOf(req).filter;
  return isRecord(f) ? f : {};
}

export function noteRoutes(app: FastifyInstance, { state, opts }: RouteDeps): void {
  for (const entity of ['leads', 'contacts', 'companies'] as const) {
    const add = (byPath: boolean) => async (req: FastifyRequest, reply: FastifyReply) => {
      const pathId = byPath ? intParam(req, 'id') : undefined;
      if (byPath && pathId === undefined) return sendMissing(reply, opts, req);
      const items = readBatch(reply, req.body);
      if (!items) return reply;
      const errors = items.map((item, i) => new ItemErrors(requestIdOf(item, i)));
      const drafts = items.map((item, i) => parseNote(state, entity, item, pathId, errors[i] ?? new ItemErrors(String(i))));
      if (errors.some((e) => !e.ok)) return sendValidation(reply, errors);
      const userId = userOf(req, state);
      const ctx = renderCtx(req, state);
      const out = drafts.flatMap((d, i) => {
        if (!d) return [];
        const note = addNote(state, d, userId);
        return [{
          id: note.id,
          entity_id: note.entity_id,
          request_id: errors[i]?.requestId ?? String(i),
          _links: link(`${ctx.base}/api/v4/${entity}/${note.entity_id}/notes/${note.id}`),
        }];
      });
      return sendHal(reply, { _links: link(`${ctx.base}${req.url.split('?')[0] ?? ''}`), _embedded: { notes: out } });
    };
    app.post(`/api/v4/${entity}/notes`, add(false));
    app.post(`/api/v4/${entity}/:id/notes`, add(true));

    const list = (byPath: boolean) => async (req: FastifyRequest, reply: FastifyReply) => {
      const pathId = byPath ? intParam(req, 'id') : undefined;
      if (byPath && (pathId === undefined || !state.entityExists(entity, pathId))) return sendMissing(reply, opts, req);
      const f = filterOf(req);
      const types = stringList(f.note_type);
      const ids = intList(f.entity_id);
      const noteIds = intList(f.id);
      const notes = [...state.notes.values()].filter(
        (n) =>
          n.entity_type === entity &&
          (pathId === undefined || n.entity_id === pathId) &&
          (!ids || ids.includes(n.entity_id)) &&
          (!noteIds || noteIds.includes(n.id)) &&
          (!types || types.includes(n.note_type)),
      );
      const ctx = renderCtx(req, state);
      return sendList(req, reply, 'notes', notes, (n) => renderNote(n, ctx));
    };
    app.get(`/api/v4/${entity}/notes`, list(false));
    app.get(`/api/v4/${entity}/:id/notes`, list(true));

    const one = async (req: FastifyRequest, reply: FastifyReply) => {
      const note = state.notes.get(intParam(req, 'noteId') ?? -1);
      const pathId = intParam(req, 'id');
      if (!note || note.entity_type !== entity || (pathId !== undefined && note.entity_id !== pathId)) return sendMissing(reply, opts, req);
      return sendHal(reply, renderNote(note, renderCtx(req, state)));
    };
    app.get(`/api/v4/${entity}/notes/:noteId`, one);

    app.patch(`/api/v4/${entity}/notes`, async (req, reply) => {
      const items = readBatch(reply, req.body);
      if (!items) return reply;
      const errors = items.map((item, i) => new ItemErrors(requestIdOf(item, i)));
      const edits = items.map((item, i) => {
        const errs = errors[i] ?? new ItemErrors(String(i));
        if (!isRecord(item)) {
          errs.type('', 'object');
          return undefined;
        }
        const note = isInt(item.id) ? state.notes.get(item.id) : undefined;
        if (item.id === undefined) errs.missing('id');
        else if (!note || note.entity_type !== entity) errs.choice('id');
        if (!note) return undefined;
        if (item.note_type !== undefined && item.note_type !== note.note_type) errs.choice('note_type');
        const params = item.params === undefined ? undefined : parseParams(note.note_type, item.params, errs);
        return errs.ok ? { note, params } : undefined;
      });
      if (errors.some((e) => !e.ok)) return sendValidation(reply, errors);
      const userId = userOf(req, state);
      const ctx = renderCtx(req, state);
      const out = edits.flatMap((e, i) => {
        if (!e) return [];
        if (e.params) e.note.params = e.params;
        e.note.updated_by = userId;
        e.note.updated_at = state.nowSec();
        return [{ id: e.note.id, entity_id: e.note.entity_id, updated_at: e.note.updated_at, request_id: errors[i]?.requestId ?? String(i), _links: link(`${ctx.base}/api/v4/${entity}/${e.note.entity_id}/notes/${e.note.id}`) }];
      });
      return sendHal(reply, { _links: link(`${ctx.base}/api/v4/${entity}/notes`), _embedded: { notes: out } });
    });
    app.get(`/api/v4/${entity}/:id/notes/:noteId`, one);
  }
}
