import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { CallRecord } from '../sdk/crm.ts';
import { CallEventSchema } from '../sdk/lead.ts';
import { isFinal, type MergedCallRecord } from '../domain/call-merge.ts';
import type { Keys } from '../infra/keys.ts';
import type { DeliverJob } from './queues.ts';
import type { WorkerContext } from './context.ts';

/**
 * Finalises calls whose final event never came (Sipuni's event 2 is sometimes never sent, a PBX agent dies
 * mid-call), so no missed call goes without its callback task and no conversation without its note.
 *
 * `call.processor.ts` keeps every unfinished call in a sorted set scored by its latest event's receive time.
 * One worker process at a time (the holder of a Redis lease) looks for calls quiet for longer than
 * `telephony.sweeper.ringingTimeoutSec` (nobody answered: closed as missed) or `answeredTimeoutSec` (someone
 * talked: closed with status unknown), and enqueues a synthetic call-level `ended` event for each. The merge is
 * order-independent, so a real end event arriving later still only adds what it knows (never a second note).
 */
export function openCallsKey(keys: Keys): string {
  return `${keys.prefix}:calls:open`;
}

export function openCallMember(accountId: string, callHash: string): string {
  return `${accountId}|${callHash}`;
}

// Renews the lease only if we still hold it.
const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

/** A Redis lease: at most one holder at a time; a holder that dies loses it after `ttlMs`. */
export class RedisLease {
  private readonly token = randomUUID();
  private held = false;
  constructor(
    private readonly redis: Redis,
    private readonly key: string,
    private readonly ttlMs: number,
  ) {}

  /** Takes or renews the lease; false when another process holds it. */
  async hold(): Promise<boolean> {
    if (this.held) {
      this.held = Number(await this.redis.eval(RENEW, 1, this.key, this.token, String(this.ttlMs))) === 1;
      if (this.held) return true;
    }
    this.held = (await this.redis.set(this.key, this.token, 'PX', this.ttlMs, 'NX')) === 'OK';
    return this.held;
  }

  async release(): Promise<void> {
    if (this.held) await this.redis.eval(RELEASE, 1, this.key, this.token).catch(() => undefined);
    this.held = false;
  }
}

/** The event that closes a call nobody finished: missed when nobody talked, else status unknown. */
export function sweepEvent(rec: CallRecord, lastEventAt: Date, callHash: string): ReturnType<typeof CallEventSchema.parse> {
  const answered = (rec as Partial<MergedCallRecord>).merge?.answered ?? rec.state === 'answered';
  const at = lastEventAt.toISOString();
  return CallEventSchema.parse({
    source: rec.source,
    externalId: `sweeper:${callHash}`,
    provider: rec.provider,
    providerCallId: rec.providerCallId,
    kind: 'ended',
    direction: rec.direction,
    status: answered ? 'unknown' : 'missed',
    endedAt: at,
    occurredAt: at,
  });
}

export interface CallSweeper {
  /** One pass (whether or not this process holds the lease); returns the calls finalised. */
  sweepOnce(now?: Date): Promise<number>;
  stop(): Promise<void>;
}

export function startCallSweeper(ctx: WorkerContext, o: { log?: WorkerContext['log'] } = {}): CallSweeper {
  const cfg = ctx.config.raw.telephony.sweeper;
  const everyMs = Math.round(cfg.everySec * 1000);
  const lease = new RedisLease(ctx.redis, ctx.keys.lock('call-sweeper'), Math.max(3 * everyMs, 1_000));
  const log = (o.log ?? ctx.log).child({ component: 'call-sweeper' });
  const key = openCallsKey(ctx.keys);

  async function sweepOnce(now = new Date()): Promise<number> {
    const nowMs = now.getTime();
    const minQuietMs = Math.min(cfg.ringingTimeoutSec, cfg.answeredTimeoutSec) * 1000;
    const due = await ctx.redis.zrangebyscore(key, '-inf', nowMs - minQuietMs, 'WITHSCORES', 'LIMIT', 0, 500);
    let finalised = 0;
    for (let i = 0; i < due.length; i += 2) {
      const member = due[i]!;
      const lastMs = Number(due[i + 1]);
      const [accountId, callHash] = member.split('|');
      if (!accountId || !callHash) {
        await ctx.redis.zrem(key, member);
        continue;
      }
      const raw = await ctx.redis.get(ctx.keys.call(accountId, callHash));
      const rec = raw ? (JSON.parse(raw) as MergedCallRecord) : null;
      if (!rec || isFinal(rec)) {
        await ctx.redis.zrem(key, member);
        continue;
      }
      const answered = rec.merge?.answered ?? rec.state === 'answered';
      if (nowMs - lastMs < (answered ? cfg.answeredTimeoutSec : cfg.ringingTimeoutSec) * 1000) continue;
      const ev = sweepEvent(rec, new Date(lastMs), callHash);
      const data: DeliverJob = { accountId, sourceId: rec.source.sourceId, deliveryKey: `sweep.${callHash}`, receivedAt: now.toISOString(), outcome: { kind: 'call', call: ev } };
      // Enqueued before the member is dropped: a crash in between sweeps it again, and the job id collapses the copy.
      await ctx.deliverQueue.add('call', data, { jobId: data.deliveryKey });
      await ctx.redis.zrem(key, member);
      finalised++;
      log.info({ account: accountId, call: callHash, answered, quietSec: Math.round((nowMs - lastMs) / 1000) }, 'call never finished: closed by the sweeper');
    }
    return finalised;
  }

  let stopped = false;
  let busy = false;
  let running: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    if (stopped || busy) return; // a slow pass is never overlapped by the next one
    busy = true;
    running = (async () => {
      try {
        if (await lease.hold()) await sweepOnce();
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'call sweep failed; next pass retries');
      } finally {
        busy = false;
      }
    })();
  }, everyMs);
  timer.unref();

  return {
    sweepOnce,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running.catch(() => undefined);
      await lease.release();
    },
  };
}
