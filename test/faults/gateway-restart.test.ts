/**
 * The gateway process (`node bin/leadgate.mjs gateway`) stopped and started again under load: once gracefully
 * (SIGTERM: in-flight requests finish), once SIGKILLed. Senders retry what was not answered 2xx (a refused
 * connection, a reset). Proves: nothing acknowledged is lost, a request whose answer was lost in the kill and is
 * sent again is not delivered twice, no 5xx is ever answered.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startAmoEmulator, type RunningAmoEmulator } from '../emulators/amocrm/start.ts';
import { cleanupPrefix, TEST_REDIS_URL, uniquePrefix } from '../support/redis.ts';
import { freePort } from '../support/redis-server.ts';
import { faultConfig, ids, QueueWatch, report, send, sleep, spawnLeadgate, tally, TOKEN_ENV, writeConfigFile, type LeadgateChild } from './support/fault-kit.ts';

const LEADS = 40;

describe('fault: gateway process restarted under load', () => {
  let emu: RunningAmoEmulator;
  let watch: QueueWatch;
  let prefix: string;
  let cfg: ReturnType<typeof writeConfigFile>;
  const procs = new Set<LeadgateChild>();
  afterEach(async () => {
    for (const p of procs) await p.stop();
    await watch?.close();
    await emu?.close();
    cfg?.remove();
    if (prefix) await cleanupPrefix(prefix);
  });

  it('SIGTERM then SIGKILL of the gateway mid-load → every lead once, no 5xx', async () => {
    emu = await startAmoEmulator();
    prefix = uniquePrefix();
    const port = await freePort();
    cfg = writeConfigFile(faultConfig({ prefix, crmUrl: emu.url, port }));
    const env = { [TOKEN_ENV]: emu.token };
    const start = async (role: 'gateway' | 'worker'): Promise<LeadgateChild> => {
      const p = await spawnLeadgate(role, { configFile: cfg.file, redisUrl: TEST_REDIS_URL, env });
      procs.add(p);
      return p;
    };
    watch = new QueueWatch(TEST_REDIS_URL, prefix);
    await start('worker');
    let gw = await start('gateway');

    const wanted = ids('gr', LEADS);
    const base = `http://127.0.0.1:${port}`;
    const down: { signal: string; from: number; to: number }[] = [];
    const load = send({ ids: wanted, baseUrl: () => base, concurrency: 4, gapMs: 300, retry: true, retryAfterMs: 200, deadline: Date.now() + 90_000 });
    for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
      await sleep(1_000);
      const from = Date.now();
      await gw.stop(signal);
      procs.delete(gw);
      gw = await start('gateway');
      down.push({ signal, from, to: Date.now() });
    }
    const sent = await load;
    const final = await watch.drained(120_000);
    const failed = await watch.failedReasons();
    const t = tally(emu, wanted);
    const fiveXx = sent.attempts.filter((a) => a.status >= 500);
    const refused = sent.attempts.filter((a) => a.status === 0);
    report('gateway SIGTERM + SIGKILL under load', {
      sent: LEADS,
      send: sent,
      tally: t,
      emu,
      figures: {
        'gateway down': down.map((d) => `${d.signal} ${d.to - d.from} ms`).join(', '),
        'transport errors (retried)': refused.length,
        '5xx answers': fiveXx.length,
        'failed jobs': failed.length,
        final,
      },
    });
    expect(refused.length).toBeGreaterThan(0); // the restarts really happened under load
    expect(sent.acked.size).toBe(LEADS);
    expect(fiveXx).toEqual([]);
    expect(failed).toEqual([]);
    expect(t.missing).toEqual([]);
    expect(t.duplicated).toEqual([]);
    expect(t.strayLeads).toBe(0);
    expect(t.once).toHaveLength(LEADS);
  });
});
