import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { IntakeUnavailableError } from '../sdk/errors.ts';
import type { Keys } from '../infra/keys.ts';
import { fixedWindowLua } from '../infra/limiter.ts';
import { waitReady, withTimeout } from '../infra/redis.ts';
import { createOneTripAdd, type OneTripAdd, type PreludeLua } from './intake-add.ts';
import type { StoredEvent } from './queues.ts';

/** A per-client, per-source request budget at the gateway, counted in Redis (shared by every gateway process). */
export interface IntakeBudget {
  sourceId: string;
  /** Who is counted within the source: the client IP. */
  client: string;
  /** Requests per window; the window is fixed (resets every `windowMs`). */
  max: number;
  /** @defaultValue 60 000 */
  windowMs?: number;
  /** Requests per window from this client over ALL sources (`gateway.rateLimitPerMinute`); unset → no such limit. */
  clientMax?: number;
}

/** The client spent its budget: answer 429 with Retry-After. */
export class RateLimitedError extends Error {
  constructor(readonly retryAfterMs: number) {
    super(`rate limit exceeded, retry in ${Math.ceil(retryAfterMs / 1000)} s`);
    this.name = 'RateLimitedError';
  }
}

export interface IntakeStore {
  /**
   * Durably stores the event once. Resolves only when Redis has it; throws IntakeUnavailableError otherwise, and
   * RateLimitedError (nothing stored) when `budget` is given and spent.
   */
  put(ev: StoredEvent, budget?: IntakeBudget): Promise<'accepted' | 'duplicate'>;
  /** Counts a request that stores nothing (rejected, handshake) against the budget: 0 = within it, else ms to wait. */
  charge?(budget: IntakeBudget): Promise<number>;
  ping(): Promise<boolean>;
}

/**
 * One round trip before the add: the request counter and the duplicate check. An event is a duplicate when its
 * idempotency marker exists (written by the intake worker, kept `idempotencyTtlDays`) or its intake job still
 * exists (waiting, active, failed, or completed within the queue's retention). The marker is written by the worker,
 * not here, because the job itself answers for the event until the worker has seen it: from then on the marker
 * does, and the job is removed only after that. KEYS: marker, job hash, source+client counter, client counter.
 * ARGV: source+client max, window ms, client max, window ms (a max of 0 = no limit).
 */
const CHECK_SCRIPT = `${fixedWindowLua(3, 1)}${fixedWindowLua(4, 3)}
if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('EXISTS', KEYS[2]) == 1 then return 1 end
return 0`;

/** The same check as a prelude to BullMQ's add script (intake-add.ts): its keys and arguments come after BullMQ's. */
const checkPrelude: PreludeLua = (k, a) => `-- leadgate: the intake check (enqueue.ts), then BullMQ's addStandardJob
${fixedWindowLua(k + 3, a + 1, (ms) => `{2, ${ms}}`)}${fixedWindowLua(k + 4, a + 3, (ms) => `{2, ${ms}}`)}
if redis.call('EXISTS', KEYS[${k + 1}]) == 1 or redis.call('EXISTS', KEYS[${k + 2}]) == 1 then return {1} end`;

/** The same two counters for a request that stores nothing (rejected, handshake). KEYS: source+client, client. */
const CHARGE_SCRIPT = `${fixedWindowLua(1, 1)}${fixedWindowLua(2, 3)}
return 0`;

type CheckingRedis = Redis & {
  leadgateIntakeCheck(marker: string, job: string, counter: string, clientCounter: string, max: string, windowMs: string, clientMax: string, clientWindowMs: string): Promise<number>;
  leadgateIntakeCharge(counter: string, clientCounter: string, max: string, windowMs: string, clientMax: string, clientWindowMs: string): Promise<number>;
};

/** `<prefix>:rl:hooks:<source>:<client>`: in the prefix's hash slot, like every key the hub owns. */
const counterKey = (keys: Keys, b: IntakeBudget): string => `${keys.prefix}:rl:hooks:${b.sourceId}:${b.client}`;
/** `<prefix>:rl:client:<client>`: the client's requests over every source. */
const clientKey = (keys: Keys, b: IntakeBudget): string => `${keys.prefix}:rl:client:${b.client}`;
/** The script arguments of a budget: counters, then max/window pairs (0 = no limit). */
function budgetArgs(keys: Keys, b: IntakeBudget | undefined, noLimit: string): { counters: [string, string]; argv: [string, string, string, string] } {
  if (!b) return { counters: [noLimit, noLimit], argv: ['0', '60000', '0', '60000'] };
  const win = String(b.windowMs ?? 60_000);
  return { counters: [counterKey(keys, b), clientKey(keys, b)], argv: [String(b.max), win, String(b.clientMax ?? 0), win] };
}

/** The intake job's id for an event: BullMQ collapses concurrent adds of the same id into one job. */
export const intakeJobId = (ev: Pick<StoredEvent, 'sourceId' | 'eventHash'>): string => `${ev.sourceId}.${ev.eventHash}`;

/**
 * Per event: the check (limit + duplicate) and BullMQ's add of the job under the event's job id, in one Lua call
 * (intake-add.ts); where the installed BullMQ does not fit that, the check script then `queue.add` — two round
 * trips, where a concurrent duplicate that passed the check together with the first collapses into the same job
 * id. A crash after the add leaves a job that the worker marks. The reverse order (marker before the job) could
 * lose an event.
 */
