/**
 * `leadgate trace <event-id|phone|email> [--json] [--limit N] [--no-redis]`: one inquiry's path from the raw event
 * to the CRM card. Phones and e-mails are looked up by their normalised value (the ledger keeps only keyed hashes);
 * anything else is an event id: the sender's id, the event hash the gateway answered, a job id or a delivery key.
 */
import { Redis } from 'ioredis';
import { LedgerSchema } from '../config/schema.ts';
import type { CountryCode } from '../domain/phone.ts';
import { makeKeys } from '../infra/keys.ts';
import { withTimeout } from '../sdk/timeout.ts';
import { openLedger } from '../ledger/open.ts';
import { findTrace, formatTrace, journalIdOf, journalSteps, type JournalStep, type TraceResult } from '../ledger/trace.ts';
import { DEMO_PREFIX, loadRuntimeConfig } from '../runtime/load-runtime-config.ts';

const USAGE = 'usage: leadgate trace <event-id|phone|email> [--json] [--limit N] [--no-redis]\n';

export async function traceCommand(args: string[], out: NodeJS.WritableStream = process.stdout, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const flags = new Set(args.filter((a) => a.startsWith('--')));
  const limitAt = args.indexOf('--limit');
  const limit = limitAt >= 0 ? Number(args[limitAt + 1]) : 10;
  const positional = args.filter((a, i) => !a.startsWith('--') && !(limitAt >= 0 && i === limitAt + 1));
  const query = positional.join(' ').trim();
  if (!query || !Number.isInteger(limit) || limit < 1) {
    process.stderr.write(USAGE);
    return 2;
  }
  const config = loadRuntimeConfig(env);
  const ledgerCfg = config?.raw.ledger ?? LedgerSchema.parse({});
  if (!ledgerCfg.enabled) {
    process.stderr.write('The ledger is off (ledger.enabled: false in the config): nothing to trace.\n');
    return 1;
  }
  const store = await openLedger(ledgerCfg, env, config ? { configFile: config.file } : {});
  try {
    const region = (config?.defaultRegion ?? 'RU') as CountryCode;
    const result = await findTrace(store, query, region, limit);
    const journals = flags.has('--no-redis') ? new Map<string, JournalStep[] | null>() : await readJournals(result, config?.raw.redisPrefix ?? DEMO_PREFIX, env); // no config: only demo mode runs
    if (flags.has('--json')) out.write(JSON.stringify({ ...result, journals: Object.fromEntries(journals) }, null, 2) + '\n');
    else out.write(formatTrace(result, journals));
    return result.events.length ? 0 : 1;
  } finally {
    await store.close();
  }
}

/** Each delivery's step journal, while Redis still has it; Redis unreachable → no steps, said once. */
async function readJournals(t: TraceResult, prefix: string, env: NodeJS.ProcessEnv): Promise<Map<string, JournalStep[] | null>> {
  const out = new Map<string, JournalStep[] | null>();
  const ids = t.events.flatMap((e) => e.outcomes).map((o) => [o.delivery_key, journalIdOf(o)] as const).filter((x): x is readonly [string, string] => x[1] !== undefined);
  if (!ids.length) return out;
  const redis = new Redis(env.REDIS_URL ?? 'redis://127.0.0.1:6379', { lazyConnect: true, connectTimeout: 1_000, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  redis.on('error', () => undefined);
  const keys = makeKeys(prefix);
  try {
    await withTimeout(redis.connect(), 1_500, 'Redis connect');
    for (const [deliveryKey, id] of ids) {
      const hash = await withTimeout(redis.hgetall(keys.journal(id)), 1_500, 'journal read');
      out.set(deliveryKey, Object.keys(hash).length ? journalSteps(hash) : null);
    }
  } catch (err) {
    process.stderr.write(`(delivery steps not shown: Redis did not answer: ${(err as Error).message}; set REDIS_URL)\n`);
  } finally {
    redis.disconnect();
  }
  return out;
}
