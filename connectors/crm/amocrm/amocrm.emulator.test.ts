/** amoCRM connector against the emulator through a real CrmIO (Redis limiter, credential store, journal). */
import { resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import pino from 'pino';
import { Redis } from 'ioredis';
import { CrmError, type AccountFacts, type DeliveryTask, type StoredTokens } from '#sdk';
import { makeKeys, type Keys } from '../../../src/infra/keys.ts';
import { createAccountRuntime, type AccountRuntime } from '../../../src/pipeline/crm-runtime.ts';
import { createJournal } from '../../../src/pipeline/journal.ts';
import { loadMapping } from '../../../src/mapping/load.ts';
import { applyMapping } from '../../../src/mapping/apply.ts';
import { renderLeadNote } from '../../../src/domain/note-text.ts';
import type { Lead, LeadInput } from '../../../src/sdk/lead.ts';
import { LeadSchema } from '../../../src/sdk/lead.ts';
import { cleanupPrefix, TEST_REDIS_URL, uniquePrefix } from '../../../test/support/redis.ts';
import { startAmoEmulator, SEED, type RunningAmoEmulator } from '../../../test/emulators/amocrm/index.ts';
import { amocrm } from './index.ts';
import { findCrm } from '../../index.ts';
import { AmoSettingsSchema, type AmoSettings } from './settings.ts';
import { resetRateLimitMemory } from './classify.ts';
import { amoClient } from './client.ts';
const silent = pino({ level: 'silent' });
// ------------------------------------------------------------------ against the emulator

const ACCOUNT_ID = 'acme';
const TOKEN_ENV = 'LG_TEST_AMO_TOKEN';
const SECRET_ENV = 'LG_TEST_AMO_SECRET';

interface Env {
  emu: RunningAmoEmulator;
  redis: Redis;
  prefix: string;
  keys: Keys;
  rt: AccountRuntime;
  settings: AmoSettings;
  facts: AccountFacts;
  deliver(task: DeliveryTask, journalName?: string): ReturnType<typeof amocrm.deliver>;
  journalKey(name: string): string;
}

function leadInput(over: Partial<LeadInput> = {}): Lead {
  return LeadSchema.parse({
    source: { channel: 'form', sourceId: 'site', name: 'Сайт acme.ru' },
    externalId: 'ev-1',
    title: 'Заявка с сайта',
    message: 'Перезвоните, пожалуйста',
    contact: { name: 'Ирина', phonesE164: ['+79123456789'], emails: ['irina@example.ru'] },
    utm: { source: 'yandex', medium: 'cpc', campaign: 'brand' },
    tracking: { yclid: '123456', referrer: 'https://ya.ru/', pageUrl: 'https://acme.ru/pricing' },
    occurredAt: '2026-11-23T09:00:00.000Z',
    ...over,
  });
}

function leadTask(key: string, lead: Lead = leadInput(), over: Partial<Extract<DeliveryTask, { kind: 'lead' }>> = {}): DeliveryTask {
  const mapping = loadMapping(resolve('mappings/amocrm.yaml'), 'amocrm');
  return {
    kind: 'lead',
    key,
    lead,
    repeatPolicy: 'note-on-open-lead',
    placement: { kind: 'incoming' },
    fields: applyMapping(mapping, lead, {}),
    phoneFormat: 'ru-display',
    noteText: renderLeadNote(lead),
    task: { text: 'Связаться с клиентом', dueAt: '2026-11-23T09:15:00.000Z' },
    ...over,
  };
}

async function startEnv(o: { auth?: 'long-lived' | 'oauth'; emulator?: Parameters<typeof startAmoEmulator>[0]; settings?: Record<string, unknown> } = {}): Promise<Env> {
  const emu = await startAmoEmulator(o.emulator ?? {});
  const prefix = uniquePrefix();
  const keys = makeKeys(prefix);
  const redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
  process.env[TOKEN_ENV] = emu.token;
  process.env[SECRET_ENV] = emu.options.oauth.clientSecret;
  const auth = o.auth ?? 'long-lived';
  const settings = AmoSettingsSchema.parse({
    baseUrl: emu.url,
    auth,
    ...(auth === 'long-lived' ? { tokenEnv: TOKEN_ENV } : { clientId: emu.options.oauth.clientId, clientSecretEnv: SECRET_ENV, redirectUri: emu.options.oauth.redirectUri }),
    ...o.settings,
  });
  const mapping = loadMapping(resolve('mappings/amocrm.yaml'), 'amocrm');
  const rt = createAccountRuntime({
    account: { config: { id: ACCOUNT_ID, connector: 'amocrm', settings: {} }, connector: findCrm('amocrm')!, settings, mapping },
    redis,
    keys,
    log: silent,
  });
  const env: Env = {
    emu,
    redis,
    prefix,
    keys,
    rt,
    settings,
    facts: { fields: [], problems: [], warnings: [], meta: {} },
    journalKey: (name) => keys.journal(`${ACCOUNT_ID}:${name}`),
    deliver: (task, journalName = task.key) => amocrm.deliver(rt.io, settings, task, createJournal(redis, env.journalKey(journalName), 3600), env.facts),
  };
  return env;
}

async function stopEnv(e: Env): Promise<void> {
  await e.emu.close();
  e.redis.disconnect();
  await cleanupPrefix(e.prefix);
}

const notesOf = (e: Env, leadId: number) => [...e.emu.state.notes.values()].filter((n) => n.entity_type === 'leads' && n.entity_id === leadId);
const cf = (values: { field_code: string | null; values: { value: unknown }[] }[], code: string) => values.find((v) => v.field_code === code)?.values[0]?.value;

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

  it('calls: an unknown missed caller lands in Unsorted (sip) with a callback task; the late recording edits the call note', async () => {
    const call = {
      source: { channel: 'mango', sourceId: 'pbx', name: 'Mango' },
      provider: 'mango',
      providerCallId: 'c-1',
      direction: 'inbound' as const,
      fromE164: '+79161234567',
      line: '+74950000000',
      startedAt: '2026-11-23T09:00:00.000Z',
      endedAt: '2026-11-23T09:00:30.000Z',
      durationSec: 30,
      status: 'missed' as const,
      occurredAt: '2026-11-23T09:00:30.000Z',
      eventIds: ['e1'],
    };
    const base = { kind: 'call' as const, key: 'mango:pbx:c-1', phoneFormat: 'ru-display' as const, fields: [], sourceName: 'Mango' };
    const missed = await e.deliver({ ...base, call: { ...call, state: 'missed' }, callbackTask: { text: 'Перезвонить клиенту', dueAt: '2026-11-23T09:15:30.000Z' } }, 'call:c-1');
    const s = e.emu.state;
    expect(s.counts()).toMatchObject({ contacts: 1, leads: 1, unsorted: 1, tasks: 1 });
    expect([...s.unsorted.values()][0]!.category).toBe('sip');
    const callNotes = [...s.notes.values()].filter((n) => n.note_type === 'call_in');
    expect(callNotes).toHaveLength(1);
    expect(missed.createdLead).toBe(true);
    const recorded = await e.deliver({ ...base, call: { ...call, state: 'recorded', recording: { url: 'https://rec.example.ru/c-1.mp3' } }, callbackTask: { text: 'Перезвонить клиенту', dueAt: '2026-11-23T09:15:30.000Z' } }, 'call:c-1');
    expect(recorded.leadId).toBe(missed.leadId);
    expect(s.counts()).toMatchObject({ leads: 1, tasks: 1 });
    // The call note amoCRM wrote for the Unsorted call now carries the link, its other params sent back whole; no second note.
    expect([...s.notes.values()].filter((n) => String(n.params.text ?? '').includes('c-1.mp3'))).toHaveLength(0);
    expect([...s.notes.values()].filter((n) => n.note_type === 'call_in')).toEqual([expect.objectContaining({ params: expect.objectContaining({ uniq: 'mango:pbx:c-1', link: 'https://rec.example.ru/c-1.mp3', duration: 30, call_status: 6, phone: '+7 (916) 123-45-67' }) })]);
    // A known caller: a call note on the open lead.
    const known = await e.deliver({ ...base, key: 'mango:pbx:c-2', call: { ...call, providerCallId: 'c-2', status: 'answered', talkSec: 25, state: 'ended' }, callbackTask: null }, 'call:c-2');
    expect(known).toMatchObject({ leadId: missed.leadId, createdLead: false });
    const note = s.notes.get(Number(known.noteId))!;
    expect(note).toMatchObject({ note_type: 'call_in', entity_id: Number(missed.leadId) });
    expect(note.params).toMatchObject({ uniq: 'mango:pbx:c-2', duration: 25, call_status: 4, phone: '+7 (916) 123-45-67' });
    // Its recording arrives later: that note gets the link (PATCH), twice delivered → still one note, no common note.
    const late = { ...base, key: 'mango:pbx:c-2', call: { ...call, providerCallId: 'c-2', status: 'answered' as const, talkSec: 25, state: 'recorded' as const, recording: { url: 'https://rec.example.ru/c-2.mp3' } }, callbackTask: null };
    await e.deliver(late, 'call:c-2');
    await e.deliver(late, 'call:c-2');
    expect([...s.notes.values()].filter((n) => n.params.uniq === 'mango:pbx:c-2')).toHaveLength(1);
    expect(s.notes.get(Number(known.noteId))!.params).toMatchObject({ uniq: 'mango:pbx:c-2', duration: 25, call_status: 4, link: 'https://rec.example.ru/c-2.mp3' });
    expect([...s.notes.values()].filter((n) => String(n.params.text ?? '').includes('c-2.mp3'))).toHaveLength(0);
  });

  describe('calls with assignment rules, messages sharing a phone', () => {
    const call = {
      source: { channel: 'mango', sourceId: 'pbx', name: 'Mango' },
      provider: 'mango',
      providerCallId: 'a-1',
      direction: 'inbound' as const,
      fromE164: '+79161239999',
      line: '+74950000000',
      startedAt: '2026-11-23T09:00:00.000Z',
      endedAt: '2026-11-23T09:00:30.000Z',
      durationSec: 30,
      status: 'missed' as const,
      state: 'missed' as const,
      occurredAt: '2026-11-23T09:00:30.000Z',
      eventIds: ['e1'],
    };
    const callback = { text: 'Перезвонить клиенту', dueAt: '2026-11-23T09:15:30.000Z' };
    const base = { kind: 'call' as const, phoneFormat: 'ru-display' as const, fields: [], sourceName: 'Mango', callbackTask: callback };

    it('an unknown caller\'s missed call: the Unsorted lead, its contact and the call-back task go to the rules\' pick, asked once', async () => {
      let asked = 0;
      const seen: unknown[] = [];
      const t = { ...base, key: 'mango:pbx:a-1', call, assignResponsible: async (found: unknown) => (asked++, seen.push(found), String(SEED.managerUserId)) };
      const r = await e.deliver(t, 'call:a-1');
      await e.deliver({ ...t, call: { ...call, state: 'recorded' as const, recording: { url: 'https://rec.example.ru/a-1.mp3' } } }, 'call:a-1');
      expect(asked).toBe(1);
      expect(seen).toEqual([{}]);
      const s = e.emu.state;
      const lead = s.leads.get(Number(r.leadId))!;
      expect(lead.responsible_user_id).toBe(SEED.managerUserId);
      expect(s.contacts.get(Number(r.contactId))!.responsible_user_id).toBe(SEED.managerUserId);
      expect([...s.tasks.values()]).toEqual([expect.objectContaining({ text: 'Перезвонить клиенту', responsible_user_id: SEED.managerUserId, entity_id: lead.id })]);
    });

    it('a known contact\'s missed call: the rules get its manager and open lead\'s (sticky), the call-back task goes to their answer', async () => {
      const first = await e.deliver(leadTask('site:k1:0', leadInput({ contact: { phonesE164: ['+79161239999'], emails: [] } })));
      const seen: unknown[] = [];
      const t = { ...base, key: 'mango:pbx:a-2', call: { ...call, providerCallId: 'a-2' }, assignResponsible: async (found: unknown) => (seen.push(found), String(SEED.managerUserId)) };
      const r = await e.deliver(t, 'call:a-2');
      const lead = e.emu.state.leads.get(Number(first.leadId))!;
      expect(seen).toEqual([{ contactResponsibleId: String(lead.responsible_user_id), openLeadResponsibleId: String(lead.responsible_user_id) }]);
      expect(r).toMatchObject({ leadId: first.leadId, createdLead: false });
      expect([...e.emu.state.tasks.values()].filter((x) => x.text === 'Перезвонить клиенту')).toEqual([expect.objectContaining({ responsible_user_id: SEED.managerUserId, entity_id: lead.id })]);
    });

    const message = (leadId: string, key: string, phonesE164: string[]): DeliveryTask => ({
      kind: 'message',
      key,
      contact: { phonesE164, phonesUnparsed: [], emails: [] },
      threadLeadId: leadId,
      noteText: 'Поделился своим номером',
      attachments: [],
      addToContact: { phoneFormat: 'ru-display' },
    });

    it('a phone shared in the chat joins the lead\'s contact once: PATCH with the existing values kept, formatted', async () => {
      const first = await e.deliver(leadTask('tg:1:0', leadInput({ contact: { name: 'Telegram', phonesE164: ['+79160000001'], emails: [] } })));
      const t = message(first.leadId!, 'tg:2:0', ['+79161230001']);
      await e.deliver(t);
      await e.deliver(t);
      const c = e.emu.state.contacts.get(Number(first.contactId))!;
      expect(c.custom_fields_values.filter((f) => f.field_code === 'PHONE').flatMap((f) => f.values.map((v) => v.value))).toEqual(['+7 (916) 000-00-01', '+7 (916) 123-00-01']);
      const notes = notesOf(e, Number(first.leadId)).filter((n) => String(n.params.text).startsWith('Поделился'));
      expect(notes).toHaveLength(1);
      expect(String(notes[0]!.params.text)).toContain('Добавлено в контакт: +7 (916) 123-00-01');
      expect(e.emu.stats.requests.filter((q) => q.method === 'PATCH' && q.path.startsWith('/api/v4/contacts/'))).toHaveLength(1);
    });

    it('a phone another contact owns is only noted: the lead\'s contact is not changed, nothing is merged', async () => {
      const first = await e.deliver(leadTask('tg:3:0', leadInput({ contact: { name: 'Telegram', phonesE164: ['+79160000003'], emails: [] } })));
      const other = await e.deliver(leadTask('site:o:0', leadInput({ externalId: 'ev-o', contact: { name: 'Другой', phonesE164: ['+79161230002'], emails: [] } })));
      await e.deliver(message(first.leadId!, 'tg:4:0', ['+79161230002']));
      const c = e.emu.state.contacts.get(Number(first.contactId))!;
      expect(c.custom_fields_values.filter((f) => f.field_code === 'PHONE').flatMap((f) => f.values.map((v) => v.value))).toEqual(['+7 (916) 000-00-03']);
      const note = notesOf(e, Number(first.leadId)).find((n) => String(n.params.text).startsWith('Поделился'))!;
      expect(String(note.params.text)).toContain(`уже есть у другого контакта (id ${other.contactId})`);
    });
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
    expect(failures[0]).toMatchObject({ kind: 'retry', cause: expect.stringContaining('because of another lead') });
    expect(failures[2]).toMatchObject({ kind: 'retry' });
    expect(e.emu.state.counts()).toMatchObject({ leads: 0, unsorted: 0 });
  });
});
