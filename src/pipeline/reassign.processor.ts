/**
 * Reassignment: a new lead's follow-up task still open `reassign.afterMinutes` after delivery moves, with the lead,
 * to the next manager of the same group (the old one is named in a note on the lead), at most `maxTimes` times,
 * never outside `reassign.hours` (the check waits for the next opening).
 *
 * One delayed BullMQ job per lead and step (job id = lead + step, so a repeated schedule adds nothing). At the
 * deadline the job trusts a CRM webhook that already said "done" (recorded in Redis by /crm-events), else asks the
 * CRM once (`taskState`, through the account's rate limit) — the polling fallback for missed or absent webhooks.
 * The pick of each step is journaled like a delivery's, and the CRM writes run in a step journal.
 */
import { UnrecoverableError, type Job } from 'bullmq';
import { z } from 'zod';
import type { AssignmentService } from '../assignment/service.ts';
import { isOpen, nextOpening } from '../assignment/hours.ts';
import { createJournal } from './journal.ts';
import { hashKey, QUEUE_REASSIGN } from './queues.ts';
import type { WorkerContext } from './context.ts';
import { toJobError } from './deliver.processor.ts';

export { QUEUE_REASSIGN };

export const ReassignJobSchema = z.object({
  accountId: z.string(),
  leadId: z.string(),
  taskId: z.string(),
  /** The group the lead's rule named: the next manager comes from it. */
  group: z.string(),
  /** The lead's manager now. */
  user: z.string(),
  /** Managers who had the lead before (never picked again). */
  history: z.array(z.string()),
  /** How many times the lead has moved so far. */
  step: z.number().int().min(0),
});
export type ReassignJob = z.infer<typeof ReassignJobSchema>;

export type ReassignResult =
  | { outcome: 'done'; via: 'webhook' | 'poll' }
  | { outcome: 'moved'; from: string; to: string; step: number }
  | { outcome: 'postponed'; until: string }
  | { outcome: 'limit' | 'nobody' | 'off' };

/** When the check of `j` runs: `afterMinutes` from `from`, pushed to the next opening of `reassign.hours`. */
export function checkTime(assign: AssignmentService, from: Date): Date | undefined {
  const r = assign.rules.reassign;
  const due = new Date(from.getTime() + r.afterMinutes * 60_000);
  if (!r.hours) return due;
  return nextOpening(assign.rules.hours[r.hours]!, assign.rules.timeZone, due);
}

/** Schedules the follow-up check of a lead; returns when it will run (undefined: reassignment off). */
export async function scheduleReassign(ctx: WorkerContext, assign: AssignmentService, j: ReassignJob, from: Date, at?: Date): Promise<Date | undefined> {
  const r = assign.rules.reassign;
  // Step == maxTimes is the last check: it moves nothing, but a task found done then stops counting (least-open).
  if (!ctx.reassignQueue || !r.enabled || j.step > r.maxTimes || r.maxTimes === 0) return undefined;
  const when = at ?? checkTime(assign, from);
  if (!when) return undefined;
  // Postponed checks of the same step get their own id (the job running now holds the plain one).
  const jobId = `rs-${hashKey(`${j.accountId}:${j.leadId}`)}-${j.step}${at ? `-${when.getTime()}` : ''}`;
  await ctx.reassignQueue.add('check', j, { jobId, delay: Math.max(0, when.getTime() - Date.now()) });
  return when;
}

export async function processReassign(job: Job, ctx: WorkerContext): Promise<ReassignResult> {
  const parsed = ReassignJobSchema.safeParse(job.data);
  if (!parsed.success) throw new UnrecoverableError(`reassignment job is malformed: ${parsed.error.issues[0]?.message}`);
  const j = parsed.data;
  const assign = ctx.assignment?.get(j.accountId);
  const acct = ctx.accounts.get(j.accountId);
  if (!assign || !acct) return { outcome: 'off' };
  const log = ctx.log.child({ job: job.id, account: j.accountId, lead: j.leadId, step: j.step });
  const { connector, settings } = acct.account;
  try {
    // A webhook said the task is done, or the lead was won/lost (it then no longer counts as open).
    if ((await assign.state.isTaskDone(j.taskId)) || (await assign.state.lead(j.leadId))?.open === false) {
      await assign.state.closeLead(j.leadId);
      // First contact = when the CRM said the task was done. A task found done by the poll has no such time, so
      // the ledger leaves first contact empty rather than record the check's time.
      const doneAt = await assign.state.taskDoneAt(j.taskId);
      if (doneAt) ctx.ledger?.firstContact({ accountId: j.accountId, leadId: j.leadId }, doneAt);
      return { outcome: 'done', via: 'webhook' };
    }
    if (!connector.taskState || !connector.reassign) return { outcome: 'off' };
    const state = await connector.taskState(acct.io, settings, j.taskId);
    if (state !== 'open') {
      await assign.state.closeLead(j.leadId);
      return { outcome: 'done', via: 'poll' };
    }
    const r = assign.rules.reassign;
    if (j.step >= r.maxTimes) return { outcome: 'limit' };
    const now = new Date();
    if (r.hours && !isOpen(assign.rules.hours[r.hours]!, assign.rules.timeZone, now)) {
      const until = nextOpening(assign.rules.hours[r.hours]!, assign.rules.timeZone, now);
      if (!until) return { outcome: 'off' };
      await scheduleReassign(ctx, assign, j, now, until);
      log.info({ until: until.toISOString() }, 'reassignment: outside working hours, postponed');
      return { outcome: 'postponed', until: until.toISOString() };
    }
    const stepKey = `reassign:${j.accountId}:${j.leadId}:${j.step + 1}`;
    const pick = await assign.pickNext(stepKey, j.group, [j.user, ...j.history], now);
    if (!pick) {
      log.warn({ group: j.group }, 'reassignment: nobody else in the group is available; the lead stays');
      return { outcome: 'nobody' };
    }
    const [fromName, toName] = [(await assign.userName(j.user)) ?? j.user, (await assign.userName(pick.user)) ?? pick.user];
    const note = r.note.replaceAll('{from}', fromName).replaceAll('{to}', toName).replaceAll('{minutes}', String(r.afterMinutes));
    const journal = createJournal(ctx.redis, ctx.keys.journal(stepKey), ctx.idempotencyTtlSec);
    await connector.reassign(acct.io, settings, { leadId: j.leadId, taskId: j.taskId, fromUserId: j.user, toUserId: pick.user, note }, journal);
    await assign.state.moveLead(j.leadId, j.user, pick.user);
    ctx.ledger?.responsible({ accountId: j.accountId, leadId: j.leadId }, pick.user);
    await scheduleReassign(ctx, assign, { ...j, user: pick.user, history: [...j.history, j.user], step: j.step + 1 }, now);
    log.info({ from: j.user, to: pick.user }, 'reassignment: follow-up task still open, lead moved to the next manager');
    return { outcome: 'moved', from: j.user, to: pick.user, step: j.step + 1 };
  } catch (err) {
    throw toJobError(err, acct, log, job);
  }
}
