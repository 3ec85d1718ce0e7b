/**
 * Cross-lead batching for one CRM account, living with the worker process.
 *
 * Concurrently active deliveries hand one write each to a lane (`/leads/complex`, Bitrix24 `batch`…). A lane sends
 * one request at a time: it first waits for the account's shared Redis rate-limit slot, THEN takes everything
 * pending (up to the vendor's limit) and sends it in ONE request under that slot. So a lone lead goes out at once,
 * and under saturation — when deliveries queue for slots anyway — batches grow by themselves, with no timer.
 *
 * Items live only in memory and only while their delivery awaits them; nothing is acknowledged before the vendor
 * answered, so a crash loses nothing (the delivery's journal `recover` finds a write a crashed batch made).
 * The limit still counts one slot per HTTP request, across every process: the slot taken here is handed to the
 * HTTP client through `SlotAwareLimiter`, which then does not take a second one.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Logger } from 'pino';
import type { BatchItemOutcome, BatchLane } from '../sdk/crm.ts';
import { RedisLimiter } from '../infra/limiter.ts';

/** Slots taken ahead for the request about to be sent in this async context. */
const preTaken = new AsyncLocalStorage<{ free: number; askedAt: number }>();

/**
 * The account's limiter as the HTTP client sees it: a request sent by a lane flush uses the slot the lane already
 * took; any further request in the same flush (a retry after a 401, a token refresh) takes its own.
 */
export class SlotAwareLimiter extends RedisLimiter {
  override async acquire(maxWaitMs?: number): Promise<number> {
    const s = preTaken.getStore();
    if (s && s.free > 0) {
      s.free -= 1;
      return s.askedAt;
    }
    return super.acquire(maxWaitMs);
  }
}

interface Pending<I> {
  item: I;
  weight: number;
  resolve(v: unknown): void;
  reject(e: unknown): void;
}

interface LaneState {
  spec: BatchLane<unknown, unknown>;
  pending: Pending<unknown>[];
  running: boolean;
}

export interface CoalescerStats {
  /** Requests sent by lanes. */
  requests: number;
  /** Items they carried. */
  items: number;
  /** Largest weight sent in one request. */
  maxWeight: number;
}

export interface Coalescer {
  submit<I, R>(lane: string, spec: BatchLane<I, R>, item: I): Promise<R>;
  stats: CoalescerStats;
}

/**
 * `slot` waits for one rate-limit slot of the account (RedisLimiter.acquire of the same limiter key) and may
 * resolve to when it was asked for (else: now), which the HTTP client checks before sending (RedisLimiter.stale).
 */
export function createCoalescer(o: { slot: () => Promise<number | void>; log?: Logger }): Coalescer {
  const lanes = new Map<string, LaneState>();
  const stats: CoalescerStats = { requests: 0, items: 0, maxWeight: 0 };

  async function drain(name: string, lane: LaneState): Promise<void> {
    try {
      while (lane.pending.length) {
        let askedAt: number;
        try {
          askedAt = (await preTaken.exit(() => o.slot())) ?? Date.now();
        } catch (err) {
          // No slot in time (or Redis away): every waiting delivery retries on its own schedule.
          for (const p of lane.pending.splice(0)) p.reject(err);
          return;
        }
        const batch = take(lane.pending, lane.spec.maxWeight);
        const weight = batch.reduce((n, p) => n + p.weight, 0);
        stats.requests += 1;
        stats.items += batch.length;
        stats.maxWeight = Math.max(stats.maxWeight, weight);
        let outcomes: BatchItemOutcome<unknown>[];
        try {
          outcomes = await preTaken.run({ free: 1, askedAt }, () => lane.spec.send(batch.map((p) => p.item)));
        } catch (err) {
          for (const p of batch) p.reject(err);
          continue;
        }
        if (batch.length > 1) o.log?.debug({ lane: name, items: batch.length, weight }, 'batched request');
        batch.forEach((p, i) => {
          const out = outcomes[i];
          if (!out) p.reject(new Error(`batch lane ${name}: the vendor's answer has no outcome for item ${i} of ${batch.length}`));
          else if (out.ok) p.resolve(out.value);
          else p.reject(out.error);
        });
      }
    } finally {
      lane.running = false;
    }
  }

  return {
    stats,
    submit<I, R>(name: string, spec: BatchLane<I, R>, item: I): Promise<R> {
      let lane = lanes.get(name);
      if (!lane) {
        lane = { spec: spec as BatchLane<unknown, unknown>, pending: [], running: false };
        lanes.set(name, lane);
      }
      const weight = Math.max(1, lane.spec.weight?.(item) ?? 1);
      if (weight > lane.spec.maxWeight) {
        // Too big to share a request: sent alone, the spec's send splits or refuses it.
        return lane.spec.send([item]).then(([out]) => {
          if (!out) throw new Error(`batch lane ${name}: no outcome for the item`);
          if (!out.ok) throw out.error;
          return out.value as R;
        });
      }
      const l = lane;
      const p = new Promise<R>((resolve, reject) => l.pending.push({ item, weight, resolve: resolve as (v: unknown) => void, reject }));
      if (!l.running) {
        l.running = true;
        void drain(name, l);
      }
      return p;
    },
  };
}

/** The oldest pending items that fit in `maxWeight` (at least one), in arrival order. */
function take<I>(pending: Pending<I>[], maxWeight: number): Pending<I>[] {
  let weight = 0;
  let n = 0;
  while (n < pending.length && (n === 0 || weight + pending[n]!.weight <= maxWeight)) {
    weight += pending[n]!.weight;
    n++;
  }
  return pending.splice(0, n);
}
