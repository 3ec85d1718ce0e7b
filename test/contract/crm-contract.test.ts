/**
 * The shared CRM contract suite: the same end-to-end scenarios for every registered CRM connector —
 * real HTTP into the gateway, real Redis + BullMQ, the CRM's emulator over real HTTP.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { crms } from '../../connectors/index.ts';
import { crmAdapters, type EmulatedCrm } from '../support/crm-adapters/index.ts';
import { startHarness, type Harness } from '../support/harness.ts';
import { spawnWorker, killHard } from '../support/child-workers.ts';

const json = { 'content-type': 'application/json' };
const form = (o: Record<string, string>) =>
  JSON.stringify({ name: 'Иван Петров', phone: '8 912 345-67-89', email: 'ivan@example.ru', message: 'Нужен расчёт', utm_source: 'yandex', utm_medium: 'cpc', utm_campaign: 'brand', ...o });

it('every registered CRM connector has an emulator adapter', () => {
  expect(crms.map((c) => c.id).filter((id) => !crmAdapters[id])).toEqual([]);
});

for (const crm of crms) {
  describe(`CRM contract: ${crm.id}`, () => {
    let emu: EmulatedCrm | undefined;
    let h: Harness | undefined;
    afterEach(async () => {
      await h?.close();
      await emu?.close();
      h = undefined;
      emu = undefined;
    });
    const config = (e: EmulatedCrm) => ({ worker: { lockDurationMs: 4_000, stalledIntervalMs: 1_500, maxBackoffMs: 5_000 }, crm: [e.account], sources: [{ id: 'site', connector: 'form', name: 'Сайт acme.ru' }] });
    async function setup(opts: { workers?: boolean } = {}): Promise<{ emu: EmulatedCrm; h: Harness }> {
      emu = await crmAdapters[crm.id]!();
      h = await startHarness({ config: config(emu), env: emu.env, ...(opts.workers === false ? { workers: false } : {}) });
      return { emu, h };
    }

    it('one inquiry → one contact, one lead with UTM, one note, one task', async () => {
      const { emu, h } = await setup();
      expect((await h.post('/hooks/form/site', form({ submission_id: 's-1' }), json)).status).toBe(200);
      await h.drain();
      expect(emu.counts()).toEqual({ contacts: 1, leads: 1, notes: 1, tasks: 1 });
      expect(emu.leadText()).toContain('yandex');
    });

    it("the same contact's second inquiry reuses the contact", async () => {
      const { emu, h } = await setup();
      await h.post('/hooks/form/site', form({ submission_id: 'a-1' }), json);
      await h.drain();
      await h.post('/hooks/form/site', form({ submission_id: 'a-2', phone: '+7 (912) 345 67 89', message: 'Ещё вопрос' }), json);
      await h.drain();
      const c = emu.counts();
      expect(c.contacts).toBe(1);
      expect(c.leads).toBe(1); // a note on the open lead, not a second lead (repeatPolicy default)
      expect(c.notes).toBe(2);
    });

    it('the same delivery three times → nothing doubled', async () => {
      const { emu, h } = await setup();
      const body = form({ submission_id: 'dup-42' });
      for (let i = 0; i < 3; i++) expect((await h.post('/hooks/form/site', body, json)).status).toBe(200);
      await h.drain();
      expect(emu.counts()).toEqual({ contacts: 1, leads: 1, notes: 1, tasks: 1 });
    });

    it('rate-limit and 5xx storms: every lead once, the vendor limit never hit on our own', async () => {
      const { emu, h } = await setup();
      emu.rateLimitNext(3);
      emu.failNext(3);
      const n = 12;
      for (let i = 0; i < n; i++) {
        const r = await h.post('/hooks/form/site', form({ submission_id: `storm-${i}`, phone: `8 912 000-00-${String(10 + i)}`, email: `c${i}@example.ru` }), json);
        expect(r.status).toBe(200);
      }
      await h.drain(90_000);
      expect(emu.counts()).toEqual({ contacts: n, leads: n, notes: n, tasks: n });
      expect(emu.limitExceeded()).toBe(false);
      expect(emu.ownLimitErrors()).toBe(0);
    }, 120_000);

    it('workers SIGKILLed mid-delivery → exactly one of everything after recovery', async () => {
      const { emu, h } = await setup({ workers: false });
      emu.setLatency(300); // widen the window in which a kill lands inside a CRM call
      const childConfig = { ...config(emu), redisPrefix: h.prefix };
      const n = 5;
      for (let i = 0; i < n; i++) await h.post('/hooks/form/site', form({ submission_id: `kill-${i}`, phone: `8 913 000-00-${String(10 + i)}`, email: `k${i}@example.ru` }), json);
      for (let round = 0; round < 3; round++) {
        const child = await spawnWorker({ config: childConfig, redisUrl: h.redisUrl, env: emu.env });
        await new Promise((r) => setTimeout(r, 700 + round * 250));
        await killHard(child);
      }
      emu.setLatency(0);
      const survivor = await spawnWorker({ config: childConfig, redisUrl: h.redisUrl, env: emu.env });
      try {
        await h.drain(60_000); // a killed worker's job comes back after its lock expires (stalled check)
      } finally {
        await killHard(survivor);
      }
      expect(emu.counts()).toEqual({ contacts: n, leads: n, notes: n, tasks: n });
    }, 200_000);
  });
}
