/**
 * Timeline notes and activities.
 * Docs: `timeline/comments/crm-timeline-comment-add.md` (only lower-case `fields` since crm 23.100.0,
 * lower-case `ENTITY_TYPE`), `timeline/activities/todo/crm-activity-todo-add.md` (result `{id}`,
 * deadline as ISO 8601 or `2026-08-19 15:00:00` per the crm-mode tutorial),
 * `timeline/activities/activity-base/crm-activity-add.md` (deprecated, still works).
 * Error codes: `100` missing parameter, `OWNER_NOT_FOUND`, `INVALID_ARG_VALUE`, `WRONG_DATETIME_FORMAT`.
 */
import { asPhpArray, listValues, param, toId, toInt, toStr } from '../params.ts';
import { formatPortalDate, parsePortalDateTime } from '../time.ts';
import { OWNER_TYPE_ID, RestError, type CrmEntityKind, type Params } from '../types.ts';
import type { Activity, BitrixState } from '../state.ts';
import { matchesFilter, paginate, sortRows } from './crm-entity.ts';
import { legacyError, type MethodContext, type MethodTable } from './method.ts';

const KIND_BY_OWNER_TYPE = new Map<number, CrmEntityKind>(Object.entries(OWNER_TYPE_ID).map(([k, v]) => [v, k as CrmEntityKind]));

export const missingParam = (name: string): RestError => new RestError(400, '100', `Could not find value for parameter {${name}}`);
const ownerNotFound = (): RestError => new RestError(400, 'OWNER_NOT_FOUND', 'Owner of the item not found');

export function ownerExists(state: BitrixState, ownerTypeId: number | undefined, ownerId: number | undefined): boolean {
  const kind = ownerTypeId === undefined ? undefined : KIND_BY_OWNER_TYPE.get(ownerTypeId);
  return kind !== undefined && ownerId !== undefined && state.entities(kind).has(ownerId);
}

export function addActivity(ctx: MethodContext, a: Omit<Activity, 'ID' | 'CREATED'>): number {
  const id = ctx.state.nextId('activity', 7900);
  ctx.state.activities.set(id, { ...a, ID: id, CREATED: formatPortalDate(ctx.nowMs, ctx.opts.utcOffsetMinutes) });
  return id;
}

function requireParam(params: Params, name: string): unknown {
  const v = params[name];
  if (v === undefined || v === null || v === '') throw missingParam(name);
  return v;
}

export function presentActivity(a: Activity): Record<string, unknown> {
  return {
    ID: String(a.ID),
    OWNER_TYPE_ID: String(a.OWNER_TYPE_ID),
    OWNER_ID: String(a.OWNER_ID),
    TYPE_ID: String(a.TYPE_ID),
    PROVIDER_ID: a.kind === 'todo' ? 'CRM_TODO' : a.kind === 'call' ? 'VOXIMPLANT_CALL' : 'CRM_LEGACY',
    SUBJECT: a.SUBJECT,
    DESCRIPTION: a.DESCRIPTION,
    RESPONSIBLE_ID: String(a.RESPONSIBLE_ID),
    DEADLINE: a.DEADLINE,
    COMPLETED: a.COMPLETED,
    DIRECTION: a.DIRECTION === null ? null : String(a.DIRECTION),
    CREATED: a.CREATED,
  };
}

