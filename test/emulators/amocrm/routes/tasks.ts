/**
 * Tasks (sheet §10): `POST /api/v4/tasks` (array; `text` + `complete_till` required),
 * `GET /api/v4/tasks?filter[entity_type]=&filter[entity_id][]=&filter[is_completed]=&filter[task_type][]=`,
 * `GET /api/v4/tasks/{id}`, `PATCH /api/v4/tasks` and `/tasks/{id}` (complete with `result`).
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
import { renderTask } from '../serialize.ts';
import type { AmoState } from '../state.ts';
import type { EntityType, TaskRecord } from '../types.ts';
import { intParam, renderCtx, sendMissing, userOf, type RouteDeps } from './deps.ts';

const ENTITY_TYPES: readonly EntityType[] = ['leads', 'contacts', 'companies'];

type TaskPatch = Partial<Omit<TaskRecord, 'id' | 'group_id'>> & { id?: number };

function parseTask(state: AmoState, item: unknown, mode: 'create' | 'update', errs: ItemErrors): TaskPatch {
  if (!isRecord(item)) {
    errs.type('', 'object');
    return {};
  }
  const t: TaskPatch = {};
  if (mode === 'update') {
    t.id = optInt(item, 'id', errs);
    if (item.id === undefined) errs.missing('id');
    else if (t.id !== undefined && !state.tasks.has(t.id)) errs.choice('id');
  }
  if (item.text === undefined || item.text === null) {
    if (mode === 'create') errs.missing('text');
  } else if (typeof item.text !== 'string') errs.type('text', 'string');
  else t.text = item.text;
  if (item.complete_till === undefined || item.complete_till === null) {
    if (mode === 'create') errs.missing('complete_till');
  } else if (!isInt(item.complete_till)) errs.type('complete_till', 'int');
  else t.complete_till = item.complete_till;
  const typeId = optInt(item, 'task_type_id', errs);
  if (typeId !== undefined && !state.meta.taskTypes.some((x) => x.id === typeId)) errs.choice('task_type_id');
  if (typeId !== undefined) t.task_type_id = typeId;
  const entityType = item.entity_type;
  const entityId = optInt(item, 'entity_id', errs);
  if (entityType !== undefined && entityType !== null) {
    const known = ENTITY_TYPES.find((e) => e === entityType);
    // `customers` is a valid type, but the emulator keeps no customers: any id is unknown.
    if (!known && entityType !== 'customers') errs.choice('entity_type');
    else if (entityId === undefined) errs.missing('entity_id');
    else if (!known || !state.entityExists(known, entityId)) errs.choice('entity_id');
    else {
      t.entity_type = known;
      t.entity_id = entityId;
    }
  } else if (entityId !== undefined) errs.missing('entity_type');
  const responsible = optInt(item, 'responsible_user_id', errs);
  if (responsible !== undefined && !state.user(responsible)) errs.choice('responsible_user_id');
  if (responsible !== undefined) t.responsible_user_id = responsible;
  const duration = optInt(item, 'duration', errs);
  if (duration !== undefined) t.duration = duration;
  const created_by = optInt(item, 'created_by', errs);
  if (created_by !== undefined) t.created_by = created_by;
  const created_at = optInt(item, 'created_at', errs);
  if (created_at !== undefined) t.created_at = created_at;
  if (item.is_completed !== undefined) {
    if (typeof item.is_completed !== 'boolean') errs.type('is_completed', 'bool');
    else t.is_completed = item.is_completed;
  }
  if (item.result !== undefined && item.result !== null) {
    if (!isRecord(item.result) || typeof item.result.text !== 'string') errs.missing('result.text');
    else t.result = { text: item.result.text };
  }
  return t;
}

function createTask(state: AmoState, t: TaskPatch, userId: number): TaskRecord {
  const now = state.nowSec();
  const rec: TaskRecord = {
    id: state.nextId('task'),
    text: t.text ?? '',
    complete_till: t.complete_till ?? now,
    task_type_id: t.task_type_id ?? 1,
    entity_id: t.entity_id ?? null,
    entity_type: t.entity_type ?? null,
    responsible_user_id: t.responsible_user_id ?? userId,
    group_id: 0,
    created_by: t.created_by ?? userId,
    updated_by: t.created_by ?? userId,
    created_at: t.created_at ?? now,
    updated_at: t.created_at ?? now,
    duration: t.duration ?? 0,
    is_completed: t.is_completed ?? false,
    result: t.result ?? null,
  };
  state.tasks.set(rec.id, rec);
  return rec;
}

function updateTask(state: AmoState, rec: TaskRecord, t: TaskPatch, userId: number): TaskRecord {
  const { id: _id, ...rest } = t;
  Object.assign(rec, rest, { updated_by: userId, updated_at: state.nowSec() });
  return rec;
}

export function taskRoutes(app: FastifyInstance, { state, opts }: RouteDeps): void {
  const write = (mode: 'create' | 'update') => async (req: FastifyRequest, reply: FastifyReply) => {
    const items = readBatch(reply, req.body);
    if (!items) return reply;
    const errors = items.map((item, i) => new ItemErrors(requestIdOf(item, i)));
    const drafts = items.map((item, i) => parseTask(state, item, mode, errors[i] ?? new ItemErrors(String(i))));
    if (errors.some((e) => !e.ok)) return sendValidation(reply, errors);
    const userId = userOf(req, state);
    const ctx = renderCtx(req, state);
    const out = drafts.map((d, i) => {
      const existing = d.id !== undefined ? state.tasks.get(d.id) : undefined;
      const rec = mode === 'update' && existing ? updateTask(state, existing, d, userId) : createTask(state, d, userId);
      return {
        id: rec.id,
        ...(mode === 'update' ? { updated_at: rec.updated_at } : {}),
        request_id: errors[i]?.requestId ?? String(i),
        _links: link(`${ctx.base}/api/v4/tasks/${rec.id}`),
      };
    });
    return sendHal(reply, { _links: link(`${ctx.base}/api/v4/tasks`), _embedded: { tasks: out } });
  };
  app.post('/api/v4/tasks', write('create'));
  app.patch('/api/v4/tasks', write('update'));

  app.patch('/api/v4/tasks/:id', async (req, reply) => {
    const rec = state.tasks.get(intParam(req, 'id') ?? -1);
    if (!rec) return sendMissing(reply, opts, req);
    const errs = new ItemErrors('0');
    const body = isRecord(req.body) ? { ...req.body, id: rec.id } : req.body;
    const patch = parseTask(state, body, 'update', errs);
    if (!errs.ok) return sendValidation(reply, [errs]);
    updateTask(state, rec, patch, userOf(req, state));
    return sendHal(reply, { id: rec.id, updated_at: rec.updated_at, _links: link(`${renderCtx(req, state).base}/api/v4/tasks/${rec.id}`) });
  });

  app.get('/api/v4/tasks', async (req, reply) => {
    const filter = queryOf(req).filter;
    const f = isRecord(filter) ? filter : {};
    const entityTypes = stringList(f.entity_type);
    const entityIds = intList(f.entity_id);
    const ids = intList(f.id);
    const taskTypes = intList(f.task_type);
    const responsible = intList(f.responsible_user_id);
    const completed = f.is_completed === undefined ? undefined : f.is_completed === '1' || f.is_completed === 'true';
    const tasks = [...state.tasks.values()].filter(
      (t) =>
        (!entityTypes || (t.entity_type !== null && entityTypes.includes(t.entity_type))) &&
        (!entityIds || (t.entity_id !== null && entityIds.includes(t.entity_id))) &&
        (!ids || ids.includes(t.id)) &&
        (!taskTypes || taskTypes.includes(t.task_type_id)) &&
        (!responsible || responsible.includes(t.responsible_user_id)) &&
        (completed === undefined || t.is_completed === completed),
    );
    const ctx = renderCtx(req, state);
    return sendList(req, reply, 'tasks', tasks, (t) => renderTask(t, ctx));
  });

  app.get('/api/v4/tasks/:id', async (req, reply) => {
    const rec = state.tasks.get(intParam(req, 'id') ?? -1);
    return rec ? sendHal(reply, renderTask(rec, renderCtx(req, state))) : sendMissing(reply, opts, req);
  });
}
