/**
 * Assignment state in Redis, shared by every worker and changed only by Lua scripts (atomic): rotation per
 * group, open-lead counts per user, the pick of each delivery (so a retry gets the same manager and never
 * takes a second slot), and what the hub knows about each lead it assigned (for reassignment and counts).
 *
 * Keys, all under the hash-tagged prefix (one Redis Cluster slot):
 * - `assign:<acct>:g:<group>`  hash `last` (member picked last), `cw:<user>` (weighted current weights)
 * - `assign:<acct>:load`       hash user → open leads the hub assigned to them
 * - `assign:<acct>:pick:<key>` the pick of one delivery (or one reassignment step): `user\n{meta}`
 * - `assign:<acct>:lead:<id>`  hash `user`, `open` (1 while counted in load), `task`
 * - `assign:<acct>:task:<id>`  the lead id of a follow-up task we track; `…:done:<task id>` set when the CRM said done
 */
import type { Redis } from 'ioredis';
import { hashKey } from '../pipeline/queues.ts';
import type { Candidate, StrategyState } from './rules.ts';

export type Strategy = 'round-robin' | 'least-open' | 'weighted';

/** Why a manager was picked; kept with the pick (logs, the reassignment job). */
export interface PickMeta {
  by: 'sticky' | 'rule' | 'reassign';
  group?: string | undefined;
  rule?: string | undefined;
}
export interface Pick {
  user: string;
  meta: PickMeta;
  /** false when an earlier attempt of the same delivery had already picked it. */
  fresh: boolean;
}

// KEYS: pick, group, load   ARGV: mode, strategy, ttlSec, meta, then (id, weight, eligible) per member in config order.
// Mirrors `choose`/`apply` in rules.ts; a test runs both over the same sequences.
const PICK_SCRIPT = `
local mode, strategy, ttl, meta = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
if mode == 'take' then
  local saved = redis.call('GET', KEYS[1])
  if saved then return {'saved', saved} end
end
local ids, weights, ok = {}, {}, {}
local n = 0
for i = 5, #ARGV, 3 do
  n = n + 1
  ids[n] = ARGV[i]; weights[n] = tonumber(ARGV[i + 1]); ok[n] = ARGV[i + 2] == '1'
end
if n == 0 then return {'none'} end
local pick = nil
if strategy == 'fixed' then
  if ok[1] then pick = 1 end
else
  local last = redis.call('HGET', KEYS[2], 'last')
  local lastIdx = 0
  if last then for i = 1, n do if ids[i] == last then lastIdx = i end end end
  if strategy == 'weighted' then
    local best, bestCw = nil, nil
    for i = 1, n do
      if ok[i] then
        local cw = tonumber(redis.call('HGET', KEYS[2], 'cw:' .. ids[i]) or '0') + weights[i]
        if best == nil or cw > bestCw then best, bestCw = i, cw end
      end
    end
    pick = best
  else
    local bestLoad = nil
    for k = 1, n do
      local i = ((lastIdx + k - 1) % n) + 1
      if ok[i] then
        if strategy == 'round-robin' then pick = i break end
        local load = tonumber(redis.call('HGET', KEYS[3], ids[i]) or '0')
        if bestLoad == nil or load < bestLoad then pick, bestLoad = i, load end
      end
    end
  end
end
if pick == nil then return {'none'} end
if mode == 'take' then
  if strategy == 'weighted' then
    local total = 0
    for i = 1, n do
      if ok[i] then
        redis.call('HINCRBY', KEYS[2], 'cw:' .. ids[i], weights[i])
        total = total + weights[i]
      end
    end
    redis.call('HINCRBY', KEYS[2], 'cw:' .. ids[pick], -total)
  end
  if strategy ~= 'fixed' then redis.call('HSET', KEYS[2], 'last', ids[pick]) end
  redis.call('HINCRBY', KEYS[3], ids[pick], 1)
  redis.call('SET', KEYS[1], ids[pick] .. '\\n' .. meta, 'EX', ttl)
end
return {'new', ids[pick]}`;

