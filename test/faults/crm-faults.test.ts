/**
 * A misbehaving CRM, between the hub and the amoCRM emulator a TCP fault proxy (support/tcp-fault-proxy.ts):
 * 1. a flaky CRM: 429s, 5xx, hung requests, connections reset before the request, and — the nasty one — the
 *    write done by the CRM but its answer lost (reset or never delivered). Nothing lost, nothing doubled.
 * 2. a long outage in compressed time (backoff capped at 2 s): leads keep arriving while every connection is
 *    reset; after recovery the backlog drains at the account's rate limit, never above it, nothing doubled.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startAmoEmulator, type RunningAmoEmulator } from '../emulators/amocrm/start.ts';
import { startHarness, type Harness } from '../support/harness.ts';
import { startTcpFaultProxy, type TcpFaultProxy } from './support/tcp-fault-proxy.ts';
import { crmRate, faultConfig, ids, QueueWatch, report, send, sleep, tally, TOKEN_ENV } from './support/fault-kit.ts';

describe('fault: CRM answering 429/5xx, timing out, resetting; a long outage', () => {
  let emu: RunningAmoEmulator;
  let proxy: TcpFaultProxy;
  let h: Harness;
  let watch: QueueWatch;
  afterEach(async () => {
    await watch?.close();
    await h?.close();
    await proxy?.close();
    await emu?.close();
  });

  /** `batch: false`: one request per write (the flaky run aims its faults at individual lead/note/task writes). */
  async function setup(o: { batch?: boolean } = {}): Promise<void> {
    emu = await startAmoEmulator();
    proxy = await startTcpFaultProxy({ targetPort: Number(new URL(emu.url).port) });
    // Hub → proxy → emulator. Short CRM timeout and backoff cap: the same code paths, in seconds instead of minutes.
    const config = faultConfig({ crmUrl: proxy.url, crmTimeoutMs: 1_500, maxBackoffMs: 2_000 });
    if (o.batch === false) config.crm = (config.crm as Record<string, unknown>[]).map((a) => ({ ...a, batch: false }));
    h = await startHarness({ config, env: { [TOKEN_ENV]: emu.token } });
    watch = new QueueWatch(h.redisUrl, h.prefix);
  }

  it('flaky CRM: 429, 5xx, hangs, resets, lost answers of done writes → each lead once', async () => {
    await setup({ batch: false });
    const LEADS = 20;
    const wanted = ids('cf', LEADS);
    const sent = await send({ ids: wanted, baseUrl: () => h.gateway.url, concurrency: 4 });
    expect(sent.acked.size).toBe(LEADS);
    const LEAD_WRITE = /^POST \/api\/v4\/leads\/(unsorted|complex)/;
    const NOTE_WRITE = /^POST \/api\/v4\/leads\/(\d+\/)?notes/; // batched notes go to /leads/notes
    const TASK_WRITE = /^POST \/api\/v4\/tasks/;
    const schedule: (() => void)[] = [
      () => emu.faults.rateLimitNext(3),
      () => emu.faults.failNext(3, { status: 503 }),
      () => proxy.faultNext(3, 'reset'),
      () => proxy.faultNext(2, 'reset-after-response', LEAD_WRITE),
      () => emu.faults.failNext(2, { status: 500 }),
      () => proxy.faultNext(2, 'drop'),
      () => proxy.faultNext(2, 'drop-response', LEAD_WRITE),
      () => emu.faults.timeoutNext(2),
      () => proxy.faultNext(2, 'reset-after-response', NOTE_WRITE),
      () => emu.faults.failNext(2, { status: 502 }),
      () => proxy.faultNext(2, 'drop-response', TASK_WRITE),
      () => proxy.faultNext(2, 'reset-after-response', TASK_WRITE),
      () => proxy.faultNext(1, 'drop-response', NOTE_WRITE),
    ];
    // Each fault is injected once the previous is used up, so they spread over the whole delivery.
    for (const inject of schedule) {
      inject();
      for (let i = 0; i < 80 && (emu.faults.pending().length > 0 || proxy.pending() > 0); i++) await sleep(200);
      await sleep(300);
    }
    const final = await watch.drained(150_000);
    const failed = await watch.failedReasons();
    const t = tally(emu, wanted);
    report('flaky CRM through the fault proxy', {
      sent: LEADS,
      send: sent,
      tally: t,
      emu,
      figures: {
        'CRM answers': byStatus(emu),
        'proxy faults': countBy(proxy.stats.applied.map((a) => `${a.fault} ${a.request.replace(/\d+/g, 'N')}`)),
        'unapplied faults': emu.faults.pending().length + proxy.pending(),
        'max req/window': `${emu.stats.maxPerWindow} (limit 7)`,
        'failed jobs': failed.length,
        final,
      },
    });
    expect(proxy.stats.applied.filter((a) => a.fault.endsWith('response')).length).toBeGreaterThanOrEqual(8); // lost answers really hit writes
    expect(failed).toEqual([]);
    expect(t.missing).toEqual([]);
    expect(t.duplicated).toEqual([]);
    expect(t.strayLeads).toBe(0);
    expect(t.once).toHaveLength(LEADS);
    expect(emu.stats.limitExceeded).toBe(false);
  });

  it('batched writes (crm[].batch): answers of shared requests lost after amoCRM did them → each lead once', async () => {
    await setup();
    const LEADS = 24;
    const wanted = ids('bw', LEADS);
    const sending = send({ ids: wanted, baseUrl: () => h.gateway.url, concurrency: 8 });
    const schedule: (() => void)[] = [
      () => proxy.faultNext(2, 'drop-response', /^POST \/api\/v4\/leads\/unsorted\/forms/),
      () => proxy.faultNext(1, 'reset-after-response', /^POST \/api\/v4\/leads\/notes/),
      () => proxy.faultNext(1, 'drop-response', /^POST \/api\/v4\/tasks/),
    ];
    for (const inject of schedule) {
      inject();
      for (let i = 0; i < 100 && proxy.pending() > 0; i++) await sleep(100);
    }
    const sent = await sending;
    expect(sent.acked.size).toBe(LEADS);
    const final = await watch.drained(150_000);
    const failed = await watch.failedReasons();
    const t = tally(emu, wanted);
    const writes = emu.stats.requests.filter((r) => r.method === 'POST' && r.items !== undefined);
    report('batched writes losing their answers', {
      sent: LEADS,
      send: sent,
      tally: t,
      emu,
      figures: {
        'lost answers': countBy(proxy.stats.applied.map((a) => `${a.fault} ${a.request.replace(/\d+/g, 'N')}`)),
        'write requests': writes.length,
        'items per write (max)': Math.max(0, ...writes.map((r) => r.items ?? 0)),
        'max req/window': `${emu.stats.maxPerWindow} (limit 7)`,
        'failed jobs': failed.length,
        final,
      },
    });
    expect(proxy.stats.applied.filter((a) => a.fault.endsWith('response')).length).toBe(4);
    expect(writes.some((r) => (r.items ?? 0) > 1)).toBe(true); // the writes really were shared
    expect(failed).toEqual([]);
    expect(t.missing).toEqual([]);
    expect(t.duplicated).toEqual([]);
    expect(t.strayLeads).toBe(0);
    expect(t.once).toHaveLength(LEADS);
    expect(emu.stats.limitExceeded).toBe(false);
  });

  it('long outage, then recovery: backlog drains at the rate limit, nothing doubled', async () => {
    await setup();
    const LEADS = 30;
    const OUTAGE_MS = 15_000;
    const wanted = ids('lo', LEADS);
    proxy.setMode('reset');
    const outageFrom = Date.now();
    // Leads keep arriving during the outage; the gateway takes them (Redis is fine), the workers retry.
    const sent = await send({ ids: wanted, baseUrl: () => h.gateway.url, concurrency: 2, gapMs: 700 });
    expect(sent.acked.size).toBe(LEADS);
    await sleep(Math.max(0, OUTAGE_MS - (Date.now() - outageFrom)));
    const during = await watch.counts();
    const recoveredAt = Date.now();
    proxy.setMode('pass');
    const final = await watch.drained(150_000);
    const drainedAt = Date.now();
    const failed = await watch.failedReasons();
    const t = tally(emu, wanted);
    const rate = crmRate(emu, recoveredAt, drainedAt);
    report('long CRM outage (15 s, compressed) then drain', {
      sent: LEADS,
      send: sent,
      tally: t,
      emu,
      figures: {
        'backlog at recovery': during.deliver,
        'connections reset': proxy.stats.byMode.reset,
        'drain': `${((drainedAt - recoveredAt) / 1000).toFixed(1)} s, ${rate.requests} CRM requests, ${rate.perSec.toFixed(2)} req/s (hub limit 7 per 1.1 s = 6.36/s)`,
        'leads/s while draining': (LEADS / ((drainedAt - recoveredAt) / 1000)).toFixed(2),
        'max req/window': `${emu.stats.maxPerWindow} (limit 7)`,
        '429 from CRM': emu.stats.count429,
        'failed jobs': failed.length,
        final,
      },
    });
    expect(failed).toEqual([]);
    expect(t.missing).toEqual([]);
    expect(t.duplicated).toEqual([]);
    expect(t.strayLeads).toBe(0);
    expect(t.once).toHaveLength(LEADS);
    expect(emu.stats.limitExceeded).toBe(false);
    expect(emu.stats.count429).toBe(0);
    // The backlog goes at the limit, not in a trickle: at least 60 % of 6.36 req/s on average.
    expect(rate.perSec).toBeGreaterThan(3.8);
  });
});

function byStatus(emu: RunningAmoEmulator): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of emu.stats.requests) {
    const k = r.fault ? `${r.status}:${r.fault}` : String(r.status);
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}

function countBy(xs: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of xs) out[x] = (out[x] ?? 0) + 1;
  return out;
}
