/**
 * One CRM account's assignment: the rules file (pure matching in rules.ts), the live users (blocked =
 * deactivated in the CRM), and the Redis state (state.ts). I/O lives here and in state.ts only.
 */
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { CrmConnector, CrmIO } from '../sdk/crm.ts';
import type { CountryCode } from '../domain/phone.ts';
import { checkUsers, type AssignmentRules, type CrmUserFact } from './load.ts';
import { candidates, matchRule, stickyPick, type ActiveUsers, type AssignInput } from './rules.ts';
import { createAssignmentState, type AssignmentState, type Pick } from './state.ts';

/** How long the CRM's user list is trusted (a user deactivated in the CRM stops getting leads after this). */
const USERS_TTL_SEC = 600;

export interface AssignmentService {
  accountId: string;
  rules: AssignmentRules;
  state: AssignmentState;
  /** Active CRM users; undefined when the connector cannot list them (nobody is then treated as blocked). */
  activeUsers(): Promise<ActiveUsers>;
  userName(id: string): Promise<string | undefined>;
  /** Start-up: users named in the file against the CRM's. */
  check(): Promise<{ problems: string[]; warnings: string[] }>;
  /**
   * The manager of a new lead for delivery `deliveryKey`: sticky first, then the first matching rule's group by
   * its strategy. Idempotent per key (a retry gets the same answer, no second slot). undefined → CRM default.
   */
  pickForLead(deliveryKey: string, input: AssignInput, found: { contactResponsibleId?: string | undefined; openLeadResponsibleId?: string | undefined }): Promise<Pick | undefined>;
  /** What `pickForLead` would answer for an unknown contact now, without taking a slot (caller-ID routing). */
  preview(input: AssignInput): Promise<{ user: string; group: string; rule: string } | undefined>;
  /** The next manager of `group` for step `pickKey` of a reassignment, never one of `exclude`. */
  pickNext(pickKey: string, group: string, exclude: readonly string[], at: Date): Promise<Pick | undefined>;
}

export function createAssignment(o: {
  accountId: string;
  rules: AssignmentRules;
  connector: CrmConnector<unknown>;
  settings: unknown;
  io: CrmIO;
  redis: Redis;
  prefix: string;
  /** How long a delivery's pick is kept (the idempotency window). */
  ttlSec: number;
  region: CountryCode;
  log: Logger;
}): AssignmentService {
  const state = createAssignmentState(o.redis, o.prefix, o.accountId, o.ttlSec);
  let memo: { at: number; users: CrmUserFact[] | undefined } | undefined;

  async function users(): Promise<CrmUserFact[] | undefined> {
    if (!o.connector.listUsers) return undefined;
    if (memo && Date.now() - memo.at < 5_000) return memo.users;
    const cached = await o.io.cache.get('assign:users');
    let list: CrmUserFact[] | undefined;
    if (cached) list = JSON.parse(cached) as CrmUserFact[];
    else {
      try {
        list = await o.connector.listUsers(o.io, o.settings);
        await o.io.cache.set('assign:users', JSON.stringify(list), USERS_TTL_SEC);
      } catch (err) {
        // Better a lead for someone on leave than no lead: without the list nobody counts as blocked.
        o.log.warn({ account: o.accountId, err: (err as Error).message }, 'assignment: cannot list CRM users; deactivated users are not skipped until it works again');
        list = memo?.users;
      }
    }
    memo = { at: Date.now(), users: list };
    return list;
  }
  const activeUsers = async (): Promise<ActiveUsers> => {
    const list = await users();
    return list ? new Set(list.filter((u) => u.active).map((u) => u.id)) : undefined;
  };

  return {
    accountId: o.accountId,
    rules: o.rules,
    state,
    activeUsers,
    async userName(id) {
      return (await users())?.find((u) => u.id === id)?.name;
    },
    async check() {
      if (!o.connector.listUsers) return { problems: [], warnings: [`${o.rules.file}: the ${o.connector.id} connector cannot list users; user ids in the rules are not checked`] };
      const list = await o.connector.listUsers(o.io, o.settings);
      await o.io.cache.set('assign:users', JSON.stringify(list), USERS_TTL_SEC);
      memo = { at: Date.now(), users: list };
      return { problems: checkUsers(o.rules, list), warnings: [] };
    },
    async pickForLead(deliveryKey, input, found) {
      const earlier = await state.saved(deliveryKey);
      if (earlier) return { ...earlier, fresh: false };
      const active = await activeUsers();
      const match = matchRule(o.rules, input, o.region);
      const sticky = stickyPick(o.rules, found, active, input.at);
      if (sticky) return state.take(deliveryKey, 'fixed', '', [{ id: sticky, weight: 1, eligible: true }], { by: 'sticky', ...(match ? { group: match.rule.group, rule: match.label } : {}) });
      if (!match) return undefined;
      const g = o.rules.groups[match.rule.group]!;
      const pick = await state.take(deliveryKey, g.strategy, match.rule.group, candidates(o.rules, match.rule.group, active, input.at), { by: 'rule', group: match.rule.group, rule: match.label });
      if (!pick) o.log.warn({ account: o.accountId, group: match.rule.group, rule: match.label }, 'assignment: nobody in the group is available (absent or deactivated); the CRM default applies');
      return pick;
    },
    async preview(input) {
      const match = matchRule(o.rules, input, o.region);
      if (!match) return undefined;
      const g = o.rules.groups[match.rule.group]!;
      const user = await state.peek(g.strategy, match.rule.group, candidates(o.rules, match.rule.group, await activeUsers(), input.at));
      return user ? { user, group: match.rule.group, rule: match.label } : undefined;
    },
    async pickNext(pickKey, group, exclude, at) {
      const g = o.rules.groups[group];
      if (!g) return undefined;
      return state.take(pickKey, g.strategy, group, candidates(o.rules, group, await activeUsers(), at, exclude), { by: 'reassign', group });
    },
  };
}
