/**
 * `tasks.task.add` (REST v2, docs `api-reference/tasks/tasks-task-add.md`): `fields` with upper-case
 * keys, `TITLE` and `RESPONSIBLE_ID` required, `UF_CRM_TASK` bindings like `L_9310`; the answer is
 * `{task: {...}}` with camelCase keys and string values. Errors: `100` without `fields`, `ERROR_CORE`
 * texts ending in `<br>` as in the docs example.
 */
import { asPhpArray, listValues, toId, toStr } from '../params.ts';
import { formatPortalDate, parsePortalDateTime } from '../time.ts';
import { RestError } from '../types.ts';
import type { MethodTable } from './method.ts';
import { missingParam } from './crm-timeline.ts';

const coreError = (text: string): RestError => new RestError(400, 'ERROR_CORE', `${text}<br>`);

export const taskMethods: MethodTable = {
  'tasks.task.add': {
    scope: 'task',
    handler: (ctx) => {
      const raw = asPhpArray(ctx.params.fields ?? ctx.params.FIELDS);
      if (!raw || Object.keys(raw).length === 0) throw missingParam('fields');
      const f = Object.fromEntries(Object.entries(raw).map(([k, v]) => [k.toUpperCase(), v]));
      const title = toStr(f.TITLE).trim();
      if (!title) throw coreError('Task title is not specified');
      const responsibleId = toId(f.RESPONSIBLE_ID);
      if (responsibleId === undefined) throw coreError('Responsible person not specified');
      const responsible = ctx.state.activeUser(responsibleId);
      if (!responsible) throw coreError('User specified in the "Responsible" field not found');
      const createdBy = toId(f.CREATED_BY) ?? ctx.auth.userId;
      const deadlineMs = f.DEADLINE === undefined || f.DEADLINE === '' ? undefined : parsePortalDateTime(f.DEADLINE, ctx.opts.utcOffsetMinutes);
      const id = ctx.state.nextId('task', 3700);
      const now = formatPortalDate(ctx.nowMs, ctx.opts.utcOffsetMinutes);
      const record = {
        id,
        title,
        description: toStr(f.DESCRIPTION),
        responsibleId,
        createdBy,
        deadline: deadlineMs === undefined ? null : formatPortalDate(deadlineMs, ctx.opts.utcOffsetMinutes),
        priority: toStr(f.PRIORITY ?? '1'),
        ufCrmTask: listValues(f.UF_CRM_TASK).map(toStr),
        createdDate: now,
        input: structuredClone(raw),
      };
      ctx.state.tasks.set(id, record);
      const person = (userId: number): Record<string, unknown> => {
        const u = ctx.state.users.get(userId);
        return { id: String(userId), name: u ? `${u.NAME} ${u.LAST_NAME}` : '', link: `/company/personal/user/${userId}/`, icon: '', workPosition: '' };
      };
      return {
        result: {
          task: {
            id: String(id),
            parentId: null,
            title,
            description: record.description,
            priority: record.priority,
            status: '2',
            stageId: '0',
            createdBy: String(createdBy),
            createdDate: now,
            responsibleId: String(responsibleId),
            changedBy: String(createdBy),
            changedDate: now,
            deadline: record.deadline,
            groupId: '0',
            auditors: [],
            accomplices: [],
            creator: person(createdBy),
            responsible: person(responsibleId),
          },
        },
      };
    },
  },
};
