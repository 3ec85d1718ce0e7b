import type { Redis } from 'ioredis';
import type { StepJournal } from '../sdk/crm.ts';

/**
 * The step journal of one delivery, in a Redis hash. `<step>` holds the JSON result, `<step>:intent` the time a
 * write began. Kept as long as the idempotency window, so a redelivered event finds its finished steps.
 */
export function createJournal(redis: Redis, key: string, ttlSec: number, onStep?: (name: string, reused: boolean) => void): StepJournal {
  return {
    async step<T>(name: string, run: () => Promise<T>, opts?: { recover?: (intentAt: Date) => Promise<T | undefined> }): Promise<T> {
      const [saved, intent] = await redis.hmget(key, name, `${name}:intent`);
      if (saved !== null && saved !== undefined) {
        onStep?.(name, true);
        return JSON.parse(saved) as T;
      }
      if (intent && opts?.recover) {
        const found = await opts.recover(new Date(Number(intent)));
        if (found !== undefined) {
          await save(name, found);
          onStep?.(name, true);
          return found;
        }
      }
      await redis.multi().hset(key, `${name}:intent`, String(Date.now())).expire(key, ttlSec).exec();
      const result = await run();
      await save(name, result);
      onStep?.(name, false);
      return result;
    },
    async snapshot() {
      const all = await redis.hgetall(key);
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(all)) if (!k.endsWith(':intent')) out[k] = JSON.parse(v);
      return out;
    },
  };

  async function save(name: string, value: unknown): Promise<void> {
    await redis.multi().hset(key, name, JSON.stringify(value ?? null)).expire(key, ttlSec).exec();
  }
}
