import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { AccountFacts, CrmIO, CredentialStore, HttpResponse, StoredTokens } from '../sdk/crm.ts';
import { ConfigError } from '../sdk/errors.ts';
import type { ResolvedCrmAccount } from '../config/load.ts';
import { createHttpClient } from '../infra/http.ts';
import type { Keys } from '../infra/keys.ts';
import { RedisLimiter, limitSpecFor } from '../infra/limiter.ts';
import { withRedisLock } from '../infra/lock.ts';
import { createCoalescer, SlotAwareLimiter, type Coalescer } from './coalesce.ts';

/** Everything the worker holds per CRM account: its IO (client, limiter, tokens), and live facts. */
export interface AccountRuntime {
  id: string;
  account: ResolvedCrmAccount;
  io: CrmIO;
  limiter: RedisLimiter;
  /** Loads (once) and returns the account facts; throws ConfigError when the mapping does not fit. */
  facts(): Promise<AccountFacts>;
  /** Counters for benchmarks and tests. */
  stats: { requests: number; errors: number; byStatus: Record<string, number> };
  /** Cross-delivery batching of this account's writes (absent when `crm[].batch` is false). */
  coalescer?: Coalescer;
}

export function createAccountRuntime(o: { account: ResolvedCrmAccount; redis: Redis; keys: Keys; log: Logger; timeoutMs?: number; configFile?: string }): AccountRuntime {
  const id = o.account.config.id;
  const connector = o.account.connector;
  const settings = o.account.settings;
  const log = o.log.child({ crm: connector.id, account: id });
  const limiter = new SlotAwareLimiter(o.redis, o.keys.limiter(id), o.keys.pause(id), limitSpecFor(connector.limits(settings)));
  const coalescer = o.account.config.batch === false ? undefined : createCoalescer({ slot: () => limiter.acquire(), log });
  const stats = { requests: 0, errors: 0, byStatus: {} as Record<string, number> };

  const credentials: CredentialStore = {
    async get() {
      const v = await o.redis.get(o.keys.tokens(id));
      return v ? (JSON.parse(v) as StoredTokens) : null;
    },
    async put(t) {
      // Written (and acknowledged by Redis) before the new token is used: a rotated refresh token is never lost.
      await o.redis.set(o.keys.tokens(id), JSON.stringify(t));
    },
    withLock: (fn) => withRedisLock(o.redis, o.keys.lock(`tokens:${id}`), fn, { ttlMs: 30_000, waitMs: 35_000 }),
  };

  // eslint-disable-next-line prefer-const
  let io: CrmIO;
  const http = createHttpClient({
    baseUrl: connector.baseUrl(settings),
    timeoutMs: o.timeoutMs ?? 10_000,
    limiter,
    authorize: (req) => connector.authorize(io, settings, req),
    // The client may hand over the 401 answer (src/infra/http.ts); connectors read the vendor's code from it.
    onUnauthorized: (failed?: HttpResponse) => connector.onUnauthorized(io, settings, failed),
    onResponse: ({ status }) => {
      stats.requests++;
      const k = status === undefined ? 'network' : String(status);
      stats.byStatus[k] = (stats.byStatus[k] ?? 0) + 1;
      if (status === undefined || status >= 400) stats.errors++;
    },
  });
  io = {
    http,
    log,
    credentials,
    now: () => new Date(),
    cache: {
      get: (k) => o.redis.get(o.keys.cache(id, k)),
      set: async (k, v, ttl) => {
        await o.redis.set(o.keys.cache(id, k), v, 'EX', ttl);
      },
    },
    ...(coalescer ? { coalesce: (lane, spec, item) => coalescer.submit(lane, spec, item) } : {}),
  };

  let factsPromise: Promise<AccountFacts> | null = null;
  return {
    id,
    account: o.account,
    io,
    limiter,
    stats,
    ...(coalescer ? { coalescer } : {}),
    facts() {
      if (!factsPromise) {
        factsPromise = (async () => {
          const facts = await connector.inspect(io, settings);
          // Literal values go along (a directory id such as SOURCE_ID is checked against the live account too).
          const targets = (['lead', 'contact'] as const).flatMap((entity) =>
            Object.entries(o.account.mapping[entity].fields).map(([target, v]) => ({ entity, target, ...(typeof v === 'string' || typeof v === 'number' ? { value: String(v) } : {}) })),
          );
          if (facts.problems.length) {
            throw new ConfigError({ file: o.configFile ?? 'leadgate.yaml', key: `crm[${id}] (${connector.id})`, problem: facts.problems.join('; '), fix: 'see the messages above; then restart' });
          }
          const problems = connector.checkMapping(facts, targets);
          if (problems.length) {
            throw new ConfigError({ file: o.account.mapping.file, key: `crm ${id}`, problem: problems.join('; '), fix: 'correct the mapping or create the missing fields in the CRM, then restart' });
          }
          for (const w of facts.warnings) log.warn(w);
          return facts;
        })();
        factsPromise.catch(() => {
          factsPromise = null; // a CRM that was down at start-up is asked again on the next job
        });
      }
      return factsPromise;
    },
  };
}
