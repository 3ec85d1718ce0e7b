/** amoCRM connector against the emulator: several deliveries sharing array writes (io.coalesce). */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CrmError, type DeliveryTask } from '#sdk';
import { SEED } from '../../../test/emulators/amocrm/index.ts';
import { resetRateLimitMemory } from './classify.ts';
import { amoClient } from './client.ts';
import { leadInput, leadTask, startEnv, stopEnv, cf, type Env } from './emulator-env.ts';

describe('amocrm cross-lead batching (io.coalesce) against the emulator', () => {
  let e: Env;
  beforeEach(async () => {
    resetRateLimitMemory();
    e = await startEnv();
    e.facts = await e.rt.facts();
  });
  afterEach(async () => {
    await stopEnv(e);
  });

  const person = (i: number) => ({ name: `Клиент ${i}`, phonesE164: [`+7916555${String(1000 + i)}`], emails: [`c${i}@example.ru`] });
  const phoneOf = (contactId: string | undefined) => cf(e.emu.state.contacts.get(Number(contactId))!.custom_fields_values, 'PHONE');
  const display = (e164: string) => `+7 (${e164.slice(2, 5)}) ${e164.slice(5, 8)}-${e164.slice(8, 10)}-${e164.slice(10)}`;
  const writes = (path: string) => e.emu.stats.matching('POST', path).filter((r) => r.status === 200);

  /** Concurrent deliveries while the account's rate limit is busy: their writes share requests. */
  async function deliverTogether(n: number, over: (i: number) => Partial<Extract<DeliveryTask, { kind: 'lead' }>> = () => ({})) {
    e.emu.faults.setLatency(60);
    const tasks = Array.from({ length: n }, (_, i) => leadTask(`site:b${i}:0`, leadInput({ externalId: `b-${i}`, contact: person(i) }), over(i)));
    return { tasks, results: await Promise.allSettled(tasks.map((t) => e.deliver(t))) };
  }

  it('several queued leads go into Unsorted in one request; each lands once, on its own contact, with its note and task', async () => {
    const n = 8;
    const { tasks, results } = await deliverTogether(n);
    expect(results.every((r) => r.status === 'fulfilled')).toBe(true);
    expect(e.emu.state.counts()).toMatchObject({ contacts: n, leads: n, unsorted: n, notes: n, tasks: n });
    results.forEach((r, i) => {
      const receipt = (r as PromiseFulfilledResult<Awaited<ReturnType<Env['deliver']>>>).value;
      const phone = (tasks[i] as Extract<DeliveryTask, { kind: 'lead' }>).lead.contact.phonesE164[0]!;
      expect(phoneOf(receipt.contactId)).toBe(display(phone));
      expect(e.emu.state.leads.get(Number(receipt.leadId))!.contacts).toEqual([{ id: Number(receipt.contactId), is_main: true }]);
      const note = e.emu.state.notes.get(Number(receipt.noteId))!;
      expect(note.entity_id).toBe(Number(receipt.leadId));
      expect(String(note.params.text)).toContain(`Leadgate: site:b${i}:0`);
      expect(e.emu.state.tasks.get(Number(receipt.taskId))!.entity_id).toBe(Number(receipt.leadId));
    });
    const unsorted = writes('/api/v4/leads/unsorted/forms');
    expect(unsorted.length).toBeLessThan(n);
    expect(Math.max(...unsorted.map((r) => r.items ?? 0))).toBeGreaterThan(1);
    expect(unsorted.reduce((s, r) => s + (r.items ?? 0), 0)).toBe(n);
    expect(writes('/api/v4/leads/notes').length + writes('/api/v4/tasks').length).toBeLessThan(2 * n);
    expect(e.emu.stats.limitExceeded).toBe(false);
  });

  it('leads for a named pipeline share /leads/complex requests (≤ 50 each)', async () => {
    const n = 6;
    const { results } = await deliverTogether(n, () => ({ placement: { kind: 'pipeline', pipeline: 'Партнёры' } }));
    expect(results.every((r) => r.status === 'fulfilled')).toBe(true);
    expect(e.emu.state.counts()).toMatchObject({ contacts: n, leads: n, unsorted: 0, notes: n, tasks: n });
    const complex = writes('/api/v4/leads/complex');
    expect(complex.length).toBeLessThan(n);
    expect(complex.every((r) => (r.items ?? 0) <= 50)).toBe(true);
    for (const l of e.emu.state.leads.values()) expect(l.pipeline_id).toBe(SEED.partnersPipelineId);
  });

  it('new phones of several found contacts share PATCH /api/v4/contacts requests; each contact gets its own, old values kept', async () => {
    const n = 6;
    const first = await deliverTogether(n);
    const contactOf = first.results.map((r) => Number((r as PromiseFulfilledResult<Awaited<ReturnType<Env['deliver']>>>).value.contactId));
    const extra = (i: number) => `+7926777${String(1000 + i)}`;
    const again = Array.from({ length: n }, (_, i) => leadTask(`site:p${i}:0`, leadInput({ externalId: `p-${i}`, contact: { ...person(i), phonesE164: [person(i).phonesE164[0]!, extra(i)] } })));
    const results = await Promise.allSettled(again.map((t) => e.deliver(t)));
    expect(results.every((r) => r.status === 'fulfilled')).toBe(true);
    expect(e.emu.state.counts().contacts).toBe(n); // found, not created again
    const patches = e.emu.stats.matching('PATCH', '/api/v4/contacts').filter((r) => r.status === 200);
    expect(patches.length).toBeLessThan(n);
    expect(Math.max(...patches.map((r) => r.items ?? 0))).toBeGreaterThan(1);
    expect(patches.reduce((k, r) => k + (r.items ?? 0), 0)).toBe(n);
    contactOf.forEach((id, i) => {
      const phones = e.emu.state.contacts.get(id)!.custom_fields_values.find((v) => v.field_code === 'PHONE')!.values.map((v) => v.value);
      expect(phones).toEqual([display(person(i).phonesE164[0]!), display(extra(i))]);
    });
    expect(e.emu.stats.limitExceeded).toBe(false);
  });

  it("one lead's invalid value fails that delivery only; the others of its batch are delivered once", async () => {
    const n = 5;
    const bad = 2;
    const first = await deliverTogether(n, (i) => (i === bad ? { fields: [{ entity: 'lead', target: String(SEED.leadSourceSelectFieldId), value: 'Нет такого источника' }] } : {}));
    const failed = first.results[bad] as PromiseRejectedResult;
    expect(failed.status).toBe('rejected');
    expect(failed.reason).toBeInstanceOf(CrmError);
    expect((failed.reason as CrmError).failure).toMatchObject({ kind: 'reject', cause: expect.stringContaining('620101') });
    // Batch-mates of the bad lead (if it shared a request) were refused with it and asked to retry.
    const retried = first.results.map((r, i) => ({ r, i })).filter(({ r, i }) => i !== bad && r.status === 'rejected');
    for (const { r } of retried) expect(((r as PromiseRejectedResult).reason as CrmError).failure.kind).toBe('retry');
    for (const { i } of retried) await e.deliver(first.tasks[i]!); // what the worker's retry does, same journal
    expect(e.emu.state.counts()).toMatchObject({ contacts: n - 1, leads: n - 1, notes: n - 1, tasks: n - 1 });
  });

  it('a batch refused for one item: that item gets its own validation failure, the rest a retry, nothing is written', async () => {
    // The account's 7 req/s are spent: the lane waits for a slot while all three items pile up.
    for (let i = 0; i < 7; i++) await e.rt.limiter.acquire();
    const c = amoClient(e.rt.io, e.settings);
    const item = (name: string, extra: Record<string, unknown> = {}) => ({ source_uid: 'site', source_name: 'Сайт', metadata: { form_id: 'f', form_name: 'f', form_page: 'p', form_sent_at: 1 }, _embedded: { leads: [{ name, ...extra }] } });
    const rs = await Promise.allSettled([
      c.addUnsorted('forms', item('A')),
      c.addUnsorted('forms', item('B', { custom_fields_values: [{ field_id: SEED.leadSourceSelectFieldId, values: [{ value: 'Нет такого' }] }] })),
      c.addUnsorted('forms', item('C')),
    ]);
    const requests = e.emu.stats.matching('POST', '/api/v4/leads/unsorted/forms');
    expect(requests.map((r) => [r.status, r.items])).toEqual([[400, 3]]);
    const failures = rs.map((r) => (r.status === 'rejected' ? (r.reason as CrmError).failure : undefined));
    expect(failures[1]).toMatchObject({ kind: 'reject', cause: expect.stringContaining('field 620101') });
    expect(failures[0]).toMatchObject({ kind: 'retry', cause: expect.stringContaining('because of another item') });
    expect(failures[2]).toMatchObject({ kind: 'retry' });
    expect(e.emu.state.counts()).toMatchObject({ leads: 0, unsorted: 0 });
  });
});
