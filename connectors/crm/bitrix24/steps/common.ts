/**
 * Pieces every delivery step shares: the context, record references, ORIGIN_ID marks and their lookups,
 * timeline comments and to-dos (reference: bitrix24.md §1.5 idempotency, §7 timeline/activities).
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { CrmError, type AccountFacts, type CrmIO } from '#sdk';
import { BitrixApiError, type BitrixClient, type Params } from '../client.ts';
import type { BitrixMeta } from '../fields.ts';
import { DEFAULTS, type BitrixSettings } from '../settings.ts';

export interface Ctx {
  io: CrmIO;
  s: BitrixSettings;
  client: BitrixClient;
  meta: BitrixMeta;
  facts: AccountFacts;
}

export type OwnerEntity = 'lead' | 'deal' | 'contact' | 'company';
export const OWNER_TYPE_ID: Record<OwnerEntity, number> = { lead: 1, deal: 2, contact: 3, company: 4 };

/** A CRM record the pipeline may hand back later (thread binding): leads as `123`, deals as `D_123`. */
export interface RecordRef {
  entity: 'lead' | 'deal';
  id: string;
}

export function refString(r: RecordRef): string {
  return r.entity === 'deal' ? `D_${r.id}` : r.id;
}

/** Reads `123`, `L_123` (lead) or `D_123` (deal), the notation Bitrix24 itself uses in `UF_CRM_TASK`. */
export function parseRef(s: string): RecordRef {
  const m = /^(?:(L|D)_)?(\d+)$/.exec(s.trim());
  if (!m) throw new CrmError({ kind: 'reject', cause: `"${s}" is not a Bitrix24 lead or deal reference (123, L_123 or D_123)` });
  return { entity: m[1] === 'D' ? 'deal' : 'lead', id: m[2]! };
}

export function recordUrl(ctx: Ctx, r: { entity: OwnerEntity; id: string }): string {
  return `${ctx.meta.origin}/crm/${r.entity}/details/${r.id}/`;
}

/**
 * Our id of one delivery, written into ORIGIN_ID (with ORIGINATOR_ID `leadgate`) of every contact, lead and deal
 * we create, so a retry can ask "did I already create it?". Lower-case hex: portals compare case-insensitively.
 */
export function originIdOf(deliveryKey: string): string {
  return createHash('sha256').update(deliveryKey).digest('hex').slice(0, 32);
}

/** A positive id from a number or numeric string. */
export function idOf(v: unknown): string | undefined {
  if (typeof v === 'number' && Number.isInteger(v) && v > 0) return String(v);
  if (typeof v === 'string' && /^\d+$/.test(v.trim()) && Number(v) > 0) return v.trim();
  return undefined;
}

const IdRows = z.array(z.object({ ID: z.union([z.string(), z.number()]) }));

/** The first record of `entity` carrying our ORIGIN_ID, or undefined. */
export async function findByOrigin(client: BitrixClient, entity: 'lead' | 'deal' | 'contact', originId: string): Promise<string | undefined> {
  const rows = IdRows.parse(await client.call(`crm.${entity}.list`, originFilter(originId)));
  return rows.map((r) => idOf(r.ID)).find((x) => x !== undefined);
}

export function originFilter(originId: string): Params {
  return { filter: { ORIGINATOR_ID: DEFAULTS.originatorId, ORIGIN_ID: originId }, select: ['ID'], order: { ID: 'ASC' } };
}

/** `crm.activity.todo.add` wants ISO 8601 with an offset; ours are UTC. */
export function deadlineOf(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) throw new CrmError({ kind: 'reject', cause: `task due time "${iso}" is not a date` });
  return `${d.toISOString().slice(0, 19)}+00:00`;
}

export function commentParams(owner: { entity: OwnerEntity; id: string }, text: string): Params {
  // Lower-case `fields` and `ENTITY_TYPE`: the only spelling crm.timeline.comment.add accepts since crm 23.100.0.
  return { fields: { ENTITY_TYPE: owner.entity, ENTITY_ID: owner.id, COMMENT: text } };
}

export interface TodoInput {
  ownerEntity: OwnerEntity;
  ownerId: string;
  title: string;
  dueAt: string;
  description?: string;
  responsibleId?: string | undefined;
}

export function todoParams(t: TodoInput): Params {
  return {
    ownerTypeId: OWNER_TYPE_ID[t.ownerEntity],
    ownerId: t.ownerId,
    deadline: deadlineOf(t.dueAt),
    title: t.title,
    ...(t.description ? { description: t.description } : {}),
    ...(t.responsibleId ? { responsibleId: t.responsibleId } : {}),
  };
}