export const crmTimelineMethods: MethodTable = {
  'crm.timeline.comment.add': {
    scope: 'crm',
    handler: (ctx) => {
      const fields = asPhpArray(ctx.params.fields);
      if (!fields) throw missingParam('fields');
      const entityId = toId(fields.ENTITY_ID);
      const entityType = toStr(fields.ENTITY_TYPE).toLowerCase();
      if (entityId === undefined || !entityType) throw new RestError(400, '100', 'Required fields are not provided');
      const comment = toStr(fields.COMMENT);
      if (comment.trim() === '') throw new RestError(400, 'INVALID_ARG_VALUE', 'Empty comment');
      const kind = (['lead', 'deal', 'contact', 'company'] as const).find((k) => k === entityType);
      if (!kind || !ctx.state.entities(kind).has(entityId)) throw ownerNotFound();
      const id = ctx.state.nextId('comment', 100);
      ctx.state.comments.set(id, {
        ID: id,
        ENTITY_TYPE: kind,
        ENTITY_ID: entityId,
        COMMENT: comment,
        FILES: listValues(fields.FILES).map((f) => toStr(listValues(f)[0])),
        AUTHOR_ID: ctx.auth.userId,
        CREATED: formatPortalDate(ctx.nowMs, ctx.opts.utcOffsetMinutes),
      });
      return { result: id };
    },
  },
  'crm.activity.todo.add': {
    scope: 'crm',
    handler: (ctx) => {
      const p = ctx.params;
      const ownerTypeId = toInt(requireParam(p, 'ownerTypeId'));
      const ownerId = toInt(requireParam(p, 'ownerId'));
      const deadlineRaw = requireParam(p, 'deadline');
      const deadlineMs = parsePortalDateTime(deadlineRaw, ctx.opts.utcOffsetMinutes);
      if (deadlineMs === undefined) throw new RestError(400, 'WRONG_DATETIME_FORMAT', `Wrong datetime format: ${toStr(deadlineRaw)}`);
      if (!ownerExists(ctx.state, ownerTypeId, ownerId)) throw ownerNotFound();
      const responsibleId = toId(p.responsibleId) ?? ctx.auth.userId;
      if (!ctx.state.users.has(responsibleId)) throw new RestError(400, 'NOT_FOUND', 'Responsible user not found');
      const id = addActivity(ctx, {
        kind: 'todo',
        OWNER_TYPE_ID: ownerTypeId!,
        OWNER_ID: ownerId!,
        TYPE_ID: 6,
        SUBJECT: toStr(p.title),
        DESCRIPTION: toStr(p.description),
        RESPONSIBLE_ID: responsibleId,
        DEADLINE: formatPortalDate(deadlineMs, ctx.opts.utcOffsetMinutes),
        COMPLETED: 'N',
        DIRECTION: null,
        input: structuredClone(p),
      });
      return { result: { id } };
    },
  },
  'crm.activity.add': {
    scope: 'crm',
    handler: (ctx) => {
      const fields = asPhpArray(param(ctx.params, 'fields'));
      if (!fields) throw legacyError("Parameter 'fields' must be array.");
      const f = Object.fromEntries(Object.entries(fields).map(([k, v]) => [k.toUpperCase(), v]));
      const ownerTypeId = toInt(f.OWNER_TYPE_ID);
      const ownerId = toInt(f.OWNER_ID);
      const typeId = toInt(f.TYPE_ID);
      if (typeId === undefined) throw legacyError('The field TYPE_ID is not defined or invalid.');
      if (!ownerExists(ctx.state, ownerTypeId, ownerId)) throw legacyError('The field OWNER_ID is not defined or invalid.');
      if (listValues(f.COMMUNICATIONS).length === 0) throw legacyError('The field COMMUNICATIONS is not defined or invalid.');
      const endMs = parsePortalDateTime(f.END_TIME ?? f.DEADLINE, ctx.opts.utcOffsetMinutes);
      const id = addActivity(ctx, {
        kind: 'legacy',
        OWNER_TYPE_ID: ownerTypeId!,
        OWNER_ID: ownerId!,
        TYPE_ID: typeId,
        SUBJECT: toStr(f.SUBJECT),
        DESCRIPTION: toStr(f.DESCRIPTION),
        RESPONSIBLE_ID: toId(f.RESPONSIBLE_ID) ?? ctx.auth.userId,
        DEADLINE: endMs === undefined ? null : formatPortalDate(endMs, ctx.opts.utcOffsetMinutes),
        COMPLETED: toStr(f.COMPLETED).toUpperCase() === 'Y' ? 'Y' : 'N',
        DIRECTION: toInt(f.DIRECTION) ?? null,
        input: structuredClone(fields),
      });
      return { result: id };
    },
  },
  'crm.activity.list': {
    scope: 'crm',
    handler: (ctx) => {
      const filter = asPhpArray(param(ctx.params, 'filter')) ?? {};
      const rows = sortRows(
        [...ctx.state.activities.values()].map(presentActivity).filter((a) => matchesFilter(a, filter)),
        param(ctx.params, 'order'),
        'ID',
      );
      const { page, total, next } = paginate(rows, param(ctx.params, 'start'));
      return { result: page, ...(total !== undefined ? { total } : {}), ...(next !== undefined ? { next } : {}) };
    },
  },
};
