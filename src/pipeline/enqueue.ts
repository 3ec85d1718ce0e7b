import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { IntakeUnavailableError } from '../sdk/errors.ts';
import type { Keys } from '../infra/keys.ts';
import { waitReady, withTimeout } from '../infra/redis.ts';
import type { StoredEvent } from './queues.ts';

export interface IntakeStore {
  /** Durably stores the event once. Resolves only when Redis has it; throws IntakeUnavailableError otherwise. */
  put(ev: StoredEvent): Promise<'accepted' | 'duplicate'>;
  ping(): Promise<boolean>;
}

/**
 * Order matters: the job is added first (BullMQ jobId = the event key, so concurrent duplicates collapse),
 * and only then is the idempotency key written. A crash between the two means a redelivery is enqueued
 * again, which the worker's step journal turns into a no-op; the reverse order could lose an event.
 */
export function createIntakeStore(o: { queue: Queue; redis: Redis; keys: Keys; ttlSec: number; timeoutMs: number }): IntakeStore {
  return {
    async put(ev) {
      const idemKey = o.keys.idem(ev.sourceId, ev.eventHash);
      try {
        return await withTimeout(
          (async () => {
            // The producer connection never queues commands offline; a (re)connecting one is waited for within the budget.
            if (o.redis.status !== 'ready') await waitReady(o.redis, o.timeoutMs);
            if ((await o.redis.exists(idemKey)) === 1) return 'duplicate' as const;
            await o.queue.add('event', ev, { jobId: `${ev.sourceId}.${ev.eventHash}` });
            await o.redis.set(idemKey, Date.now().toString(), 'EX', o.ttlSec);
            return 'accepted' as const;
          })(),
          o.timeoutMs,
          'enqueue',
        );
      } catch (err) {
        throw new IntakeUnavailableError((err as Error).message);
      }
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
