/** amoCRM connector against the emulator through a real CrmIO: start-up facts, deliveries, dedupe, recovery, faults, OAuth. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CrmError, type StoredTokens } from '#sdk';
import { SEED } from '../../../test/emulators/amocrm/index.ts';
import { amocrm } from './index.ts';
import { resetRateLimitMemory } from './classify.ts';
import { ACCOUNT_ID, leadInput, leadTask, startEnv, stopEnv, notesOf, cf, type Env } from './emulator-env.ts';

describe('amocrm against the emulator', () => {
  let e: Env;
  beforeEach(async () => {
    resetRateLimitMemory();
    e = await startEnv();
    e.facts = await e.rt.facts();
  });
  afterEach(async () => {
    await stopEnv(e);
  });

  it('inspect loads fields by code and id, pipelines and users; the default mapping fits', async () => {
    expect(e.facts.problems).toEqual([]);
    expect(e.facts.fields.some((f) => f.key === 'UTM_SOURCE' && f.entity === 'lead')).toBe(true);
    expect(e.facts.fields.some((f) => f.key === '620001' && f.entity === 'lead')).toBe(true);
    expect(amocrm.checkMapping(e.facts, [{ entity: 'lead', target: 'NOPE' }])[0]).toContain('remove lead.fields.NOPE from mappings/amocrm.yaml');
  });

  it('a new inquiry: one contact, one lead in Неразобранное with UTM fields, one note, one task', async () => {
    const r = await e.deliver(leadTask('site:ev1:0'));
    const s = e.emu.state;
    expect(s.counts()).toMatchObject({ contacts: 1, leads: 1, unsorted: 1, notes: 1, tasks: 1 });
    const lead = [...s.leads.values()][0]!;
    expect(lead.status_id).toBe(SEED.mainUnsortedStatusId);
    expect(cf(lead.custom_fields_values, 'UTM_SOURCE')).toBe('yandex');
    expect(cf(lead.custom_fields_values, 'UTM_CAMPAIGN')).toBe('brand');
    expect(cf(lead.custom_fields_values, 'YCLID')).toBe('123456');
    const contact = [...s.contacts.values()][0]!;
    expect(cf(contact.custom_fields_values, 'PHONE')).toBe('+7 (912) 345-67-89');
    expect(cf(contact.custom_fields_values, 'EMAIL')).toBe('irina@example.ru');
    const note = notesOf(e, lead.id)[0]!;
    expect(note.note_type).toBe('common');
    expect(String(note.params.text)).toContain('Перезвоните, пожалуйста');
    expect(String(note.params.text)).toMatch(/Leadgate: site:ev1:0$/);
    const task = [...s.tasks.values()][0]!;
    expect(task).toMatchObject({ entity_type: 'leads', entity_id: lead.id, task_type_id: 1, complete_till: Date.parse('2026-11-23T09:15:00Z') / 1000, text: 'Связаться с клиентом' });
    expect(r).toMatchObject({ leadId: String(lead.id), contactId: String(contact.id), createdLead: true });
  });

  it('a second inquiry from the same phone: no second contact, a note and task on the open lead', async () => {
    const first = await e.deliver(leadTask('site:ev1:0'));
    const second = await e.deliver(leadTask('site:ev2:0', leadInput({ externalId: 'ev-2', message: 'Ещё вопрос', contact: { phonesE164: ['+79123456789'], emails: [] } })));
    const s = e.emu.state;
    expect(s.counts()).toMatchObject({ contacts: 1, leads: 1, notes: 2, tasks: 2 });
    expect(second).toMatchObject({ leadId: first.leadId, contactId: first.contactId, createdLead: false });
    expect(notesOf(e, Number(first.leadId)).map((n) => String(n.params.text))).toEqual([expect.stringContaining('Перезвоните'), expect.stringContaining('Ещё вопрос')]);
  });

  it('an accepted, then won lead: the next inquiry opens a new lead on the same contact and adds the new e-mail', async () => {
    const first = await e.deliver(leadTask('site:ev1:0', leadInput({ contact: { name: 'Ирина', phonesE164: ['+79123456789'], emails: [] } })));
    const lead = e.emu.state.leads.get(Number(first.leadId))!;
    const uid = [...e.emu.state.unsorted.values()][0]!.uid;
    await e.rt.io.http.request({ method: 'POST', url: `/api/v4/leads/unsorted/${uid}/accept`, data: {} });
    lead.status_id = 142;
    const second = await e.deliver(leadTask('site:ev2:0', leadInput({ externalId: 'ev-2', contact: { phonesE164: ['+79123456789'], emails: ['new@example.ru'] } })));
    const s = e.emu.state;
    expect(s.counts()).toMatchObject({ contacts: 1, leads: 2 });
    expect(second.createdLead).toBe(true);
    expect(second.contactId).toBe(first.contactId);
    const newLead = s.leads.get(Number(second.leadId))!;
    expect(newLead.status_id).toBe(SEED.mainUnsortedStatusId);
    expect(newLead.contacts).toEqual([{ id: Number(first.contactId), is_main: true }]);
    expect(cf(newLead.custom_fields_values, 'UTM_SOURCE')).toBe('yandex');
    const contact = s.contacts.get(Number(first.contactId))!;
    expect(contact.custom_fields_values.find((x) => x.field_code === 'EMAIL')?.values.map((v) => v.value)).toEqual(['new@example.ru']);
    expect(contact.custom_fields_values.find((x) => x.field_code === 'PHONE')?.values.map((v) => v.value)).toEqual(['+7 (912) 345-67-89']);
  });

  it('placement in a named pipeline: first stage via /leads/complex', async () => {
    const r = await e.deliver(leadTask('site:ev1:0', leadInput(), { placement: { kind: 'pipeline', pipeline: 'Партнёры' } }));
    const lead = e.emu.state.leads.get(Number(r.leadId))!;
    expect(lead).toMatchObject({ pipeline_id: SEED.partnersPipelineId, status_id: 31000012 });
    expect(e.emu.state.counts()).toMatchObject({ contacts: 1, leads: 1, unsorted: 0, notes: 1, tasks: 1 });
    expect(e.emu.stats.matching('POST', '/api/v4/leads/complex')).toHaveLength(1);
  });

  it('assignment rules pick a new lead\'s manager once (lead, contact and task get it); a known contact\'s manager is passed in', async () => {
    const seen: unknown[] = [];
    const assign = async (found: unknown) => (seen.push(found), String(SEED.managerUserId));
    const t = leadTask('site:as1:0', leadInput(), { assignResponsible: assign });
    const r = await e.deliver(t);
    await e.deliver(t); // a retry of the same delivery reuses the pick
    expect(seen).toEqual([{}]);
    const s = e.emu.state;
    expect(s.leads.get(Number(r.leadId))!.responsible_user_id).toBe(SEED.managerUserId);
    expect(s.contacts.get(Number(r.contactId))!.responsible_user_id).toBe(SEED.managerUserId);
    expect(s.tasks.get(Number(r.taskId))!.responsible_user_id).toBe(SEED.managerUserId);
    // The lead is won; the same person writes again: a new lead, and the rules hear who handles the contact.
    s.leads.get(Number(r.leadId))!.status_id = 142;
    await e.deliver(leadTask('site:as2:0', leadInput({ externalId: 'as-2' }), { assignResponsible: assign }));
    expect(seen[1]).toEqual({ contactResponsibleId: String(SEED.managerUserId) });
  });

  it('the same task delivered twice with the same journal doubles nothing', async () => {
    const task = leadTask('site:ev1:0');
    const a = await e.deliver(task);
    const writes = e.emu.stats.requests.filter((r) => r.method !== 'GET').length;
    const b = await e.deliver(task);
    expect(b).toEqual(a);
    expect(e.emu.state.counts()).toMatchObject({ contacts: 1, leads: 1, notes: 1, tasks: 1 });
    expect(e.emu.stats.requests.filter((r) => r.method !== 'GET').length).toBe(writes);
  });

  it('crash after each write, before the journal save: recover finds the write, nothing doubles', async () => {
    const task = leadTask('site:ev1:0');
    const a = await e.deliver(task);
    // As if the process died after amoCRM answered: results gone, intents (and nothing else) left.
    const jk = e.journalKey(task.key);
    await e.redis.hdel(jk, 'createLead', 'addNote', 'addTask');
    // …and before the bookkeeping after createLead (owner and intake index) was written.
    const own = await e.redis.keys(`${e.prefix}:cache:${ACCOUNT_ID}:*`);
    if (own.length) await e.redis.del(...own);
    expect(await e.redis.hget(jk, 'createLead:intent')).not.toBeNull();
    const b = await e.deliver(task);
    expect(b).toEqual(a);
    expect(e.emu.state.counts()).toMatchObject({ contacts: 1, leads: 1, unsorted: 1, notes: 1, tasks: 1 });
  });

  it('crash recovery of a /leads/complex write on a known contact', async () => {
    await e.deliver(leadTask('site:ev1:0'));
    const task = leadTask('site:ev2:0', leadInput({ externalId: 'ev-2' }), { repeatPolicy: 'always-new' });
    const a = await e.deliver(task);
    expect(a.createdLead).toBe(true);
    await e.redis.hdel(e.journalKey(task.key), 'createLead', 'addNote', 'addTask');
    const b = await e.deliver(task);
    expect(b).toEqual(a);
    expect(e.emu.state.counts()).toMatchObject({ contacts: 1, leads: 2, notes: 2, tasks: 2 });
  });

  it('429, then success on the retry', async () => {
    e.emu.faults.rateLimitNext(1, { method: 'POST', path: '/api/v4/leads/unsorted/forms' });
    const task = leadTask('site:ev1:0');
    const err = await e.deliver(task).catch((x: unknown) => x);
    expect(err).toBeInstanceOf(CrmError);
    expect((err as CrmError).failure).toMatchObject({ kind: 'retry', afterMs: 1_000 });
    const r = await e.deliver(task);
    expect(r.createdLead).toBe(true);
    expect(e.emu.state.counts()).toMatchObject({ contacts: 1, leads: 1, notes: 1, tasks: 1 });
  });

  it('a connection reset mid-delivery is retried; the retry doubles nothing', async () => {
    e.emu.faults.resetNext(1, { method: 'POST', path: '/api/v4/tasks' });
    const task = leadTask('site:ev1:0');
    const err = await e.deliver(task).catch((x: unknown) => x);
    expect((err as CrmError).failure).toMatchObject({ kind: 'retry' });
    await e.deliver(task);
    expect(e.emu.state.counts()).toMatchObject({ contacts: 1, leads: 1, notes: 1, tasks: 1 });
  });

  it('a message of a conversation becomes a note on its lead', async () => {
    const first = await e.deliver(leadTask('tg:ev1:0'));
    const r = await e.deliver({ kind: 'message', key: 'tg:ev2:0', contact: { phonesE164: [], phonesUnparsed: [], emails: [] }, threadLeadId: first.leadId!, noteText: 'Новое сообщение (Telegram):\nА доставка есть?', attachments: [] });
    expect(r).toMatchObject({ leadId: first.leadId, createdLead: false });
    expect(notesOf(e, Number(first.leadId))).toHaveLength(2);
  });

  it('caller-ID lookup finds the contact and its open lead', async () => {
    const first = await e.deliver(leadTask('site:ev1:0'));
    const info = await amocrm.lookupPhone!(e.rt.io, e.settings, '+79123456789');
    expect(info).toMatchObject({ contactId: first.contactId, openLeadId: first.leadId, responsibleName: 'Администратор' });
    expect(await amocrm.lookupPhone!(e.rt.io, e.settings, '+79990000000')).toBeNull();
  });
});

describe('amocrm OAuth against the emulator', () => {
  let e: Env;
  beforeEach(async () => {
    resetRateLimitMemory();
    e = await startEnv({ auth: 'oauth' });
  });
  afterEach(async () => {
    await stopEnv(e);
  });

  it('the code exchange stores the pair; after token expiry 4 concurrent deliveries refresh exactly once', async () => {
    const { exchangeAuthCode } = await import('./auth.ts');
    const settings = e.settings;
    await exchangeAuthCode(e.rt.io, settings, e.emu.state.auth.issueAuthCode());
    expect(e.emu.stats.codeExchanges).toBe(1);
    e.facts = await e.rt.facts();
    e.emu.faults.expireAccessTokens();
    const phones = ['+79120000001', '+79120000002', '+79120000003', '+79120000004'];
    const receipts = await Promise.all(phones.map((p, i) => e.deliver(leadTask(`site:ev${i}:0`, leadInput({ externalId: `ev-${i}`, contact: { phonesE164: [p], emails: [] } })))));
    expect(receipts.every((r) => r.createdLead)).toBe(true);
    expect(e.emu.stats.refreshes).toBe(1);
    expect(e.emu.state.counts()).toMatchObject({ contacts: 4, leads: 4, notes: 4, tasks: 4 });
    const stored = JSON.parse((await e.redis.get(e.keys.tokens(ACCOUNT_ID)))!) as StoredTokens;
    expect(e.emu.state.auth.verify(stored.accessToken)).not.toBeNull();
  });

  it('without stored tokens inspect reports the command to run', async () => {
    const facts = await amocrm.inspect(e.rt.io, e.settings);
    expect(facts.problems.join('\n')).toContain('npx leadgate oauth amocrm');
  });
});
