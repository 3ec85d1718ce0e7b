/**
 * Prometheus metrics of one Leadgate process (prom-client, a registry of its own, never the global one).
 *
 * Every process exposes its own numbers, the ordinary Prometheus way: the gateway at `GET /metrics`, a
 * `leadgate worker` on its own small port (`LEADGATE_METRICS_PORT`), `leadgate start` both on the gateway's.
 * Prometheus scrapes each instance; dashboards `sum()` counters over instances. Queue gauges are read from Redis,
 * so every instance reports the same value: aggregate them with `max()`, never `sum()`.
 *
 * Labels hold only configured ids (channel, source, account, queue) — never anything from a request: an unknown
 * source in a URL is counted as `(unknown)`, so a scanner cannot grow the label set.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { withTimeout } from './redis.ts';

export type IntakeResult = 'accepted' | 'duplicate' | 'handshake' | 'rejected' | 'unavailable';

export interface AccountStatsSource {
  id: string;
  crm: string;
  stats: { requests: number; errors: number; byStatus: Record<string, number> };
  /** Rate-limit slots given up because the request could not leave soon enough (RedisLimiter.stale). */
  staleSlots?: number;
}

export interface Metrics {
  registry: Registry;
  contentType: string;
  /** Gateway: the outcome of one request at `/hooks` (buildApp's `onIntake`). */
  onIntake(e: { sourceId: string; channel: string; result: IntakeResult; status: number }): void;
  /** Worker: one outcome finished (`WorkerContext.onDelivered`): delivered, skipped (call not final yet), ignored, or logged (no CRM). */
  onOutcome(e: { deliveryKey: string; kind: string; accountId?: string; reason?: string; receipt?: unknown }): void;
  /** Worker: a delivery is in the CRM; `receivedAt` is when the gateway took the event. */
  observeDelivery(e: { accountId: string; kind: string; receivedAt: string; now?: number }): void;
  /** Worker: a job attempt failed; `final` when it went to the failed set. */
  jobFailed(queue: string, final: boolean): void;
  /** Worker: a lead-ledger write failed (`op`: intake, delivered, failed, call…); the delivery went on without it. */
  ledgerError(op: string): void;
  /** Queue depth and oldest job age, read from Redis at scrape time. */
  trackQueues(o: { connection: Redis; prefix: string; names: readonly string[] }): void;
  /** CRM request counters of this process's account runtimes, read at scrape time. */
  trackAccounts(accounts: () => Iterable<AccountStatsSource>): void;
  render(): Promise<string>;
  close(): Promise<void>;
}

/** Seconds from "received at the gateway" to "in the CRM". A second is the promise; minutes mean a CRM outage. */
const LATENCY_BUCKETS = [0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600, 21600];
const QUEUE_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'failed', 'completed'] as const;

