import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { ConfigError } from '../sdk/errors.ts';
import type { RuntimeConfig } from '../config/load.ts';
import type { AppDeps } from '../app.ts';
import type { Keys } from '../infra/keys.ts';
import { createCallerCache, createCallerLookup, routingAnswer, type CallerLookupService } from '../domain/caller-cache.ts';
import { gatewayAssignment } from '../assignment/wire.ts';
import { createAccountRuntime, type AccountRuntime } from '../pipeline/crm-runtime.ts';
import { createRecordings } from '../pipeline/recordings.ts';
import { sleep } from '../infra/limiter.ts';
import type { CrmEventsAccount } from '../gateway/crm-events.plugin.ts';

/**
 * What the gateway process needs for telephony: an AccountRuntime per CRM account (lookups go through the
 * same rate-limited CrmIO as deliveries, sharing the per-account budget in Redis), the caller-ID cache, the
 * CRM-webhook secrets and the recording links. Every missing secret stops start-up with the fix.
 */
export function createGatewayTelephony(o: { config: RuntimeConfig; redis: Redis; keys: Keys; log: Logger; env: Readonly<Record<string, string | undefined>> }): NonNullable<AppDeps['telephony']> & { lookupService: CallerLookupService; accounts: Map<string, AccountRuntime> } {
  const t = o.config.raw.telephony;
  const need = (key: string, name: string, min = 8): string => {
    const v = o.env[name];
    if (!v) throw new ConfigError({ file: o.config.file, key, problem: `${name} is empty`, fix: `set ${name} in the environment or remove the key` });
    if (v.length < min && !o.config.demo) throw new ConfigError({ file: o.config.file, key, problem: `${name} is shorter than ${min} characters`, fix: 'use a long random value, e.g. `openssl rand -hex 24`' });
    return v;
  };

  const accounts = new Map<string, AccountRuntime>();
  for (const [id, account] of o.config.crm) accounts.set(id, createAccountRuntime({ account, redis: o.redis, keys: o.keys, log: o.log, configFile: o.config.file }));

  // Assignment rules: who an unknown caller would get (preview), and CRM webhooks about done tasks / closed leads.
  const assignment = gatewayAssignment({ config: o.config, accounts, redis: o.redis, prefix: o.keys.prefix, ttlSec: Math.round(o.config.raw.idempotencyTtlDays * 86_400), log: o.log });
  const cache = createCallerCache({ redis: o.redis, key: (a, k) => o.keys.cache(a, k), ttlSec: t.lookup.cacheTtlSec, negativeTtlSec: t.lookup.negativeTtlSec });
  const lookupService = createCallerLookup({
    cache,
    askCrm: (accountId, phone) => {
      const acct = accounts.get(accountId);
      const c = acct?.account.connector;
      if (!acct || !c?.lookupPhone) return undefined;
      return askOnceMore(acct, () => c.lookupPhone!(acct.io, acct.account.settings, phone));
    },
    extensions: (accountId) => o.config.crm.get(accountId)?.config.extensions ?? {},
    ...assignment.lookup,
  });

  const eventAccounts = new Map<string, CrmEventsAccount>();
  for (const [id, account] of o.config.crm) {
    const ev = account.config.events;
    if (!ev) continue;
    const i = [...o.config.crm.keys()].indexOf(id);
    eventAccounts.set(id, {
      secret: need(`crm.${i}.events.secretEnv`, ev.secretEnv),
      ...(ev.applicationTokenEnv ? { applicationToken: need(`crm.${i}.events.applicationTokenEnv`, ev.applicationTokenEnv, 1) } : {}),
    });
  }

  return {
    accounts,
    lookupService,
    lookup: {
      lookup: lookupService,
      token: t.lookup.tokenEnv ? need('telephony.lookup.tokenEnv', t.lookup.tokenEnv, 16) : undefined,
      accountIds: [...o.config.crm.keys()],
      defaultRegion: o.config.defaultRegion,
      timeoutMs: t.lookup.timeoutMs,
    },
    // Routing replies have their own deadline (the connector's); this bound only stops a hung CRM call.
    lookupCaller: async (accountId, phone) => routingAnswer(await lookupService.lookup(accountId, phone, t.lookup.timeoutMs)),
    crmEvents: { cache, accounts: eventAccounts, defaultRegion: o.config.defaultRegion, ...assignment.crmEvents },
    recordings: { recordings: createRecordings({ config: o.config, env: o.env }), timeoutMs: t.recordings.timeoutMs },
  };
}

/**
 * A caller waits for this answer: a short "retry" (a 429 someone else caused, a blip) is retried once at once;
 * a long one is not, and a "pause the account" verdict pauses it for every process, as deliveries do.
 */
async function askOnceMore<T>(acct: AccountRuntime, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    const f = acct.account.connector.classify(err);
    if (f.kind === 'retry' && f.pauseAccount) void acct.limiter.pause(f.afterMs).catch(() => undefined);
    if (f.kind !== 'retry' || f.pauseAccount || f.afterMs > 2_000) throw err;
    await sleep(f.afterMs);
    return run();
  }
}
