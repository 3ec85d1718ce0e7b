/**
 * Assignment support (reference: /work/shared/reference/bitrix24.md §4 leads, §5 deals, §7 activities):
 * - `listUsers`: `user.get` without an ACTIVE filter (paged by 50) — inactive users are the blocked ones;
 * - `taskState`: `crm.activity.get` → `COMPLETED` `Y`/`N` (a deleted to-do answers "Not found");
 * - `reassign`: `crm.lead.update` / `crm.deal.update` with `ASSIGNED_BY_ID`, `crm.activity.update` with
 *   `RESPONSIBLE_ID` (the legacy method; that it moves a CRM_TODO to-do is unconfirmed on live portals), then a
 *   timeline comment naming the previous manager. Each is a journal step; all go through the account's limiter.
 */
import { z } from 'zod';
import { CrmError, type CrmIO, type CrmUser, type ReassignRequest, type StepJournal } from '#sdk';
import { BitrixApiError, createBitrixClient } from '../client.ts';
import type { BitrixSettings } from '../settings.ts';

const PAGE = 50;
const IdLike = z.union([z.string(), z.number()]).transform(String);
const UserRow = z.object({ ID: IdLike, NAME: z.string().nullish(), LAST_NAME: z.string().nullish(), ACTIVE: z.union([z.boolean(), z.string()]).nullish() });
const ActivityRow = z.object({ ID: IdLike, COMPLETED: z.string().nullish() });

/** `123` → lead 123, `D_123` → deal 123 (the receipt's notation). */
function recordOf(leadId: string): { entity: 'lead' | 'deal'; id: string } {
  const m = /^(?:(L|D)_)?(\d+)$/.exec(leadId.trim());
  if (!m) throw new CrmError({ kind: 'reject', cause: `"${leadId}" is not a Bitrix24 lead or deal reference (123, L_123 or D_123)` });
  return { entity: m[1] === 'D' ? 'deal' : 'lead', id: m[2]! };
}

export async function listUsers(io: CrmIO, s: BitrixSettings): Promise<CrmUser[]> {
  const client = createBitrixClient(io, s);
  const out: CrmUser[] = [];
  for (let page = 0; page < 40; page++) {
    const rows = z.array(UserRow).parse(await client.call('user.get', { sort: 'ID', order: 'ASC', start: page * PAGE }));
    for (const u of rows) {
      const active = u.ACTIVE === true || u.ACTIVE === 'Y' || u.ACTIVE === 'true' || u.ACTIVE === '1';
      out.push({ id: u.ID, name: [u.NAME, u.LAST_NAME].filter(Boolean).join(' ') || `#${u.ID}`, active });
    }
    if (rows.length < PAGE) break;
  }
  return out;
}

export async function taskState(io: CrmIO, s: BitrixSettings, taskId: string): Promise<'open' | 'done' | 'missing'> {
  const client = createBitrixClient(io, s);
  try {
    const row = ActivityRow.parse(await client.call('crm.activity.get', { id: taskId }));
    return row.COMPLETED === 'Y' ? 'done' : 'open';
  } catch (err) {
    if (err instanceof BitrixApiError && /not found/i.test(`${err.error} ${err.description}`)) return 'missing';
    throw err;
  }
}

export async function reassign(io: CrmIO, s: BitrixSettings, r: ReassignRequest, journal: StepJournal): Promise<void> {
  const client = createBitrixClient(io, s);
  const rec = recordOf(r.leadId);
  // Setting a responsible is idempotent: a retry writes the same value again.
  await journal.step('record', async () => {
    await client.call(`crm.${rec.entity}.update`, { id: rec.id, fields: { ASSIGNED_BY_ID: r.toUserId } });
    return true;
  });
  if (r.taskId) {
    await journal.step('task', async () => {
      await client.call('crm.activity.update', { id: r.taskId, fields: { RESPONSIBLE_ID: r.toUserId } });
      return true;
    });
  }
  await journal.step('comment', async () => {
    // Lower-case `fields` and `ENTITY_TYPE`: the only spelling crm.timeline.comment.add accepts (sheet §7).
    const id = await client.call('crm.timeline.comment.add', { fields: { ENTITY_TYPE: rec.entity, ENTITY_ID: rec.id, COMMENT: r.note } });
    return { commentId: IdLike.safeParse(id).data ?? null };
  });
}

/** The optional CrmConnector methods this file provides, spread into the connector in index.ts. */
export const bitrixAssignment = { listUsers, taskState, reassign };
