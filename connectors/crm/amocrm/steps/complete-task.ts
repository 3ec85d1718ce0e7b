/**
 * Call-back support (reference: /work/shared/reference/amocrm.md §10 tasks): the missed call's "Перезвонить
 * клиенту" task is completed with `PATCH /api/v4/tasks` `[{ id, is_completed: true, result: { text } }]`.
 * The task is read first (`GET /api/v4/tasks/{id}`): one a manager already closed, or deleted (204/404), is left
 * alone — the hub never overwrites a manager's own result text. One journal step: a retry never writes twice.
 */
import { CrmError, type CompleteTaskRequest, type CrmIO, type StepJournal } from '#sdk';
import { runClassified as run } from '../run.ts';
import type { AmoSettings } from '../settings.ts';
import { taskState } from './reassign.ts';

export function completeTask(io: CrmIO, s: AmoSettings, c: CompleteTaskRequest, journal: StepJournal): Promise<void> {
  return journal
    .step('complete-task', async () => {
      if (!/^\d+$/.test(c.taskId)) throw new CrmError({ kind: 'reject', cause: `task id "${c.taskId}" is not an amoCRM id` });
      const before = await taskState(io, s, c.taskId);
      if (before !== 'open') return { completed: false, state: before };
      try {
        await run(s, () => io.http.request({ method: 'PATCH', url: '/api/v4/tasks', data: [{ id: Number(c.taskId), is_completed: true, result: { text: c.resultText } }] }));
      } catch (err) {
        // Deleted or closed between the read and the write (amoCRM then refuses the id with a 400): done anyway.
        const after = await taskState(io, s, c.taskId).catch(() => 'open' as const);
        if (after !== 'open') return { completed: false, state: after };
        throw err;
      }
      return { completed: true, state: 'done' as const };
    })
    .then(() => undefined);
}
