/**
 * Worker processes SIGKILLed again and again while they deliver: every acknowledged lead reaches the CRM exactly
 * once. A killed worker's job is reclaimed by BullMQ's stalled check once its lock expires; the step journal
 * (intent + recover) keeps the second run from writing twice.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { startAmoEmulator, type RunningAmoEmulator } from '../emulators/amocrm/start.ts';
import { startHarness, type Harness } from '../support/harness.ts';
import { killHard, spawnWorker } from '../support/child-workers.ts';
import { faultConfig, ids, QueueWatch, report, send, sleep, tally, TOKEN_ENV } from './support/fault-kit.ts';

const LEADS = 30;
const KILLS = 6;

describe('fault: worker processes SIGKILLed during delivery', () => {
  let emu: RunningAmoEmulator;
  let h: Harness;
  let watch: QueueWatch;
  const children = new Set<ChildProcess>();
  afterEach(async () => {
    for (const c of children) await killHard(c);
    await watch?.close();
    await h?.close();
    await emu?.close();
  });

  it(`${KILLS} kills while ${LEADS} leads are delivered → each lead in the CRM once`, async () => {
    emu = await startAmoEmulator();
    emu.faults.setLatency(150); // each CRM call takes a while, so kills land inside calls
    const base = faultConfig({ crmUrl: emu.url, concurrency: 4 });
    h = await startHarness({ config: base, env: { [TOKEN_ENV]: emu.token }, workers: false });
    watch = new QueueWatch(h.redisUrl, h.prefix);
    const childConfig = { ...base, redisPrefix: h.prefix };
    const spawn = async (): Promise<ChildProcess> => {
      const c = await spawnWorker({ config: childConfig, redisUrl: h.redisUrl, env: { [TOKEN_ENV]: emu.token }, concurrency: 4 });
      children.add(c);
      return c;
    };

    const wanted = ids('wk', LEADS);
    const sent = await send({ ids: wanted, baseUrl: () => h.gateway.url, concurrency: 4 });
    expect(sent.acked.size).toBe(LEADS);

    const t0 = Date.now();
    // Count takeovers: a job whose worker died is "stalled" once its lock expires, then run again elsewhere.
    let stalled = 0;
    const eventsConn = new Redis(h.redisUrl, { maxRetriesPerRequest: null });
    const events = new QueueEvents('deliver', { connection: eventsConn, prefix: h.prefix });
    events.on('stalled', () => void stalled++);
    await events.waitUntilReady();
    // Two workers at a time; each round kills the older one while a replacement starts, so kills land mid-delivery.
    const live: Promise<ChildProcess>[] = [spawn(), spawn()];
    await Promise.all(live);
    const activeAtKill: number[] = [];
    for (let k = 0; k < KILLS; k++) {
      await sleep(800 + Math.floor(Math.random() * 1_200));
      const victim = await live.shift()!;
      activeAtKill.push((await watch.counts()).deliver?.active ?? 0);
      await killHard(victim);
      children.delete(victim);
      live.push(spawn());
    }
    await Promise.all(live);
    const killsDoneMs = Date.now() - t0;
    // Survivors finish; jobs of killed workers come back after their lock (lockDurationMs) through the stalled check.
    const final = await watch.drained(200_000);
    await events.close();
    eventsConn.disconnect();
    const failed = await watch.failedReasons();
    const t = tally(emu, wanted);
    report('worker SIGKILL ×' + KILLS, {
      sent: LEADS,
      send: sent,
      tally: t,
      emu,
      figures: { 'active jobs at kills': activeAtKill, 'jobs taken over (stalled)': stalled, 'kills done after': `${killsDoneMs} ms`, 'drained after': `${Date.now() - t0} ms`, 'failed jobs': failed.length, 'CRM requests': emu.stats.requests.length, 'max req/window': emu.stats.maxPerWindow, final },
    });
    expect(failed).toEqual([]);
    expect(t.missing).toEqual([]);
    expect(t.duplicated).toEqual([]);
    expect(t.strayLeads).toBe(0);
    expect(t.once).toHaveLength(LEADS);
    expect(stalled).toBeGreaterThan(0); // kills really interrupted deliveries
    expect(emu.stats.limitExceeded).toBe(false);
  });
});
