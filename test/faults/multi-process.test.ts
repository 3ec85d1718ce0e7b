/**
 * Scale-out as an operator runs it: two `node bin/leadgate.mjs gateway` and two `node bin/leadgate.mjs worker`
 * processes on one Redis, leads posted to both gateways. Proves: the per-account limit (amoCRM: 7 requests per
 * second) holds across processes — it lives in Redis, not in process memory — and each lead lands once.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startAmoEmulator, type RunningAmoEmulator } from '../emulators/amocrm/start.ts';
import { cleanupPrefix, TEST_REDIS_URL, uniquePrefix } from '../support/redis.ts';
import { freePort } from '../support/redis-server.ts';
import { crmRate, faultConfig, ids, QueueWatch, report, send, spawnLeadgate, tally, TOKEN_ENV, writeConfigFile, type LeadgateChild } from './support/fault-kit.ts';

const LEADS = 40;

describe('fault: two gateways and two workers as separate processes', () => {
  let emu: RunningAmoEmulator;
  let watch: QueueWatch;
  let prefix: string;
  const files: { remove(): void }[] = [];
  const procs: LeadgateChild[] = [];
  afterEach(async () => {
    for (const p of procs) await p.stop('SIGTERM');
    await watch?.close();
    await emu?.close();
    for (const f of files) f.remove();
    if (prefix) await cleanupPrefix(prefix);
  });

  it('the 7 req/s account limit holds across processes; each lead once', async () => {
    emu = await startAmoEmulator();
    prefix = uniquePrefix();
    const ports = [await freePort(), await freePort()];
    const env = { [TOKEN_ENV]: emu.token };
    const cfgs = ports.map((port) => writeConfigFile(faultConfig({ prefix, crmUrl: emu.url, port, concurrency: 8 })));
    files.push(...cfgs);
    watch = new QueueWatch(TEST_REDIS_URL, prefix);
    const started = await Promise.all([
      spawnLeadgate('gateway', { configFile: cfgs[0]!.file, redisUrl: TEST_REDIS_URL, env }),
      spawnLeadgate('gateway', { configFile: cfgs[1]!.file, redisUrl: TEST_REDIS_URL, env }),
      spawnLeadgate('worker', { configFile: cfgs[0]!.file, redisUrl: TEST_REDIS_URL, env }),
      spawnLeadgate('worker', { configFile: cfgs[1]!.file, redisUrl: TEST_REDIS_URL, env }),
    ]);
    procs.push(...started);

    const wanted = ids('mp', LEADS);
    let n = 0;
    const t0 = Date.now();
    const sent = await send({ ids: wanted, baseUrl: () => `http://127.0.0.1:${ports[n++ % 2]}`, concurrency: 8 });
    const final = await watch.drained(150_000);
    const t1 = Date.now();
    const failed = await watch.failedReasons();
    const t = tally(emu, wanted);
    const seconds = [...emu.stats.perSecond.entries()].sort((a, b) => a[0] - b[0]).map(([, c]) => c);
    const rate = crmRate(emu, t0, t1);
    report('2 gateways + 2 workers (node bin/leadgate.mjs)', {
      sent: LEADS,
      send: sent,
      tally: t,
      emu,
      figures: {
        'CRM requests per second': seconds.join(' '),
        'max req in any 1 s window': `${emu.stats.maxPerWindow} (limit 7)`,
        '429 from CRM': emu.stats.count429,
        'average': `${rate.perSec.toFixed(2)} req/s, ${(LEADS / ((t1 - t0) / 1000)).toFixed(2)} leads/s`,
        'densest window (ms from its first arrival)': densest(emu.stats.requests.map((r) => r.at), 1_000),
        'failed jobs': failed.length,
        final,
      },
    });
    expect(sent.acked.size).toBe(LEADS);
    expect(failed).toEqual([]);
    expect(emu.stats.maxPerWindow).toBeLessThanOrEqual(7);
    expect(emu.stats.limitExceeded).toBe(false);
    expect(emu.stats.count429).toBe(0);
    expect(t.missing).toEqual([]);
    expect(t.duplicated).toEqual([]);
    expect(t.strayLeads).toBe(0);
    expect(t.once).toHaveLength(LEADS);
  });
});

/** The arrivals of the busiest 1 s window, as offsets from its first one: shows how a limit overrun happened. */
function densest(at: number[], windowMs: number): string {
  const xs = [...at].sort((a, b) => a - b);
  let best: number[] = [];
  for (let i = 0, j = 0; i < xs.length; i++) {
    while (xs[i]! - xs[j]! >= windowMs) j++;
    if (i - j + 1 > best.length) best = xs.slice(j, i + 1);
  }
  return best.map((x) => x - best[0]!).join(' ');
}