// KEYS: pick, load   ARGV: user   — gives back the slot counted for a pick whose delivery opened no lead.
const RELEASE_SCRIPT = `
local saved = redis.call('GET', KEYS[1])
if not saved or string.sub(saved, -9) == '\\nreleased' then return 0 end
redis.call('SET', KEYS[1], saved .. '\\nreleased', 'KEEPTTL')
redis.call('HINCRBY', KEYS[2], ARGV[1], -1)
return 1`;

// KEYS: lead, load, task   ARGV: user, taskId or '', leadId, ttl — remembers a lead the hub assigned (once).
const RECORD_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'user', ARGV[1], 'open', '1', 'task', ARGV[2])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))
if ARGV[2] ~= '' then redis.call('SET', KEYS[3], ARGV[3], 'EX', tonumber(ARGV[4])) end
return 1`;

// KEYS: lead, load   — the lead is closed or its task done: it no longer counts (once).
const CLOSE_SCRIPT = `
local user = redis.call('HGET', KEYS[1], 'user')
if not user or redis.call('HGET', KEYS[1], 'open') ~= '1' then return 0 end
redis.call('HSET', KEYS[1], 'open', '0')
if tonumber(redis.call('HGET', KEYS[2], user) or '0') > 0 then redis.call('HINCRBY', KEYS[2], user, -1) end
return 1`;

// KEYS: lead, load   ARGV: from, to — after a reassignment pick (which counted the lead for \`to\` already): the lead
// no longer counts for \`from\`; if it was no longer counted at all, the pick's count is given back. Once per move.
const MOVE_SCRIPT = `
local user = redis.call('HGET', KEYS[1], 'user')
if user ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'user', ARGV[2])
local give = ARGV[1]
if redis.call('HGET', KEYS[1], 'open') ~= '1' then give = ARGV[2] end
if tonumber(redis.call('HGET', KEYS[2], give) or '0') > 0 then redis.call('HINCRBY', KEYS[2], give, -1) end
return 1`;

export interface AssignmentState {
  /**
   * Takes (or, on a retry, returns) the pick of `pickKey`. `fixed` picks the single candidate (sticky).
   * undefined when no candidate is eligible.
   */
  take(pickKey: string, strategy: Strategy | 'fixed', group: string, members: readonly Candidate[], meta: PickMeta): Promise<Pick | undefined>;
  /** Who `take` would pick now, changing nothing (caller-ID preview). */
  peek(strategy: Strategy, group: string, members: readonly Candidate[]): Promise<string | undefined>;
  /** The pick already taken for `pickKey`, if any. */
  saved(pickKey: string): Promise<{ user: string; meta: PickMeta } | undefined>;
  /** Gives back the count of a pick whose delivery opened no new lead. */
  release(pickKey: string, user: string): Promise<void>;
  recordLead(leadId: string, user: string, taskId: string | undefined): Promise<void>;
  lead(leadId: string): Promise<{ user: string; open: boolean; task?: string } | undefined>;
  /** The lead is closed or its follow-up task done: stop counting it. true when it was counted. */
  closeLead(leadId: string): Promise<boolean>;
  /** After `take` picked `to` for a reassignment (and counted it): the lead is `to`'s now, no longer `from`'s. */
  moveLead(leadId: string, from: string, to: string): Promise<void>;
  /** CRM webhooks: a tracked task was completed (or deleted). Returns its lead id when we track it. */
  markTaskDone(taskId: string): Promise<string | undefined>;
  isTaskDone(taskId: string): Promise<boolean>;
  /** When a CRM webhook first said the task is done (undefined: not reported, or reported before times were kept). */
  taskDoneAt(taskId: string): Promise<Date | undefined>;
  /** Is this a follow-up task of a lead the hub assigned? */
  isTracked(taskId: string): Promise<boolean>;
  load(): Promise<Record<string, number>>;
  /** Group rotation and loads as the pure functions see them (tests, `choose` comparisons). */
  snapshot(group: string): Promise<StrategyState>;
}

export function createAssignmentState(redis: Redis, prefix: string, accountId: string, ttlSec: number): AssignmentState {
  const base = `${prefix}:assign:${accountId}`;
  const k = {
    group: (g: string) => `${base}:g:${g}`,
    load: `${base}:load`,
    pick: (key: string) => `${base}:pick:${hashKey(key)}`,
    lead: (id: string) => `${base}:lead:${id}`,
    task: (id: string) => `${base}:task:${id}`,
    done: (id: string) => `${base}:done:${id}`,
  };
  const flat = (members: readonly Candidate[]): string[] => members.flatMap((m) => [m.id, String(m.weight), m.eligible ? '1' : '0']);
  const parse = (saved: string): { user: string; meta: PickMeta } => {
    const [user, meta] = saved.split('\n');
    return { user: user!, meta: meta ? (JSON.parse(meta) as PickMeta) : { by: 'rule' } };
  };
  /** Long enough for a lead to be worked on; reassignment reads it days later at most. */
  const leadTtl = Math.max(ttlSec, 30 * 86_400);

  return {
    async take(pickKey, strategy, group, members, meta) {
      const r = (await redis.eval(PICK_SCRIPT, 3, k.pick(pickKey), k.group(group), k.load, 'take', strategy, String(ttlSec), JSON.stringify(meta), ...flat(members))) as string[];
      if (r[0] === 'saved') return { ...parse(r[1]!), fresh: false };
      if (r[0] === 'new') return { user: r[1]!, meta, fresh: true };
      return undefined;
    },
    async peek(strategy, group, members) {
      const r = (await redis.eval(PICK_SCRIPT, 3, `${base}:pick:peek`, k.group(group), k.load, 'peek', strategy, '1', '{}', ...flat(members))) as string[];
      return r[0] === 'new' ? r[1] : undefined;
    },
    async saved(pickKey) {
      const v = await redis.get(k.pick(pickKey));
      return v ? parse(v) : undefined;
    },
    async release(pickKey, user) {
      await redis.eval(RELEASE_SCRIPT, 2, k.pick(pickKey), k.load, user);
    },
    async recordLead(leadId, user, taskId) {
      await redis.eval(RECORD_SCRIPT, 3, k.lead(leadId), k.load, k.task(taskId ?? 'none'), user, taskId ?? '', leadId, String(leadTtl));
    },
    async lead(leadId) {
      const h = await redis.hgetall(k.lead(leadId));
      if (!h.user) return undefined;
      return { user: h.user, open: h.open === '1', ...(h.task ? { task: h.task } : {}) };
    },
    async closeLead(leadId) {
      return Number(await redis.eval(CLOSE_SCRIPT, 2, k.lead(leadId), k.load)) === 1;
    },
    async moveLead(leadId, from, to) {
      await redis.eval(MOVE_SCRIPT, 2, k.lead(leadId), k.load, from, to);
    },
    async markTaskDone(taskId) {
      const leadId = await redis.get(k.task(taskId));
      if (!leadId) return undefined;
      // The first report's time is kept (NX): it is the lead's first contact for the ledger.
      await redis.set(k.done(taskId), String(Date.now()), 'EX', leadTtl, 'NX');
      return leadId;
    },
    async isTaskDone(taskId) {
      return (await redis.exists(k.done(taskId))) === 1;
    },
    async taskDoneAt(taskId) {
      const v = Number(await redis.get(k.done(taskId)));
      // Keys written before times were kept hold "1": done, time unknown.
      return v > 1_000_000_000_000 ? new Date(v) : undefined;
    },
    async isTracked(taskId) {
      return (await redis.exists(k.task(taskId))) === 1;
    },
    async load() {
      const h = await redis.hgetall(k.load);
      return Object.fromEntries(Object.entries(h).map(([u, n]) => [u, Number(n)]));
    },
    async snapshot(group) {
      const [h, load] = [await redis.hgetall(k.group(group)), await this.load()];
      const cw: Record<string, number> = {};
      for (const [f, v] of Object.entries(h)) if (f.startsWith('cw:')) cw[f.slice(3)] = Number(v);
      return { ...(h.last ? { last: h.last } : {}), cw, load };
    },
  };
}
