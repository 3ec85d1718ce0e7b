/** Bitrix24 connector: whole deliveries against the emulator (start-up facts, modes, dedupe, faults, OAuth, redirects). */
import { beforeAll, describe, expect, it } from 'vitest';
import type { RunningBitrixEmulator } from '../../../test/emulators/bitrix24/index.ts';
import { bitrix24Crm } from './index.ts';
import { useBitrixEmulator, REFRESH_ENV } from './emulator-env.ts';

describe('bitrix24 connector against the emulator', () => {
  const env = useBitrixEmulator();
  const { account, oauthAccount, leadTask, todos, counts, seedContact } = env;
  let emu: RunningBitrixEmulator;
  beforeAll(() => {
    emu = env.emu;
  });

  it('start-up facts: classic mode, sources, catalogue; the default mapping fits', async () => {
    const a = account();
    const facts = await a.runtime.facts();
    expect(facts.problems).toEqual([]);
    expect(facts.meta.bitrix24).toMatchObject({ mode: 'classic', sourceId: 'WEB', usersByInner: { '101': '1', '107': '7' } });
    expect(facts.fields.some((f) => f.entity === 'lead' && f.key === 'UF_CRM_LEAD_CHANNEL' && f.enums?.length === 3)).toBe(true);
  });

  it('start-up stops on an unknown SOURCE_ID or mapping target, naming the valid ones', async () => {
    const a = account({ sourceId: 'NOPE' });
    const err = await a.runtime.facts().catch((e: unknown) => e);
    expect(String((err as Error).message)).toMatch(/sourceId: "NOPE" is not a source.*valid: CALL, EMAIL, WEB/);
    const facts = await bitrix24Crm.inspect(account().runtime.io, account().settings);
    const problems = bitrix24Crm.checkMapping(facts, [{ entity: 'lead', target: 'UTM_SORCE' }, { entity: 'contact', target: 'PHONE' }]);
    expect(problems[0]).toMatch(/lead\.fields\.UTM_SORCE: unknown Bitrix24 lead field; known: UTM_SOURCE/);
    expect(problems[1]).toMatch(/contact\.fields\.PHONE: set by the connector/);
  });

  it('new inquiry, classic mode → 1 contact, 1 lead with SOURCE_ID/UTM, 1 comment, 1 to-do, in 2 requests', async () => {
    const a = account({ responsibleUserId: 7 });
    await a.runtime.facts();
    const before = emu.stats.requestCount();
    const receipt = await a.deliver(leadTask(a));
    expect(emu.stats.requestCount() - before).toBe(2); // lookup batch + create batch
    expect(counts()).toEqual({ contacts: 1, leads: 1, deals: 0, comments: 1, todos: 1 });
    const lead = [...emu.state.leads.values()][0]!;
    const contact = [...emu.state.contacts.values()][0]!;
    expect(lead).toMatchObject({ TITLE: 'Заявка с сайта', NAME: 'Иван Петров', SOURCE_ID: 'WEB', SOURCE_DESCRIPTION: 'Сайт acme.ru', UTM_SOURCE: 'yandex', UTM_MEDIUM: 'cpc', UTM_CAMPAIGN: 'brand', ORIGINATOR_ID: 'leadgate', CONTACT_ID: contact.ID, ASSIGNED_BY_ID: '7' });
    expect(lead.PHONE).toEqual([expect.objectContaining({ VALUE: '+79123456789' })]);
    expect(contact).toMatchObject({ NAME: 'Иван Петров', SOURCE_ID: 'WEB', UTM_SOURCE: 'yandex' });
    const comment = [...emu.state.comments.values()][0]!;
    expect(comment).toMatchObject({ ENTITY_TYPE: 'lead', ENTITY_ID: Number(lead.ID) });
    expect(comment.COMMENT).toContain('Нужен расчёт');
    expect(todos()[0]).toMatchObject({ OWNER_TYPE_ID: 1, OWNER_ID: Number(lead.ID), SUBJECT: 'Связаться с клиентом', RESPONSIBLE_ID: 7, DEADLINE: '2026-05-14T10:41:33+03:00' });
    expect(receipt).toMatchObject({ contactId: contact.ID, leadId: lead.ID, createdLead: true, url: `${emu.url}/crm/lead/details/${String(lead.ID)}/` });
  });

  it('simple mode → contact + deal in the first stage of the configured pipeline, comment and to-do on the deal', async () => {
    emu.state.setCrmMode('simple');
    const a = account({ dealCategoryId: 1 });
    const receipt = await a.deliver(leadTask(a));
    expect(counts()).toEqual({ contacts: 1, leads: 0, deals: 1, comments: 1, todos: 1 });
    const deal = [...emu.state.deals.values()][0]!;
    expect(deal).toMatchObject({ CATEGORY_ID: '1', STAGE_ID: 'C1:NEW', SOURCE_ID: 'WEB', UTM_SOURCE: 'yandex', ORIGINATOR_ID: 'leadgate' });
    expect(deal.CONTACT_IDS).toEqual([Number([...emu.state.contacts.keys()][0])]);
    expect([...emu.state.comments.values()][0]).toMatchObject({ ENTITY_TYPE: 'deal' });
    expect(todos()[0]).toMatchObject({ OWNER_TYPE_ID: 2 });
    expect(receipt.leadId).toBe(`D_${String(deal.ID)}`);
  });

  it('repeat inquiry (phone stored as 8 (912) …) → no new contact or lead: comment + to-do on the open lead, new e-mail added', async () => {
    const a = account();
    const contactId = await seedContact({ NAME: 'Иван', PHONE: [{ VALUE: '8 (912) 345-67-89', VALUE_TYPE: 'MOBILE' }], EMAIL: [{ VALUE: 'old@example.ru', VALUE_TYPE: 'WORK' }] });
    await a.deliver(leadTask(a, { contact: { phonesE164: ['+79123456789'], emails: ['old@example.ru'] } }));
    expect(counts()).toMatchObject({ contacts: 1, leads: 1, comments: 1, todos: 1 });
    const leadId = [...emu.state.leads.keys()][0]!;
    const receipt = await a.deliver(leadTask(a, { contact: { name: 'Иван', phonesE164: ['+79123456789'], emails: ['ivan@example.ru'] }, message: 'Ещё вопрос' }));
    expect(counts()).toEqual({ contacts: 1, leads: 1, deals: 0, comments: 2, todos: 2 });
    expect(receipt).toMatchObject({ contactId: String(contactId), leadId: String(leadId), createdLead: false });
    const last = [...emu.state.comments.values()].pop()!;
    expect(last).toMatchObject({ ENTITY_TYPE: 'lead', ENTITY_ID: leadId });
    expect(last.COMMENT).toContain('Ещё вопрос');
    const contact = emu.state.contacts.get(contactId)!;
    expect((contact.EMAIL as { VALUE: string }[]).map((e) => e.VALUE)).toEqual(['old@example.ru', 'ivan@example.ru']);
    expect((contact.PHONE as { VALUE: string }[]).map((e) => e.VALUE)).toEqual(['8 (912) 345-67-89']);
  });

  it('always-new policy → a new lead bound to the known contact and its company', async () => {
    const a = account();
    const company = await (await fetch(`${emu.webhookUrl}crm.company.add`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ fields: { TITLE: 'ООО Ромашка' } }) })).json() as { result: number };
    const contactId = await seedContact({ NAME: 'Иван', PHONE: [{ VALUE: '+79123456789' }], COMPANY_ID: company.result });
    await a.deliver(leadTask(a)); // contact known, no open lead: a lead
    const t = leadTask(a, {}, { repeatPolicy: 'always-new' });
    await a.deliver(t);
    expect(counts()).toMatchObject({ contacts: 1, leads: 2 });
    const newest = [...emu.state.leads.values()].pop()!;
    expect(newest).toMatchObject({ CONTACT_ID: String(contactId), COMPANY_ID: String(company.result), IS_RETURN_CUSTOMER: 'Y' });
  });

  it('an inquiry with no phone, e-mail or messenger → a lead without an empty contact', async () => {
    const a = account();
    const receipt = await a.deliver(leadTask(a, { contact: { name: 'Аноним', phonesE164: [], emails: [] } }));
    expect(counts()).toEqual({ contacts: 0, leads: 1, deals: 0, comments: 1, todos: 1 });
    expect(receipt.createdLead).toBe(true);
  });

  it('the same task twice → nothing doubled, no second request', async () => {
    const a = account();
    const t = leadTask(a);
    const first = await a.deliver(t);
    const before = emu.stats.requestCount();
    const second = await a.deliver(t);
    expect(emu.stats.requestCount()).toBe(before);
    expect(second).toEqual(first);
    expect(counts()).toEqual({ contacts: 1, leads: 1, deals: 0, comments: 1, todos: 1 });
  });

  it('lead add executed but its answer lost (afterExecution) → the retry finds the lead by ORIGIN_ID: no duplicate', async () => {
    const a = account();
    await seedContact({ NAME: 'Иван', PHONE: [{ VALUE: '+79123456789' }] });
    emu.faults.failNext(1, 500, { method: 'crm.lead.add', afterExecution: true });
    const t = leadTask(a);
    const err = await a.deliver(t).catch((e: unknown) => e);
    expect(bitrix24Crm.classify(err)).toMatchObject({ kind: 'retry' });
    expect(emu.state.leads.size).toBe(1); // created, answer lost
    const receipt = await a.deliver(t);
    expect(counts()).toEqual({ contacts: 1, leads: 1, deals: 0, comments: 1, todos: 1 });
    expect(receipt.leadId).toBe(String([...emu.state.leads.keys()][0]));
    expect(emu.stats.methodCalls.get('crm.lead.add')).toBe(1);
  });

  it('the create batch executed but its answer lost (connection reset) → recovered by ORIGIN_ID: nothing doubled', async () => {
    const a = account();
    await a.runtime.facts();
    let batches = 0;
    emu.faults.resetNext(1, { method: (m) => m === 'batch' && ++batches === 2, afterExecution: true }); // lookup is batch 1
    const t = leadTask(a);
    const err = await a.deliver(t).catch((e: unknown) => e);
    expect(bitrix24Crm.classify(err)).toMatchObject({ kind: 'retry' });
    expect(counts()).toEqual({ contacts: 1, leads: 1, deals: 0, comments: 1, todos: 1 });
    const receipt = await a.deliver(t);
    expect(counts()).toEqual({ contacts: 1, leads: 1, deals: 0, comments: 1, todos: 1 });
    expect(receipt).toMatchObject({ createdLead: true, leadId: String([...emu.state.leads.keys()][0]) });
  });

  it('a batch that stops half-way (to-do refused) saves what it made; the retry adds only the to-do', async () => {
    const a = account();
    await a.runtime.facts();
    emu.faults.forceOperationTimeLimit('crm.activity.todo.add');
    const t = leadTask(a);
    const err = await a.deliver(t).catch((e: unknown) => e);
    expect(bitrix24Crm.classify(err)).toMatchObject({ kind: 'retry', afterMs: 600_000 });
    expect(counts()).toEqual({ contacts: 1, leads: 1, deals: 0, comments: 1, todos: 0 });
    emu.faults.clear();
    await a.deliver(t);
    expect(counts()).toEqual({ contacts: 1, leads: 1, deals: 0, comments: 1, todos: 1 });
  });

  it('a burst of 60 deliveries never hits QUERY_LIMIT_EXCEEDED thanks to the shared limiter', async () => {
    const a = account();
    await a.runtime.facts();
    const tasks = Array.from({ length: 60 }, (_, i) => leadTask(a, { contact: { name: `Клиент ${i}`, phonesE164: [`+7912000${String(1000 + i)}`], emails: [`c${i}@example.ru`] } }));
    const receipts = await Promise.all(tasks.map((t) => a.deliver(t)));
    expect(receipts.every((r) => r.createdLead)).toBe(true);
    expect(emu.stats.limitErrors).toBe(0);
    expect(emu.stats.maxBucketFill).toBeLessThanOrEqual(50 + 1e-6); // the emulator's float bucket
    expect(counts()).toMatchObject({ contacts: 60, leads: 60, comments: 60, todos: 60 });
  }, 120_000);

  it('OAuth: tokens seeded once; 4 concurrent deliveries on an expired token → exactly one refresh', async () => {
    const a = oauthAccount();
    await a.runtime.facts();
    expect(emu.stats.refreshCount).toBe(1); // seeded from the initial refresh token
    const stored = await a.runtime.io.credentials.get();
    expect(stored?.extra?.memberId).toBe('a223c6b3710f85df22e9377d6c4f7553');
    emu.faults.expireAccessTokens();
    const tasks = Array.from({ length: 4 }, (_, i) => leadTask(a, { contact: { phonesE164: [`+7913000${String(1000 + i)}`], emails: [] } }));
    const receipts = await Promise.all(tasks.map((t) => a.deliver(t)));
    expect(receipts.every((r) => r.createdLead)).toBe(true);
    expect(emu.stats.refreshCount).toBe(2);
    expect((await a.runtime.io.credentials.get())?.accessToken).not.toBe(stored?.accessToken);
  });

  it('OAuth: a refused token that a refresh cannot fix → config error naming the fix', async () => {
    const a = oauthAccount();
    await a.runtime.facts();
    emu.faults.revokeAccessTokens();
    emu.faults.failNext(5, 400, { method: 'oauth.token', body: { error: 'invalid_grant', error_description: 'Invalid grant' } });
    const err = await a.deliver(leadTask(a)).catch((e: unknown) => e);
    const f = bitrix24Crm.classify(err);
    expect(f).toMatchObject({ kind: 'config' });
    expect(f.kind === 'config' && f.fix).toMatch(new RegExp(REFRESH_ENV));
  });

  it('portal renamed (302) → config error naming the new webhook address; the POST is not followed', async () => {
    const a = account();
    await a.runtime.facts();
    const to = emu.url.replace('127.0.0.1', 'localhost');
    emu.faults.redirect({ to });
    const err = await a.deliver(leadTask(a)).catch((e: unknown) => e);
    const f = bitrix24Crm.classify(err);
    expect(f.kind).toBe('config');
    if (f.kind !== 'config') return;
    expect(f.fix).toContain(`${to}/rest/<user>/<code>/`);
    expect(`${f.cause} ${f.fix}`).not.toContain('emulator-secret');
    expect(emu.stats.redirects).toBe(1);
    expect(counts().leads).toBe(0);
  });

  it('assignment rules pick the new lead\'s manager once: lead and to-do get it, a retry reuses the pick', async () => {
    const a = account();
    let asked = 0;
    const seen: unknown[] = [];
    const t = leadTask(a, {}, { assignResponsible: async (found) => (asked++, seen.push(found), '7') });
    await a.deliver(t);
    await a.deliver(t);
    expect(asked).toBe(1);
    expect(seen).toEqual([{}]);
    const lead = [...emu.state.leads.values()][0]!;
    expect(String(lead.ASSIGNED_BY_ID)).toBe('7');
    expect(todos()[0]).toMatchObject({ RESPONSIBLE_ID: 7 });
  });

  it('a literal SOURCE_ID in the mapping that the portal does not have stops start-up', async () => {
    const a = account();
    const facts = await bitrix24Crm.inspect(a.runtime.io, a.settings);
    expect(bitrix24Crm.checkMapping(facts, [{ entity: 'lead', target: 'SOURCE_ID', value: 'WEB' }])).toEqual([]);
    expect(bitrix24Crm.checkMapping(facts, [{ entity: 'lead', target: 'SOURCE_ID', value: 'NOPE' }])[0]).toMatch(/lead\.fields\.SOURCE_ID: "NOPE" is not a source.*valid: CALL, EMAIL, WEB/);
  });

  it('caller-ID lookup by phone', async () => {
    const a = account();
    await a.deliver(leadTask(a));
    const info = await bitrix24Crm.lookupPhone!(a.runtime.io, a.settings, '+79123456789');
    expect(info).toMatchObject({ contactId: String([...emu.state.contacts.keys()][0]), name: 'Иван Петров', openLeadId: String([...emu.state.leads.keys()][0]), responsibleName: 'Admin Portal' });
    expect(await bitrix24Crm.lookupPhone!(a.runtime.io, a.settings, '+79990000000')).toBeNull();
  });
});
