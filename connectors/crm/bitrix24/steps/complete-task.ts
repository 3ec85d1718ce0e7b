/**
 * Call-back support (reference: /work/shared/reference/bitrix24.md §7 activities): the missed call's "Перезвонить
 * клиенту" to-do (made by `crm.activity.todo.add`) is completed with the legacy `crm.activity.update`
 * `{ id, fields: { COMPLETED: 'Y' } }` — the same method reassignment uses. A to-do has no result field, so
 * `resultText` is not written (the call-back note on the record says who called back). The to-do is read first
 * (`taskState`): one already completed or deleted ("Not found") is left alone. One journal step: a retry never
 * writes twice.
 */
import type { CompleteTaskRequest, CrmIO, StepJournal } from '#sdk';
import { createBitrixClient } from '../client.ts';
import type { BitrixSettings } from '../settings.ts';
import { taskState } from './reassign.ts';

export async function completeTask(io: CrmIO, s: BitrixSettings, c: CompleteTaskRequest, journal: StepJournal): Promise<void> {
  await journal.step('complete-task', async () => {
    const before = await taskState(io, s, c.taskId);
    if (before !== 'open') return { completed: false, state: before };
    try {
      await createBitrixClient(io, s).call('crm.activity.update', { id: c.taskId, fields: { COMPLETED: 'Y' } });
    } catch (err) {
      // Deleted or closed by a manager between the read and the write: done anyway.
      const after = await taskState(io, s, c.taskId).catch(() => 'open' as const);
      if (after !== 'open') return { completed: false, state: after };
      throw err;
    }
    return { completed: true, state: 'done' as const };
  });
}