export function createMetrics(o: {
  role: 'gateway' | 'worker' | 'start';
  /** Configured sources: id → channel. Anything else is labelled `(unknown)`. */
  sources: ReadonlyMap<string, { channel: string }>;
  /** Process metrics (CPU, memory, event-loop lag). @defaultValue true */
  defaultMetrics?: boolean;
}): Metrics {
  const registry = new Registry();
  registry.setDefaultLabels({ role: o.role });
  if (o.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: 'leadgate_' });

  const label = (sourceId: string): { channel: string; source: string } => {
    const s = o.sources.get(sourceId);
    return s ? { channel: s.channel, source: sourceId } : { channel: '(unknown)', source: '(unknown)' };
  };

  const events = new Counter({
    name: 'leadgate_events_total',
    help: 'Requests at /hooks by outcome: accepted (stored), duplicate, handshake, rejected (4xx), unavailable (503)',
    labelNames: ['channel', 'source', 'result'] as const,
    registers: [registry],
  });
  const outcomes = new Counter({
    name: 'leadgate_outcomes_total',
    help: 'Normalised outcomes finished by workers: delivered (in the CRM), skipped (call not final yet), ignored (robot, test ping…), logged (no CRM)',
    labelNames: ['channel', 'source', 'kind', 'result', 'reason'] as const,
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'leadgate_delivery_latency_seconds',
    help: 'Received at the gateway → written to the CRM, per delivered outcome',
    labelNames: ['account', 'kind'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const ledgerErrors = new Counter({
    name: 'leadgate_ledger_errors_total',
    help: 'Lead-ledger writes that failed or timed out, by operation; deliveries go on without them (see the worker log)',
    labelNames: ['op'] as const,
    registers: [registry],
  });
  const failed = new Counter({
    name: 'leadgate_job_failures_total',
    help: 'Failed job attempts; final="true" when the job went to the failed set (see `leadgate jobs failed`)',
    labelNames: ['queue', 'final'] as const,
    registers: [registry],
  });

  let accountSource: (() => Iterable<AccountStatsSource>) | null = null;
  new Counter({
    name: 'leadgate_crm_requests_total',
    help: 'HTTP requests to CRM accounts by status ("network" = no answer: timeout, reset, refused)',
    labelNames: ['account', 'crm', 'status'] as const,
    registers: [registry],
    collect() {
      if (!accountSource) return;
      this.reset();
      for (const a of accountSource()) for (const [status, n] of Object.entries(a.stats.byStatus)) this.inc({ account: a.id, crm: a.crm, status }, n);
    },
  });
  /** A per-account counter read from the worker's own tallies at scrape time. */
  const accountCounter = (name: string, help: string, valueOf: (a: AccountStatsSource) => number): void => {
    new Counter({
      name,
      help,
      labelNames: ['account', 'crm'] as const,
      registers: [registry],
      collect() {
        if (!accountSource) return;
        this.reset();
        for (const a of accountSource()) this.inc({ account: a.id, crm: a.crm }, valueOf(a));
      },
    });
  };
  accountCounter('leadgate_crm_errors_total', 'CRM requests that failed (4xx, 5xx or no answer); 429s are in leadgate_crm_requests_total{status="429"}', (a) => a.stats.errors);
  accountCounter('leadgate_crm_stale_slots_total', 'Rate-limit slots given up because the request could not leave within the guard after its grant (a busy event loop: give the worker more CPU)', (a) => a.staleSlots ?? 0);

  const tracked: { queues: Queue[]; timeoutMs: number }[] = [];
  const trackedPrefixes = new Set<string>();
  new Gauge({
    name: 'leadgate_queue_jobs',
    help: 'Jobs per queue and state, read from Redis (same value on every instance: aggregate with max)',
    labelNames: ['queue', 'state'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const t of tracked) {
        for (const q of t.queues) {
          const c = await withTimeout(q.getJobCounts(...QUEUE_STATES), t.timeoutMs, 'queue counts').catch(() => null);
          if (c) for (const s of QUEUE_STATES) this.set({ queue: q.name, state: s }, c[s] ?? 0);
        }
      }
    },
  });
  new Gauge({
    name: 'leadgate_queue_oldest_job_age_seconds',
    help: 'Age of the oldest job not finished yet (waiting, delayed for retry, or active); 0 when none',
    labelNames: ['queue'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      const now = Date.now();
      for (const t of tracked) {
        for (const q of t.queues) {
          const oldest = await withTimeout(oldestTimestamp(q), t.timeoutMs, 'oldest job').catch(() => undefined);
          if (oldest !== undefined) this.set({ queue: q.name }, oldest === null ? 0 : Math.max(0, (now - oldest) / 1000));
        }
      }
    },
  });

  return {
    registry,
    contentType: registry.contentType,
    onIntake(e) {
      events.inc({ ...label(e.sourceId), result: e.result });
    },
    onOutcome(e) {
      const sourceId = e.deliveryKey.split('.')[0] ?? '';
      const result = e.kind === 'ignored' ? 'ignored' : !e.accountId ? 'logged' : isSkipped(e.receipt) ? 'skipped' : 'delivered';
      outcomes.inc({ ...label(sourceId), kind: e.kind, result, reason: e.kind === 'ignored' ? (e.reason ?? 'unknown') : '' });
    },
    observeDelivery(e) {
      const received = Date.parse(e.receivedAt);
      if (!Number.isFinite(received)) return;
      latency.observe({ account: e.accountId, kind: e.kind }, Math.max(0, ((e.now ?? Date.now()) - received) / 1000));
    },
    jobFailed(queue, final) {
      failed.inc({ queue, final: String(final) });
    },
    ledgerError(op) {
      ledgerErrors.inc({ op });
    },
    trackQueues(t) {
      if (trackedPrefixes.has(t.prefix)) return; // `leadgate start`: the gateway and the workers share one registry
      trackedPrefixes.add(t.prefix);
      const queues = t.names.map((n) => new Queue(n, { connection: t.connection, prefix: t.prefix }));
      for (const q of queues) q.on('error', () => undefined); // a Redis outage shows as missing samples, not stderr noise
      tracked.push({ queues, timeoutMs: 1_000 });
    },
    trackAccounts(fn) {
      accountSource = fn;
    },
    render: () => registry.metrics(),
    async close() {
      for (const t of tracked.splice(0)) for (const q of t.queues) await q.close().catch(() => undefined);
    },
  };
}

/** Creation time of the oldest unfinished job: the tail of `wait`, the head of `active` and the oldest `delayed`. */
async function oldestTimestamp(q: Queue): Promise<number | null> {
  const picks = await Promise.all([q.getJobs(['wait', 'prioritized'], 0, 0, true), q.getJobs(['active'], 0, 99, true), q.getJobs(['delayed'], 0, 199, true)]);
  let oldest: number | null = null;
  for (const job of picks.flat()) if (job && (oldest === null || job.timestamp < oldest)) oldest = job.timestamp;
  return oldest;
}

export function isSkipped(receipt: unknown): boolean {
  return typeof receipt === 'object' && receipt !== null && 'skipped' in receipt;
}
