/**
 * Runs the pollers of `intake.mode: 'poll'` sources (IMAP mailboxes) inside worker processes. Every worker process
 * starts one runner; for each source a Redis lease keyed by what is polled (`poller.leaseKey`, e.g. the mailbox)
 * decides which process polls it, so two workers never read one mailbox at once, and another takes over within
 * one lease period when the holder dies.
 *
 * A poller hands each fetched item to `io.put`, which is the gateway's path: decode → eventId → the durable,
 * idempotent intake store. From there the pipeline is the same as for webhooks.
 */
import { createHash, randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { PollIO, PollerSpec, RawEvent } from '../sdk/index.ts';
import { parseWith } from '../sdk/decode.ts';
import type { ResolvedSource, RuntimeConfig } from '../config/load.ts';
import type { Keys } from '../infra/keys.ts';
import { createRedis } from '../infra/redis.ts';
import type { Mailer } from '../infra/mailer.ts';
import { createIntakeStore, type IntakeStore } from './enqueue.ts';
import { bodyHash, hashKey, QUEUE_INTAKE, toStoredRaw } from './queues.ts';
import { intakeJobOptions } from './worker.ts';

/** How long a lease lasts without renewal: the takeover time after a holder dies. @defaultValue 30 000 ms */
export const DEFAULT_LEASE_MS = 30_000;

const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

export interface PollRunner {
  /** Source ids this process polls right now (holds the lease). */
  active(): string[];
  close(): Promise<void>;
}

export interface PollRunnerOptions {
  config: RuntimeConfig;
  redisUrl: string;
  log: Logger;
  keys: Keys;
  env?: Readonly<Record<string, string | undefined>>;
  mailer?: Mailer;
  /** The store fetched items go to; default: the intake queue, like the gateway's. */
  intake?: IntakeStore;
  /** @defaultValue {@link DEFAULT_LEASE_MS} */
  leaseMs?: number;
}

export function pollSources(config: RuntimeConfig): ResolvedSource[] {
  return [...config.sources.values()].filter((s) => s.connector.intake.mode === 'poll' && s.connector.poller);
}

export function pollKeys(keys: Keys): { lease(leaseKey: string): string; state(sourceId: string): string; counter: string } {
  const h = (s: string): string => createHash('sha256').update(s).digest('base64url').slice(0, 22);
  return {
    lease: (k) => `${keys.prefix}:poll:lease:${h(k)}`,
    state: (id) => `${keys.prefix}:poll:state:${id}`,
    counter: keys.counter('poll'),
  };
}

/** Starts a loop per poll source; returns at once. Nothing to poll → a runner that does nothing. */
export function startPollRunner(o: PollRunnerOptions): PollRunner {
  const sources = pollSources(o.config);
  const env = o.env ?? process.env;
  const leaseMs = o.leaseMs ?? DEFAULT_LEASE_MS;
  const pk = pollKeys(o.keys);
  const log = o.log.child({ component: 'poller' });
  if (sources.length === 0) return { active: () => [], close: async () => undefined };

  const redis: Redis = createRedis(o.redisUrl, 'worker');
  let producer: Redis | undefined;
  let queue: Queue | undefined;
  let intake = o.intake;
  if (!intake) {
    const cfg = o.config.raw;
    producer = createRedis(o.redisUrl, 'worker');
    queue = new Queue(QUEUE_INTAKE, { connection: producer, prefix: cfg.redisPrefix, defaultJobOptions: intakeJobOptions(10) });
    queue.on('error', () => undefined);
    intake = createIntakeStore({ queue, redis: producer, keys: o.keys, ttlSec: Math.round(cfg.idempotencyTtlDays * 86_400), timeoutMs: Math.max(cfg.gateway.enqueueTimeoutMs, 5_000) });
  }
  const store = intake;

  const stop = new AbortController();
  const active = new Set<string>();
  const seen = new Map<string, string>();
  const loops: Promise<void>[] = [];
  for (const src of sources) {
    const spec = src.connector.poller as PollerSpec<unknown>;
    const leaseKey = spec.leaseKey(src.settings);
    const slog = log.child({ source: src.config.id });
    if (leaseKey === undefined) {
      slog.warn('poll source has no mailbox settings: not polled (see the connector README)');
      continue;
    }
    const other = seen.get(leaseKey);
    if (other) slog.warn({ other }, 'two sources poll the same mailbox: only one of them will run at a time');
    seen.set(leaseKey, src.config.id);
    loops.push(runSource(src, spec, leaseKey, slog));
  }

  async function runSource(src: ResolvedSource, spec: PollerSpec<unknown>, leaseKey: string, slog: Logger): Promise<void> {
    const lease = pk.lease(leaseKey);
    let failures = 0;
    while (!stop.signal.aborted) {
      const token = randomUUID();
      let got = false;
      try {
        got = (await redis.set(lease, token, 'PX', leaseMs, 'NX')) === 'OK';
      } catch (err) {
        slog.warn({ err: (err as Error).message }, 'poll lease: Redis unavailable');
      }
      if (!got) {
        await sleep(Math.floor(leaseMs / 3 + Math.random() * (leaseMs / 6)), stop.signal);
        continue;
      }
      const run = new AbortController();
      const onStop = (): void => run.abort();
      stop.signal.addEventListener('abort', onStop, { once: true });
      let renewedAt = Date.now();
      const renew = setInterval(() => {
        redis.eval(RENEW, 1, lease, token, String(leaseMs)).then(
          (ok) => {
            if (ok === 1) renewedAt = Date.now();
            else {
              slog.warn('poll lease lost to another process: stopping this poller');
              run.abort();
            }
          },
          () => {
            // Redis unreachable: once the lease may have expired, another process may be polling.
            if (Date.now() - renewedAt > leaseMs * 0.8) run.abort();
          },
        );
      }, Math.max(200, Math.floor(leaseMs / 3)));
      active.add(src.config.id);
      slog.info('polling (lease held by this process)');
      const started = Date.now();
      try {
        await spec.run(src.settings, pollIO(src, run.signal, slog));
      } catch (err) {
        slog.error({ err: (err as Error).message }, 'poller stopped with an error');
      } finally {
        clearInterval(renew);
        stop.signal.removeEventListener('abort', onStop);
        active.delete(src.config.id);
        await redis.eval(RELEASE, 1, lease, token).catch(() => undefined);
      }
      // A poller returning on its own (not aborted) is a fault: back off so it never spins.
      if (!stop.signal.aborted && !run.signal.aborted) {
        failures = Date.now() - started > 60_000 ? 1 : failures + 1;
        await sleep(Math.min(60_000, 1_000 * 2 ** Math.min(failures, 6)), stop.signal);
      }
    }
  }

  function pollIO(src: ResolvedSource, signal: AbortSignal, slog: Logger): PollIO {
    const stateKey = pk.state(src.config.id);
    return {
      log: slog,
      signal,
      env,
      put: (raw) => putRaw(store, src, raw),
      state: {
        get: (k) => redis.hget(stateKey, k),
        set: async (k, v) => {
          await redis.hset(stateKey, k, v);
        },
      },
      count(name, n = 1) {
        void redis.hincrby(pk.counter, `${src.config.id}:${name}`, n).catch(() => undefined);
      },
      alert(key, subject, text) {
        void o.mailer?.alert({ kind: `poll:${src.config.id}:${key}`, subject: `${src.config.name}: ${subject}`, text }).catch(() => undefined);
      },
    };
  }

  return {
    active: () => [...active],
    async close() {
      stop.abort();
      await Promise.allSettled(loops);
      await queue?.close().catch(() => undefined);
      producer?.disconnect();
      redis.disconnect();
    },
  };
}

/**
 * The gateway's path for a fetched item: decode → payload → eventId → durable, idempotent put. An item the
 * connector cannot read is stored all the same under the hash of its bytes: the intake worker then fails it
 * visibly (`leadgate jobs failed`), and the poller can mark it handled instead of fetching it forever. Only the
 * store's own failure (Redis unavailable) is thrown.
 */
export async function putRaw(store: IntakeStore, src: ResolvedSource, raw: RawEvent): Promise<'accepted' | 'duplicate'> {
  let eventId: string | undefined;
  try {
    const payload = parseWith(src.connector.payload, await src.connector.decode(raw));
    eventId = src.connector.eventId(payload, raw);
  } catch {
    // Any parse failure, not only InputError: one malformed message must never block its mailbox.
  }
  eventId ??= `sha256:${bodyHash(raw.body, raw.subPath)}`;
  return store.put({ sourceId: src.config.id, connector: src.connector.id, eventId, eventHash: hashKey(eventId), raw: toStoredRaw(raw) });
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
