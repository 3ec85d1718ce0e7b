/**
 * Assignment support (reference: /work/shared/reference/amocrm.md §10 tasks, §11 users, §5 leads, §8 notes):
 * - `listUsers`: `GET /api/v4/users` (paged by 250) with `rights.is_active`;
 * - `taskState`: `GET /api/v4/tasks/{id}` → `is_completed` (204/404: the task is gone);
 * - `reassign`: `PATCH /api/v4/leads/{id}` and `PATCH /api/v4/tasks/{id}` with the new `responsible_user_id`, then a
 *   common note on the lead naming the previous manager. Every call goes through the account's rate-limited client.
 */
import { z } from 'zod';
import { CrmError, HttpError, type CrmIO, type CrmUser, type ReassignRequest, type StepJournal } from '#sdk';
import { runClassified as run } from '../run.ts';
import type { AmoSettings } from '../settings.ts';

const UsersPage = z.object({
  _embedded: z.object({ users: z.array(z.object({ id: z.number(), name: z.string(), rights: z.object({ is_active: z.boolean().optional() }).passthrough().optional() }).passthrough()) }).optional(),
  _links: z.object({ next: z.unknown().optional() }).passthrough().optional(),
});
const Task = z.object({ id: z.number(), is_completed: z.boolean() }).passthrough();
const NotesPage = z.object({ _embedded: z.object({ notes: z.array(z.object({ id: z.number(), created_at: z.number().optional(), params: z.object({ text: z.string().optional() }).passthrough().nullish() }).passthrough()) }).optional() });

const numericId = (what: string, v: string): number => {
  if (!/^\d+$/.test(v)) throw new CrmError({ kind: 'reject', cause: `${what} "${v}" is not an amoCRM id` });
  return Number(v);
};

export function listUsers(io: CrmIO, s: AmoSettings): Promise<CrmUser[]> {
  return run(s, async () => {
    const out: CrmUser[] = [];
    for (let page = 1; page <= 40; page++) {
      const res = await io.http.request({ method: 'GET', url: '/api/v4/users', params: { limit: 250, page } });
      if (res.status === 204) break;
      const p = UsersPage.parse(res.data);
      for (const u of p._embedded?.users ?? []) out.push({ id: String(u.id), name: u.name, active: u.rights?.is_active !== false });
      if (!p._links?.next) break;
    }
    return out;
  });
}

export function taskState(io: CrmIO, s: AmoSettings, taskId: string): Promise<'open' | 'done' | 'missing'> {
  return run(s, async () => {
    let res;
    try {
      res = await io.http.request({ method: 'GET', url: `/api/v4/tasks/${numericId('task id', taskId)}` });
    } catch (err) {
      if (err instanceof HttpError && err.status === 404) return 'missing';
      throw err;
    }
    if (res.status === 204) return 'missing';
    return Task.parse(res.data).is_completed ? 'done' : 'open';
  });
}

export function reassign(io: CrmIO, s: AmoSettings, r: ReassignRequest, journal: StepJournal): Promise<void> {
  return run(s, async () => {
    const leadId = numericId('lead id', r.leadId);
    const to = numericId('user id', r.toUserId);
    // Setting a responsible is idempotent: a retry simply writes the same value again.
    await journal.step('lead', async () => {
      await io.http.request({ method: 'PATCH', url: `/api/v4/leads/${leadId}`, data: { responsible_user_id: to } });
      return true;
    });
    if (r.taskId) {
      const taskId = numericId('task id', r.taskId);
      await journal.step('task', async () => {
        await io.http.request({ method: 'PATCH', url: `/api/v4/tasks/${taskId}`, data: { responsible_user_id: to } });
        return true;
      });
    }
    await journal.step(
      'note',
      async () => {
        const res = await io.http.request<{ _embedded?: { notes?: { id: number }[] } }>({ method: 'POST', url: `/api/v4/leads/${leadId}/notes`, data: [{ note_type: 'common', params: { text: r.note } }] });
        return { noteId: res.data._embedded?.notes?.[0]?.id ?? null };
      },
      {
        // A note sent by an attempt that crashed before saving: found by its text, never written twice.
        recover: async (since) => {
          const res = await io.http.request({ method: 'GET', url: `/api/v4/leads/${leadId}/notes`, params: { 'filter[note_type]': 'common', 'order[id]': 'desc', limit: 50 } });
          if (res.status === 204) return undefined;
          const hit = (NotesPage.parse(res.data)._embedded?.notes ?? []).find((n) => n.params?.text === r.note && (n.created_at ?? Infinity) >= Math.floor(since.getTime() / 1000) - 300);
          return hit ? { noteId: hit.id } : undefined;
        },
      },
    );
  });
}

/** The optional CrmConnector methods this file provides, spread into the connector in index.ts. */
export const amoAssignment = { listUsers, taskState, reassign };