export async function addComment(ctx: Ctx, owner: { entity: OwnerEntity; id: string }, text: string): Promise<string> {
  const id = idOf(await batchedCall(ctx, 'crm.timeline.comment.add', commentParams(owner, text)));
  if (!id) throw new CrmError({ kind: 'retry', afterMs: 10_000, cause: 'crm.timeline.comment.add answered without an id' });
  return id;
}

export async function addTodo(ctx: Ctx, t: TodoInput): Promise<string> {
  const id = todoIdOf(await batchedCall(ctx, 'crm.activity.todo.add', todoParams(t)));
  if (!id) throw new CrmError({ kind: 'retry', afterMs: 10_000, cause: 'crm.activity.todo.add answered without an id' });
  return id;
}

/**
 * One write as a one-command `batch`: alone it is still one request, and while other deliveries wait for the
 * account's rate limit it shares theirs (client.batch goes through `io.coalesce`). Repeat inquiries' comments and
 * follow-up to-dos then cost no request of their own under load.
 */
async function batchedCall(ctx: Ctx, method: string, params: Record<string, unknown>): Promise<unknown> {
  const res = await ctx.client.batch({ w: { method, params } });
  if ('w' in res.results) return res.results.w;
  throw res.errors.w ?? new CrmError({ kind: 'retry', afterMs: 10_000, cause: `${method} in a batch answered neither a result nor an error` });
}

/** `crm.activity.todo.add` answers `{id}`. */
export function todoIdOf(v: unknown): string | undefined {
  const r = z.object({ id: z.union([z.string(), z.number()]) }).safeParse(v);
  return r.success ? idOf(r.data.id) : undefined;
}

/** Slack between our clock and the portal's when matching "created since the attempt began". */
const CLOCK_SLACK_MS = 5 * 60_000;

const ActivityRows = z.array(z.object({ ID: z.union([z.string(), z.number()]), SUBJECT: z.string().nullish(), CREATED: z.string().nullish() }));

/** A to-do with this title on the owner, created since `since` (recovery after a lost answer). */
export async function findTodo(ctx: Ctx, ownerEntity: OwnerEntity, ownerId: string, title: string, since: Date): Promise<string | undefined> {
  const rows = ActivityRows.parse(
    await ctx.client.call('crm.activity.list', {
      filter: { OWNER_TYPE_ID: OWNER_TYPE_ID[ownerEntity], OWNER_ID: ownerId, PROVIDER_ID: 'CRM_TODO' },
      select: ['ID', 'SUBJECT', 'CREATED'],
      order: { ID: 'DESC' },
    }),
  );
  const row = rows.find((r) => (r.SUBJECT ?? '') === title && createdSince(r.CREATED, since));
  return row ? idOf(row.ID) : undefined;
}

const CommentRows = z.array(z.object({ ID: z.union([z.string(), z.number()]), COMMENT: z.string().nullish(), CREATED: z.string().nullish() }));

/**
 * A timeline comment with exactly this text on the owner, created since `since`. `unknown` when the portal
 * cannot list comments: the caller then writes the comment again (a repeated note beats a lost inquiry).
 */
export async function findComment(ctx: Ctx, owner: { entity: OwnerEntity; id: string }, text: string, since: Date): Promise<string | 'unknown' | undefined> {
  let raw: unknown;
  try {
    raw = await ctx.client.call('crm.timeline.comment.list', { filter: { ENTITY_ID: owner.id, ENTITY_TYPE: owner.entity }, select: ['ID', 'COMMENT', 'CREATED'], order: { ID: 'DESC' } });
  } catch (err) {
    if (err instanceof BitrixApiError && (err.error === 'ERROR_METHOD_NOT_FOUND' || err.status === 404)) {
      ctx.io.log.warn({ owner }, 'crm.timeline.comment.list unavailable: cannot tell whether the lost comment was written; writing it again');
      return 'unknown';
    }
    throw err;
  }
  const rows = CommentRows.catch([]).parse(raw);
  const row = rows.find((r) => (r.COMMENT ?? '').trim() === text.trim() && createdSince(r.CREATED, since));
  return row ? idOf(row.ID) : undefined;
}

function createdSince(created: string | null | undefined, since: Date): boolean {
  if (!created) return true;
  const t = Date.parse(created);
  return Number.isNaN(t) || t >= since.getTime() - CLOCK_SLACK_MS;
}
