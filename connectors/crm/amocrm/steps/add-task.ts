/**
 * addTask: a follow-up task (`task_type_id` 1, "Связаться") due at the pipeline's deterministic time, so a retry
 * writes the same task. Recovery: a task on the same card with the same text and `complete_till` (sheet §10).
 */
import type { FollowUpTask } from '#sdk';
import type { NoteEntity } from '../client.ts';
import { sec, type StepCtx } from './context.ts';

export interface TaskResult {
  taskId: number;
}

export const FOLLOW_UP_TASK_TYPE = 1;

export function addTask(ctx: StepCtx, stepName: string, entity: NoteEntity, entityId: number, t: FollowUpTask, fallbackResponsible: number | undefined): Promise<TaskResult> {
  const completeTill = sec(t.dueAt);
  const responsible = t.responsibleUserId !== undefined ? Number(t.responsibleUserId) : fallbackResponsible;
  return ctx.journal.step<TaskResult>(
    stepName,
    async () => ({
      taskId: await ctx.c.addTask({
        text: t.text,
        complete_till: completeTill,
        task_type_id: FOLLOW_UP_TASK_TYPE,
        entity_type: entity,
        entity_id: entityId,
        ...(responsible !== undefined && Number.isFinite(responsible) ? { responsible_user_id: responsible } : {}),
      }),
    }),
    {
      recover: async () => {
        const hit = (await ctx.c.tasks(entity, entityId, FOLLOW_UP_TASK_TYPE)).find((x) => x.text === t.text && x.complete_till === completeTill);
        return hit ? { taskId: hit.id } : undefined;
      },
    },
  );
}