export function createIntakeStore(o: {
  queue: Queue;
  redis: Redis;
  keys: Keys;
  /** The idempotency window. Not used here since the worker writes the marker (with the same setting); kept for callers. */
  ttlSec: number;
  timeoutMs: number;
  /** The connection of the one-round-trip add (see intake-add.ts); default `redis`. */
  addRedis?: Redis;
  /** Told once which path the gateway takes (a BullMQ that does not fit the one-round-trip add is worth a warning). */
  log?: { info(o: object, msg: string): void; warn(o: object, msg: string): void };
  /** false: always the two-round-trip path (check script, then `queue.add`); for tests comparing both. */
  oneRoundTrip?: boolean;
}): IntakeStore {
  const redis = o.redis as CheckingRedis;
  // defineCommand: EVALSHA with a fallback to EVAL after a script flush or failover (and per node on Cluster).
  if (typeof redis.leadgateIntakeCheck !== 'function') redis.defineCommand('leadgateIntakeCheck', { numberOfKeys: 4, lua: CHECK_SCRIPT });
  if (typeof redis.leadgateIntakeCharge !== 'function') redis.defineCommand('leadgateIntakeCharge', { numberOfKeys: 2, lua: CHARGE_SCRIPT });
  const noLimit = `${o.keys.prefix}:rl:none`;
  // The one-round-trip path, known once BullMQ has registered its scripts (null: this BullMQ does not fit it).
  let oneTrip: Promise<OneTripAdd | null> | undefined;
  const oneTripAdd = (): Promise<OneTripAdd | null> =>
    (oneTrip ??= o.queue.waitUntilReady().then(
      () => {
        const add = o.oneRoundTrip === false ? null : createOneTripAdd(o.queue, o.addRedis ?? o.redis, 'event', checkPrelude);
        if (add?.mode === 'template') o.log?.info({ intake: 'one-round-trip' }, 'intake: one Redis round trip per event');
        else if (o.oneRoundTrip !== false) o.log?.warn({ intake: add ? 'one-round-trip-captured' : 'two-round-trips' }, "intake: the installed BullMQ does not fit the one-round-trip add fully (see src/pipeline/intake-add.ts); events are stored correctly, more slowly");
        return add;
      },
      (err: unknown) => {
        oneTrip = undefined; // not ready (Redis down): decided again on the next event
        throw err;
      },
    ));

  /** `> 0`: ms until the budget resets (nothing stored). */
  async function store(ev: StoredEvent, budget: IntakeBudget | undefined): Promise<'accepted' | 'duplicate' | number> {
    const fast = await oneTripAdd();
    // Producer connections never queue commands offline; the one this event uses, if (re)connecting, is waited for
    // within the budget.
    const conn = fast ? (o.addRedis ?? o.redis) : o.redis;
    if (conn.status !== 'ready') await waitReady(conn, o.timeoutMs);
    const jobId = intakeJobId(ev);
    const { counters, argv } = budgetArgs(o.keys, budget, noLimit);
    if (fast) {
      const r = await fast.add(ev, jobId, [o.keys.idem(ev.sourceId, ev.eventHash), o.queue.toKey(jobId), ...counters], argv);
      return r.kind === 'added' ? 'accepted' : r.kind === 'duplicate' ? 'duplicate' : r.waitMs;
    }
    const check = Number(await redis.leadgateIntakeCheck(o.keys.idem(ev.sourceId, ev.eventHash), o.queue.toKey(jobId), ...counters, ...argv));
    if (check < 0) return -check;
    if (check === 1) return 'duplicate';
    await o.queue.add('event', ev, { jobId });
    return 'accepted';
  }

  return {
    async put(ev, budget) {
      let result: Awaited<ReturnType<typeof store>>;
      try {
        result = await withTimeout(store(ev, budget), o.timeoutMs, 'enqueue');
      } catch (err) {
        throw new IntakeUnavailableError((err as Error).message);
      }
      if (typeof result === 'number') throw new RateLimitedError(result);
      return result;
    },
    async charge(budget) {
      if (o.redis.status !== 'ready') await waitReady(o.redis, o.timeoutMs);
      const { counters, argv } = budgetArgs(o.keys, budget, noLimit);
      return Math.abs(Number(await withTimeout(redis.leadgateIntakeCharge(...counters, ...argv), o.timeoutMs, 'rate limit')));
    },
    async ping() {
      try {
        return (await withTimeout(o.redis.ping(), o.timeoutMs, 'ping')) === 'PONG';
      } catch {
        return false;
      }
    },
  };
}

/**
 * Written by the intake worker when it first sees an event (src/pipeline/intake.processor.ts): from then on the
 * marker, not the job, tells the gateway that a redelivery is a duplicate, for the whole idempotency window.
 */
export async function markSeen(redis: Redis, keys: Keys, ev: Pick<StoredEvent, 'sourceId' | 'eventHash'>, ttlSec: number): Promise<void> {
  await redis.set(keys.idem(ev.sourceId, ev.eventHash), Date.now().toString(), 'EX', ttlSec);
}
