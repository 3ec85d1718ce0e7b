/** Bitrix24 connector against the emulator: several deliveries sharing one `batch` (io.coalesce). */
import { beforeAll, describe, expect, it } from 'vitest';
import type { RunningBitrixEmulator } from '../../../test/emulators/bitrix24/index.ts';
import { createBitrixClient, prefixGroup } from './client.ts';
import { useBitrixEmulator, type Account } from './emulator-env.ts';

describe('bitrix24 against the emulator', () => {
  const env = useBitrixEmulator();
  const { account, leadTask, todos, counts } = env;
  let emu: RunningBitrixEmulator;
  beforeAll(() => {
    emu = env.emu;
  });

  describe('cross-lead batching (io.coalesce)', () => {
    const person = (i: number) => ({ name: `Клиент ${i}`, phonesE164: [`+7916777${String(1000 + i)}`], emails: [`p${i}@example.ru`] });
    /** Fills the hub's bucket (burst 40): the next slot is half a second away, so submitted work piles up. */
    const spendBurst = async (a: Account) => {
      for (let i = 0; i < 40; i++) await a.runtime.limiter.acquire();
    };

    it('several queued leads go out in shared batch requests; each lands once, on its own contact, with its comment and to-do', async () => {
      const a = account();
      await a.runtime.facts();
      const n = 8;
      const tasks = Array.from({ length: n }, (_, i) => leadTask(a, { externalId: `bb-${i}`, contact: person(i) }));
      const before = emu.stats.requestCount();
      await spendBurst(a);
      const receipts = await Promise.all(tasks.map((t) => a.deliver(t)));
      expect(counts()).toEqual({ contacts: n, leads: n, deals: 0, comments: n, todos: n });
      receipts.forEach((r, i) => {
        const lead = emu.state.leads.get(Number(r.leadId))!;
        const contact = emu.state.contacts.get(Number(r.contactId))!;
        expect(String(lead.CONTACT_ID)).toBe(r.contactId);
        expect((contact.PHONE as { VALUE: string }[]).map((p) => p.VALUE)).toEqual(person(i).phonesE164);
        expect([...emu.state.comments.values()].filter((c) => String(c.ENTITY_ID) === r.leadId)).toHaveLength(1);
        expect(todos().filter((t) => String(t.OWNER_ID) === r.leadId)).toHaveLength(1);
      });
      const batches = emu.stats.requests.slice(before).filter((r) => r.method === 'batch');
      // Alone, each lead takes a lookup batch and a create batch (2 commands, then 4): shared requests carry more.
      expect(batches.length).toBeLessThan(2 * n);
      expect(Math.max(...batches.map((r) => r.batchCommands ?? 0))).toBeGreaterThan(4);
      expect(batches.every((r) => (r.batchCommands ?? 0) <= 50)).toBe(true);
      expect(emu.stats.limitErrors).toBe(0);
    });

    it('repeat inquiries of several clients: their comments on the open leads share batch requests too', async () => {
      const a = account();
      await a.runtime.facts();
      const n = 6;
      const who = (i: number) => ({ ...person(i + 20), emails: [`r${i}@example.ru`] });
      const first = await Promise.all(Array.from({ length: n }, (_, i) => a.deliver(leadTask(a, { externalId: `rf-${i}`, contact: who(i) }))));
      const before = emu.stats.requestCount();
      await spendBurst(a);
      const again = await Promise.all(Array.from({ length: n }, (_, i) => a.deliver(leadTask(a, { externalId: `rr-${i}`, contact: who(i), message: `Повторная заявка ${i}` }))));
      again.forEach((r, i) => {
        expect(r.createdLead).toBe(false);
        expect(r.leadId).toBe(first[i]!.leadId);
        const comments = [...emu.state.comments.values()].filter((c) => String(c.ENTITY_ID) === first[i]!.leadId).map((c) => String(c.COMMENT));
        expect(comments).toHaveLength(2);
        expect(comments[1]).toContain(`Повторная заявка ${i}`);
      });
      const batches = emu.stats.requests.slice(before).filter((r) => r.method === 'batch');
      const single = emu.stats.requests.slice(before).filter((r) => r.method === 'crm.timeline.comment.add');
      expect(single).toHaveLength(0);
      // Alone, each repeat takes a lookup batch and a comment write: shared, fewer requests carry them all.
      expect(batches.length).toBeLessThan(2 * n);
      expect(emu.stats.limitErrors).toBe(0);
    });

    it("deliveries sharing a batch keep their own $result references, results and per-command errors", async () => {
      const a = account();
      const client = createBitrixClient(a.runtime.io, a.settings);
      const before = emu.stats.requestCount();
      await spendBurst(a);
      const [good, bad] = await Promise.all([
        client.batch({ l: { method: 'crm.lead.add', params: { fields: { TITLE: 'A' } } }, g: { method: 'crm.lead.get', params: { id: '$result[l]' } } }, { halt: true }),
        client.batch({ l: { method: 'crm.nope.add', params: {} }, x: { method: 'crm.lead.add', params: { fields: { TITLE: 'B' } } } }),
      ]);
      expect(emu.stats.requests.slice(before).map((r) => [r.method, r.batchCommands])).toEqual([['batch', 4]]);
      expect(Object.keys(good.errors)).toEqual([]);
      expect((good.results.g as { ID: string; TITLE: string })).toMatchObject({ ID: String(good.results.l), TITLE: 'A' });
      expect(bad.errors.l).toMatchObject({ error: 'ERROR_METHOD_NOT_FOUND' });
      expect(Object.keys(bad.errors)).toEqual(['l']);
      expect(emu.state.leads.get(Number(bad.results.x))).toMatchObject({ TITLE: 'B' });
    });

    it('prefixGroup rewrites only the references to the group\'s own keys', () => {
      const [, lead] = prefixGroup([['c', { method: 'crm.contact.add' }], ['r', { method: 'crm.lead.add', params: { fields: { CONTACT_ID: '$result[c]', COMPANY_ID: '$result[other][ID]', T: 'x $result[c][NAME] y' } } }]], 'd3_');
      expect(lead).toEqual(['d3_r', { method: 'crm.lead.add', params: { fields: { CONTACT_ID: '$result[d3_c]', COMPANY_ID: '$result[other][ID]', T: 'x $result[d3_c][NAME] y' } } }]);
    });
  });

});
