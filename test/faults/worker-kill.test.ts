/**
 * Worker processes SIGKILLed again and again while they deliver: every acknowledged lead reaches the CRM exactly
 * once. A killed worker's job is reclaimed by BullMQ's stalled check once its lock expires; the step journal
 * (intent + recover) keeps the second run from writing twice.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { startAmoEmulator, type RunningAmoEmulator } from '../emulators/amocrm/start.ts';
import { startHarness, type Harness } from '../support/harness.ts';
import { killHard, spawnWorker } from '../support/child-workers.ts';
import { faultConfig, ids, QueueWatch, report, send, sleep, tally, TOKEN_ENV } from './support/fault-kit.ts';

const LEADS = 24;
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
    const live = [await spawn(), await spawn()];
    const activeAtKill: number[] = [];
    for (let k = 0; k < KILLS; k++) {
      await sleep(1_200 + Math.floor(Math.random() * 1_500));
      const victim = live.shift()!;
      activeAtKill.push((await watch.counts()).deliver?.active ?? 0);
      await killHard(victim);
      children.delete(victim);
      live.push(await spawn());
    }
    const killsDoneMs = Date.now() - t0;
    // Survivors finish; jobs of killed workers come back after their lock (lockDurationMs) through the stalled check.
    const final = await watch.drained(200_000);
    const failed = await watch.failedReasons();
    const t = tally(emu, wanted);
    report('worker SIGKILL ×' + KILLS, {
      sent: LEADS,
      send: sent,
      tally: t,
      emu,
      figures: { 'active jobs at kills': activeAtKill, 'kills done after': `${killsDoneMs} ms`, 'drained after': `${Date.now() - t0} ms`, 'failed jobs': failed.length, 'CRM requests': emu.stats.requests.length, 'max req/window': emu.stats.maxPerWindow, final },
    });
    expect(failed).toEqual([]);
    expect(t.missing).toEqual([]);
    expect(t.duplicated).toEqual([]);
    expect(t.strayLeads).toBe(0);
    expect(t.once).toHaveLength(LEADS);
    expect(emu.stats.limitExceeded).toBe(false);
  });
});
