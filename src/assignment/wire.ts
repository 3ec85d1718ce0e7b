/**
 * Builds the assignment service of every CRM account that has `crm[].assignment` and checks the users its rules
 * name against the live CRM: an unknown or deactivated user stops start-up with the fix (a CRM that is down only
 * warns: the check runs again through the cached user list on the first pick).
 */
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { ConfigError } from '../sdk/errors.ts';
import type { RuntimeConfig } from '../config/load.ts';
import type { AccountRuntime } from '../pipeline/crm-runtime.ts';
import { createAssignment, type AssignmentService } from './service.ts';
import { createTaskEventSink, type TaskEventSink } from './events.ts';
import type { CallerLookupOptions } from '../domain/caller-cache.ts';

interface WireOptions {
  config: RuntimeConfig;
  accounts: ReadonlyMap<string, AccountRuntime>;
  redis: Redis;
  prefix: string;
  ttlSec: number;
  log: Logger;
}

/** The services, unchecked (the gateway: previews and webhook records only). */
export function buildAssignments(o: WireOptions): Map<string, AssignmentService> {
  const out = new Map<string, AssignmentService>();
  for (const [id, acct] of o.accounts) {
    const rules = acct.account.assignment;
    if (!rules) continue;
    out.set(id, createAssignment({ accountId: id, rules, connector: acct.account.connector, settings: acct.account.settings, io: acct.io, redis: o.redis, prefix: o.prefix, ttlSec: o.ttlSec, region: o.config.defaultRegion, log: o.log }));
  }
  return out;
}

export async function setupAssignment(o: WireOptions): Promise<Map<string, AssignmentService> | undefined> {
  const out = buildAssignments(o);
  for (const [id, svc] of out) {
    const rules = svc.rules;
    let res: { problems: string[]; warnings: string[] };
    try {
      res = await svc.check();
    } catch (err) {
      o.log.warn({ account: id, err: (err as Error).message }, 'assignment: CRM users not reachable at start-up; user ids are checked when it answers');
      continue;
    }
    for (const w of res.warnings) o.log.warn({ account: id }, w);
    if (res.problems.length) {
      throw new ConfigError({ file: rules.file, key: `users (crm ${id})`, problem: res.problems.join('; '), fix: 'correct the user ids listed above, then restart' });
    }
  }
  return out.size ? out : undefined;
}

/**
 * The gateway's part (src/runtime/telephony.ts): caller-ID previews for unknown callers and the webhook records of
 * done tasks / closed leads. Empty when no account has rules.
 */
export function gatewayAssignment(o: WireOptions): { lookup: Pick<CallerLookupOptions, 'previewUnknown'>; crmEvents: { tasks?: TaskEventSink } } {
  const services = buildAssignments(o);
  if (services.size === 0) return { lookup: {}, crmEvents: {} };
  return {
    lookup: {
      previewUnknown: async (accountId, _phone, hints) => {
        const svc = services.get(accountId);
        const p = svc ? await svc.preview({ ...hints, at: new Date() }) : undefined;
        if (!svc || !p) return undefined;
        const name = await svc.userName(p.user);
        return { responsibleUserId: p.user, ...(name ? { responsibleName: name } : {}) };
      },
    },
    crmEvents: {
      tasks: createTaskEventSink({
        states: new Map([...services].map(([id, svc]) => [id, svc.state])),
        taskState: (accountId, taskId) => {
          const acct = o.accounts.get(accountId);
          const c = acct?.account.connector;
          return acct && c?.taskState ? c.taskState(acct.io, acct.account.settings, taskId) : undefined;
        },
        log: o.log,
      }),
    },
  };
}
