/**
 * What CRM webhooks (posted to /crm-events/<account>) say about follow-up tasks and leads the hub assigned:
 * a task done → its lead is not reassigned and stops counting as open; a lead won/lost stops counting.
 *
 * - amoCRM (sheet §12, legacy v2 field names): `task[update][i][id]` with `status` 1 = completed (also accepted as
 *   `tasks[…]` and `is_completed`; the exact key is unconfirmed), `task[delete][i][id]`; `leads[status][i]` with
 *   `status_id` 142 (won) / 143 (lost), `leads[delete][i][id]`.
 * - Bitrix24 (sheet §9): `event=ONCRMACTIVITYUPDATE|ONCRMACTIVITYDELETE&data[FIELDS][ID]=…` — only the id, so an
 *   update is "touched": the hub asks `crm.activity.get` (through the rate limit, after answering) whether it is done.
 *   A deletion counts as done. `ONCRMLEADUPDATE` carries no status and is left to the deadline poll.
 */
import type { Logger } from 'pino';
import type { AssignmentState } from './state.ts';

export interface TaskChange {
  doneTaskIds: string[];
  /** Changed, state unknown (Bitrix24): ask the CRM. */
  touchedTaskIds: string[];
  closedLeadIds: string[];
}

const CLOSED_AMO_STATUSES = new Set(['142', '143']);

function items(v: unknown): Record<string, unknown>[] {
  const list = Array.isArray(v) ? v : v !== null && typeof v === 'object' ? Object.values(v) : [];
  return list.filter((x): x is Record<string, unknown> => x !== null && typeof x === 'object');
}
function idOf(v: unknown): string | undefined {
  const s = typeof v === 'number' ? String(v) : typeof v === 'string' ? v.trim() : '';
  return /^\d{1,20}$/.test(s) ? s : undefined;
}
const truthy = (v: unknown): boolean => v === true || v === 1 || v === '1' || v === 'true' || v === 'Y';

/** Pure: a decoded CRM webhook (as crm-events.plugin.ts decodes it) → task and lead changes. */
export function readTaskChange(decoded: unknown): TaskChange {
  const out: TaskChange = { doneTaskIds: [], touchedTaskIds: [], closedLeadIds: [] };
  if (decoded === null || typeof decoded !== 'object') return out;
  const root = decoded as Record<string, unknown>;
  const event = typeof root.event === 'string' ? root.event.toUpperCase() : undefined;
  if (event) {
    const data = root.data as Record<string, unknown> | undefined;
    const id = idOf((data?.FIELDS as Record<string, unknown> | undefined)?.ID);
    if (id && event === 'ONCRMACTIVITYDELETE') out.doneTaskIds.push(id);
    if (id && (event === 'ONCRMACTIVITYUPDATE' || event === 'ONCRMACTIVITYADD')) out.touchedTaskIds.push(id);
    return out;
  }
  for (const key of ['task', 'tasks']) {
    const byAction = root[key];
    if (byAction === null || typeof byAction !== 'object') continue;
    for (const [action, list] of Object.entries(byAction as Record<string, unknown>)) {
      for (const t of items(list)) {
        const id = idOf(t.id);
        if (!id) continue;
        if (action === 'delete' || truthy(t.status) || truthy(t.is_completed)) out.doneTaskIds.push(id);
      }
    }
  }
  const leads = root.leads;
  if (leads !== null && typeof leads === 'object') {
    for (const [action, list] of Object.entries(leads as Record<string, unknown>)) {
      for (const l of items(list)) {
        const id = idOf(l.id);
        if (!id) continue;
        const status = idOf(l.status_id);
        if (action === 'delete' || (status && CLOSED_AMO_STATUSES.has(status))) out.closedLeadIds.push(id);
      }
    }
  }
  return out;
}

/** Records task and lead changes of assigned leads; never throws into the webhook answer. */
export interface TaskEventSink {
  record(accountId: string, decoded: unknown): Promise<TaskChange & { recorded: number }>;
}

export function createTaskEventSink(o: {
  states: ReadonlyMap<string, AssignmentState>;
  /** Asks the CRM whether a touched task is done (rate-limited); undefined when the account cannot. */
  taskState?: (accountId: string, taskId: string) => Promise<'open' | 'done' | 'missing'> | undefined;
  log: Logger;
}): TaskEventSink {
  const done = async (state: AssignmentState, taskId: string): Promise<boolean> => {
    const leadId = await state.markTaskDone(taskId);
    if (leadId) await state.closeLead(leadId);
    return leadId !== undefined;
  };
  return {
    async record(accountId, decoded) {
      const change = readTaskChange(decoded);
      const state = o.states.get(accountId);
      if (!state) return { ...change, recorded: 0 };
      let recorded = 0;
      for (const id of change.doneTaskIds) if (await done(state, id)) recorded++;
      for (const id of change.closedLeadIds) if (await state.closeLead(id)) recorded++;
      for (const id of change.touchedTaskIds) {
        if (!(await state.isTracked(id))) continue;
        // Answer the CRM first (Bitrix24 throttles slow handlers); the check runs after, through the rate limit.
        const ask = o.taskState?.(accountId, id);
        if (ask) {
          void ask.then(
            async (s) => {
              if (s !== 'open') await done(state, id);
            },
            (err: unknown) => o.log.warn({ account: accountId, task: id, err: (err as Error).message }, 'assignment: could not check a changed task; the deadline check will'),
          );
        }
      }
      return { ...change, recorded };
    },
  };
}
