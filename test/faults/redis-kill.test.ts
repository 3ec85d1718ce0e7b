/**
 * The Redis process SIGKILLed during a burst of form posts, restarted from its AOF (`appendfsync everysec`,
 * the setting we ship). Proves: every request answered 2xx before the kill is delivered exactly once; every
 * request sent while Redis is down is answered 503, never 200; senders that retry get everything in.
 *
 * Why everysec is enough for this: Redis write()s the AOF buffer before it sends the replies of that event-loop
 * turn, so an acknowledged write sits in the OS page cache and survives the death of the redis-server process.
 * everysec only bounds what an OS crash or power cut loses (up to ~1 s of writes); to cover that too, run
 * `appendfsync always` (README "Durability"). The test cannot cut the power, so it does not claim that.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startAmoEmulator, type RunningAmoEmulator } from '../emulators/amocrm/start.ts';
import { startHarness, type Harness } from '../support/harness.ts';
import { PrivateRedis } from '../support/redis-server.ts';
import { faultConfig, ids, QueueWatch, report, send, sleep, tally, TOKEN_ENV, type SendResult } from './support/fault-kit.ts';

const LEADS = 48;

describe('fault: Redis SIGKILLed and restarted during a burst', () => {
  let emu: RunningAmoEmulator;
  let redis: PrivateRedis;
  let h: Harness;
  let watch: QueueWatch;
  afterEach(async () => {
    await watch?.close();
    await h?.close().catch(() => undefined);
    await redis?.destroy();
    await emu?.close();
  });

  it('2xx before the kill → delivered once; during the outage → 503 only', async () => {
    emu = await startAmoEmulator();
    redis = await PrivateRedis.create(true);
    await redis.start();
    h = await startHarness({ config: faultConfig({ crmUrl: emu.url }), env: { [TOKEN_ENV]: emu.token }, redisUrl: redis.url });
    h.redis.on('error', () => undefined); // the harness's helper connection: its reconnect errors are expected here
    watch = new QueueWatch(redis.url, h.prefix);

    const wanted = ids('rk', LEADS);
    const window = { killedAt: 0, restartAt: 0, upAt: 0 };
    // First pass: no retries, so "acknowledged before the kill" is exactly what the sender was told.
    const burst = send({ ids: wanted, baseUrl: () => h.gateway.url, concurrency: 4, gapMs: 80 });
    const chaos = (async () => {
      await sleep(700);
      await redis.kill('SIGKILL');
      window.killedAt = Date.now();
      await sleep(2_500);
      window.restartAt = Date.now();
      await redis.start();
      window.upAt = Date.now();
    })();
    const first: SendResult = await burst;
    await chaos;
    const ackedBeforeKill = first.attempts.filter((a) => a.status === 200 && a.answeredAt <= window.killedAt).map((a) => a.id);
    const duringOutage = first.attempts.filter((a) => a.sentAt >= window.killedAt && a.answeredAt <= window.restartAt);
    const falseOk = duringOutage.filter((a) => a.status !== 503);

    // Second pass: a sender retrying what was not acknowledged (as Tilda and PBXs do).
    const notAcked = wanted.filter((id) => !first.acked.has(id));
    const second = await send({ ids: notAcked, baseUrl: () => h.gateway.url, concurrency: 4, retry: true, deadline: Date.now() + 30_000 });
    const final = await watch.drained(120_000);
    const failed = await watch.failedReasons();
    const t = tally(emu, wanted);
    report('Redis SIGKILL + restart (AOF everysec)', {
      sent: LEADS,
      send: { attempts: [...first.attempts, ...second.attempts], acked: new Set([...first.acked, ...second.acked]) },
      tally: t,
      emu,
      figures: {
        'acked before the kill': ackedBeforeKill.length,
        'sent during outage': `${duringOutage.length} (503: ${duringOutage.length - falseOk.length}, other: ${falseOk.length})`,
        'outage': `${window.restartAt - window.killedAt} ms down, ${window.upAt - window.restartAt} ms to reload`,
        'retried after outage': `${notAcked.length} → acked ${second.acked.size}`,
        'failed jobs': failed.length,
        final,
      },
    });
    expect(ackedBeforeKill.length).toBeGreaterThan(5); // the kill really landed inside the burst
    expect(duringOutage.length).toBeGreaterThan(0);
    expect(falseOk).toEqual([]);
    expect(failed).toEqual([]);
    expect(t.missing.filter((id) => ackedBeforeKill.includes(id))).toEqual([]);
    expect(t.missing).toEqual([]);
    expect(t.duplicated).toEqual([]);
    expect(t.strayLeads).toBe(0);
    expect(t.once).toHaveLength(LEADS);
  });
});
