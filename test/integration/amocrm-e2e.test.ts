/**
 * End to end against amoCRM: real HTTP into the gateway, real Redis + BullMQ, the amoCRM emulator over real HTTP.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startAmoEmulator, type RunningAmoEmulator } from '../emulators/amocrm/start.ts';
import { startHarness, type Harness } from '../support/harness.ts';
import { spawnWorker, killHard } from '../support/child-workers.ts';

const TOKEN_ENV = 'E2E_AMO_TOKEN';

function configFor(emu: RunningAmoEmulator, extra: Record<string, unknown> = {}) {
  return {
    crm: [{ id: 'amo', connector: 'amocrm', settings: { baseUrl: emu.url, auth: 'long-lived', tokenEnv: TOKEN_ENV } }],
    sources: [{ id: 'site', connector: 'form', name: 'Сайт acme.ru' }],
    ...extra,
  };
}

const form = (o: Record<string, string>) => JSON.stringify({ name: 'Иван Петров', phone: '8 912 345-67-89', email: 'ivan@example.ru', message: 'Нужен расчёт', utm_source: 'yandex', utm_medium: 'cpc', utm_campaign: 'brand', ...o });
const json = { 'content-type': 'application/json' };

describe('form → amoCRM end to end', () => {
  let emu: RunningAmoEmulator;
  let h: Harness;
  afterEach(async () => {
    await h?.close();
    await emu?.close();
  });

  async function setup(opts: { workers?: boolean } = {}) {
    emu = await startAmoEmulator();
    h = await startHarness({ config: configFor(emu), env: { [TOKEN_ENV]: emu.token }, ...(opts.workers === false ? { workers: false } : {}) });
  }

  it('one inquiry → one contact, one lead in Неразобранное with UTM fields, one note, one task', async () => {
    await setup();
    const res = await h.post('/hooks/form/site', form({ submission_id: 's-1' }), json);
    expect(res.status).toBe(200);
    await h.drain();
    const c = emu.state.counts();
    expect({ contacts: c.contacts, leads: c.leads, unsorted: c.unsorted, tasks: c.tasks }).toEqual({ contacts: 1, leads: 1, unsorted: 1, tasks: 1 });
    const notes = [...emu.state.notes.values()].filter((n) => n.note_type === 'common');
    expect(notes).toHaveLength(1);
    const lead = [...emu.state.leads.values()][0]!;
    const codes = JSON.stringify(lead.custom_fields_values ?? []);
    expect(codes).toContain('UTM_SOURCE');
    expect(codes).toContain('yandex');
    const pipeline = emu.state.meta.pipelines.find((p) => p.id === lead.pipeline_id)!;
    const status = pipeline.statuses.find((s) => s.id === lead.status_id)!;
    expect(status.type).toBe(1); // the Неразобранное (unsorted) status, not a deal stage
    const task = [...emu.state.tasks.values()][0]!;
    expect(task.text).toBe('Связаться с клиентом');
    const contact = [...emu.state.contacts.values()][0]!;
    expect(JSON.stringify(contact.custom_fields_values)).toContain('+7 (912) 345-67-89');
  });

  it("the same contact's second inquiry reuses the contact: no second contact", async () => {
    await setup();
    await h.post('/hooks/form/site', form({ submission_id: 'a-1' }), json);
    await h.drain();
    await h.post('/hooks/form/site', form({ submission_id: 'a-2', phone: '+7 (912) 345 67 89', message: 'Ещё вопрос' }), json);
    await h.drain();
    expect(emu.state.counts().contacts).toBe(1);
  });

  it('the same delivery three times → nothing doubled', async () => {
    await setup();
    const body = form({ submission_id: 'dup-42' });
    for (let i = 0; i < 3; i++) expect((await h.post('/hooks/form/site', body, json)).status).toBe(200);
    await h.drain();
    const c = emu.state.counts();
    expect({ contacts: c.contacts, leads: c.leads, tasks: c.tasks }).toEqual({ contacts: 1, leads: 1, tasks: 1 });
  });

  it('429 and 5xx storms: every lead delivered once, never over 7 requests per second', async () => {
    await setup();
    emu.faults.rateLimitNext(3);
    emu.faults.failNext(3, { status: 503 });
    const n = 12;
    for (let i = 0; i < n; i++) {
      expect((await h.post('/hooks/form/site', form({ submission_id: `storm-${i}`, phone: `8 912 000-00-${String(10 + i)}`, email: `c${i}@example.ru` }), json)).status).toBe(200);
    }
    await h.drain(60_000);
    const c = emu.state.counts();
    expect(c.leads).toBe(n);
    expect(c.contacts).toBe(n);
    expect(c.tasks).toBe(n);
    expect(emu.stats.limitExceeded).toBe(false);
    expect(emu.stats.maxPerWindow).toBeLessThanOrEqual(7);
  }, 90_000);

  it('a worker SIGKILLed mid-delivery → exactly one lead after recovery', async () => {
    await setup({ workers: false });
    emu.faults.setLatency(300); // widen the window in which the kill lands inside a CRM call
    const childConfig = { ...configFor(emu), redisPrefix: h.prefix };
    const env = { [TOKEN_ENV]: emu.token };
    const n = 5;
    for (let i = 0; i < n; i++) await h.post('/hooks/form/site', form({ submission_id: `kill-${i}`, phone: `8 913 000-00-${String(10 + i)}`, email: `k${i}@example.ru` }), json);
    for (let round = 0; round < 3; round++) {
      const child = await spawnWorker({ config: childConfig, redisUrl: h.redisUrl, env });
      await new Promise((r) => setTimeout(r, 700 + round * 200));
      await killHard(child);
    }
    emu.faults.setLatency(0);
    const survivor = await spawnWorker({ config: childConfig, redisUrl: h.redisUrl, env });
    try {
      // BullMQ gives a killed worker's job back after its lock expires (stalled check).
      await h.drain(120_000);
    } finally {
      await killHard(survivor);
    }
    const c = emu.state.counts();
    expect({ contacts: c.contacts, leads: c.leads, tasks: c.tasks }).toEqual({ contacts: n, leads: n, tasks: n });
  }, 180_000);
});
