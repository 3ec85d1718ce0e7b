/** Bitrix24 connector: whole deliveries against the emulator with a real CrmIO built the way the worker builds it (src/pipeline/crm-runtime.ts). */
import { resolve } from 'node:path';
import pino from 'pino';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { formatPhone, LeadSchema, type CallRecord, type CrmIO, type DeliveryReceipt, type DeliveryTask, type LeadInput } from '#sdk';
import { makeKeys, type Keys } from '../../../src/infra/keys.ts';
import { createAccountRuntime, type AccountRuntime } from '../../../src/pipeline/crm-runtime.ts';
import { createJournal } from '../../../src/pipeline/journal.ts';
import { loadMapping, type Mapping } from '../../../src/mapping/load.ts';
import { applyMapping } from '../../../src/mapping/apply.ts';
import { dueAt, renderLeadNote } from '../../../src/domain/note-text.ts';
import { cleanupPrefix, TEST_REDIS_URL, uniquePrefix } from '../../../test/support/redis.ts';
import { startBitrixEmulator, type RunningBitrixEmulator } from '../../../test/emulators/bitrix24/index.ts';
import { bitrix24Crm } from './index.ts';
import { createBitrixClient, prefixGroup } from './client.ts';
import { resetRateLimitMemory } from './classify.ts';
import { BitrixSettingsSchema, type BitrixSettings } from './settings.ts';
const log = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
// ---------------------------------------------------------------------------------------------
// the emulator, with a real CrmIO
// ---------------------------------------------------------------------------------------------

const WEBHOOK_ENV = 'B24_TEST_WEBHOOK_URL';
const SECRET_ENV = 'B24_TEST_CLIENT_SECRET';
const REFRESH_ENV = 'B24_TEST_REFRESH_TOKEN';

interface Account {
  runtime: AccountRuntime;
  settings: BitrixSettings;
  mapping: Mapping;
  keys: Keys;
  deliver(task: DeliveryTask, journalKey?: string): Promise<DeliveryReceipt>;
}

describe('bitrix24 connector against the emulator', () => {
  let emu: RunningBitrixEmulator;
  let redis: Redis;
  const prefixes: string[] = [];

  beforeAll(async () => {
    emu = await startBitrixEmulator();
    redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 3 });
  });
  afterAll(async () => {
    redis.disconnect();
    await emu.close();
  });
  beforeEach(() => {
    emu.reset();
    emu.state.setCrmMode('classic');
    resetRateLimitMemory();
    process.env[WEBHOOK_ENV] = emu.webhookUrl;
  });
  afterEach(async () => {
    for (const p of prefixes.splice(0)) await cleanupPrefix(p);
  });

  function account(settings: Record<string, unknown> = {}): Account {
    const s = BitrixSettingsSchema.parse({ auth: 'webhook', webhookUrlEnv: WEBHOOK_ENV, ...settings });
    const mapping = loadMapping(resolve('mappings/bitrix24.yaml'), 'bitrix24');
    const prefix = uniquePrefix();
    prefixes.push(prefix);
    const keys = makeKeys(prefix);
    const runtime = createAccountRuntime({ account: { config: { id: 'b24', connector: 'bitrix24', settings }, connector: bitrix24Crm, settings: s, mapping }, redis, keys, log });
    return {
      runtime,
      settings: s,
      mapping,
      keys,
      async deliver(task, journalKey = task.key) {
        const facts = await runtime.facts();
        return bitrix24Crm.deliver(runtime.io, s, task, createJournal(redis, keys.journal(`b24:${journalKey}`), 3600), facts);
      },
    };
  }

  function oauthAccount(settings: Record<string, unknown> = {}): Account {
    const pair = emu.state.oauth.issuePair();
    process.env[SECRET_ENV] = emu.oauth.clientSecret;
    process.env[REFRESH_ENV] = pair.refresh_token;
    return account({ auth: 'oauth', portalUrl: emu.url, clientId: emu.oauth.clientId, clientSecretEnv: SECRET_ENV, initialRefreshTokenEnv: REFRESH_ENV, tokenUrl: emu.oauth.tokenUrl, ...settings });
  }

  let seq = 0;
  function leadTask(a: Account, input: Partial<LeadInput> & { contact?: LeadInput['contact'] } = {}, opts: Partial<Extract<DeliveryTask, { kind: 'lead' }>> = {}): Extract<DeliveryTask, { kind: 'lead' }> {
    const n = ++seq;
    const lead = LeadSchema.parse({
      source: { channel: 'form', sourceId: 'site', name: 'Сайт acme.ru' },
      externalId: `ev-${n}`,
      contact: { name: 'Иван Петров', phonesE164: ['+79123456789'], emails: ['ivan@example.ru'] },
      title: 'Заявка с сайта',
      message: 'Нужен расчёт',
      utm: { source: 'yandex', medium: 'cpc', campaign: 'brand' },
      occurredAt: '2026-05-14T07:26:32.000Z',
      ...input,
    });
    const receivedAt = '2026-05-14T07:26:33.000Z';
    return {
      kind: 'lead',
      key: `site:${lead.externalId}:0`,
      lead,
      repeatPolicy: 'note-on-open-lead',
      placement: { kind: 'incoming' },
      fields: applyMapping(a.mapping, lead, process.env),
      phoneFormat: a.mapping.phoneFormat,
      noteText: renderLeadNote(lead, a.mapping.phoneFormat),
      task: { text: 'Связаться с клиентом', dueAt: dueAt(receivedAt, 15) },
      ...opts,
    };
  }

  const todos = () => [...emu.state.activities.values()].filter((a) => a.kind === 'todo');
  const counts = () => ({ contacts: emu.state.contacts.size, leads: emu.state.leads.size, deals: emu.state.deals.size, comments: emu.state.comments.size, todos: todos().length });

  async function seedContact(fields: Record<string, unknown>): Promise<number> {
    const res = await fetch(`${emu.webhookUrl}crm.contact.add`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ fields }) });
    return ((await res.json()) as { result: number }).result;
  }

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

  function callTask(a: Account, call: Partial<CallRecord>, callbackTask: { text: string; dueAt: string } | null = null): Extract<DeliveryTask, { kind: 'call' }> {
    const record: CallRecord = {
      source: { channel: 'mango', sourceId: 'pbx', name: 'Телефония' },
      provider: 'mango',
      providerCallId: 'call-1',
      direction: 'inbound',
      from: '+79161234567',
      fromE164: '+79161234567',
      to: '+74951234567',
      line: '74951234567',
      extension: '107',
      startedAt: '2026-05-14T07:20:00.000Z',
      answeredAt: '2026-05-14T07:20:10.000Z',
      endedAt: '2026-05-14T07:21:45.000Z',
      durationSec: 105,
      talkSec: 95,
      status: 'answered',
      state: 'ended',
      eventIds: ['e1', 'e2'],
      occurredAt: '2026-05-14T07:20:00.000Z',
      ...call,
    };
    return { kind: 'call', key: `${record.provider}:pbx:${record.providerCallId}`, call: record, callbackTask, phoneFormat: a.mapping.phoneFormat, fields: [], sourceName: 'Телефония' };
  }

  it('a call: register → finish → attachRecord, the unknown caller becomes a lead; the recording arriving later is attached once', async () => {
    const a = oauthAccount();
    const ended = callTask(a, {});
    const first = await a.deliver(ended, 'call-1');
    expect(emu.state.externalCalls.size).toBe(1);
    const ext = [...emu.state.externalCalls.values()][0]!;
    expect(ext).toMatchObject({ TYPE: 2, USER_ID: 7, LINE_NUMBER: '74951234567', EXTERNAL_CALL_ID: 'mango:pbx:call-1' });
    expect(ext.finished).toMatchObject({ CALL_DURATION: 95, CALL_FAILED_CODE: '200' });
    expect(ext.records).toEqual([]);
    const lead = [...emu.state.leads.values()][0]!;
    expect(lead).toMatchObject({ SOURCE_ID: 'CALL', SOURCE_DESCRIPTION: 'Телефония, линия 74951234567', ORIGINATOR_ID: 'leadgate' });
    expect(first).toMatchObject({ createdLead: true, leadId: String(lead.ID) });
    const recorded = callTask(a, { state: 'recorded', recording: { url: 'https://pbx.example.ru/rec/call-1.mp3' } });
    await a.deliver(recorded, 'call-1');
    await a.deliver(recorded, 'call-1');
    expect(emu.state.externalCalls.size).toBe(1);
    expect(ext.records).toEqual([expect.objectContaining({ FILENAME: 'call-1.mp3', source: 'url' })]);
    expect(emu.stats.methodCalls.get('telephony.externalcall.register')).toBe(1);
    expect(emu.stats.methodCalls.get('telephony.externalcall.finish')).toBe(1);
    expect(emu.stats.methodCalls.get('telephony.externalcall.attachrecord')).toBe(1);
    expect([...emu.state.activities.values()].filter((x) => x.kind === 'call')).toHaveLength(1);
    expect(todos()).toHaveLength(0);
  });

  it('a missed inbound call → finish with 304 and the "Перезвонить клиенту" to-do, once', async () => {
    const a = oauthAccount();
    const t = callTask(a, { providerCallId: 'call-2', status: 'missed', state: 'missed', talkSec: 0, answeredAt: undefined, extension: undefined }, { text: 'Перезвонить клиенту', dueAt: '2026-05-14T07:36:45.000Z' });
    await a.deliver(t, 'call-2');
    await a.deliver(t, 'call-2');
    const ext = [...emu.state.externalCalls.values()][0]!;
    expect(ext.finished).toMatchObject({ CALL_FAILED_CODE: '304', CALL_DURATION: 0 });
    expect(todos()).toHaveLength(1);
    const lead = [...emu.state.leads.values()][0]!;
    expect(todos()[0]).toMatchObject({ SUBJECT: 'Перезвонить клиенту', OWNER_TYPE_ID: 1, OWNER_ID: Number(lead.ID) });
  });

  it('finish executed but its answer lost → the retry treats "call is not found" as done', async () => {
    const a = oauthAccount();
    emu.faults.failNext(1, 502, { method: 'telephony.externalcall.finish', afterExecution: true });
    const t = callTask(a, { providerCallId: 'call-3' });
    const err = await a.deliver(t, 'call-3').catch((e: unknown) => e);
    expect(bitrix24Crm.classify(err)).toMatchObject({ kind: 'retry' });
    await a.deliver(t, 'call-3');
    expect([...emu.state.externalCalls.values()][0]!.finished).not.toBeNull();
    expect([...emu.state.activities.values()].filter((x) => x.kind === 'call')).toHaveLength(1);
  });

  describe('calls and assignment rules', () => {
    const callback = { text: 'Перезвонить клиенту', dueAt: '2026-05-14T07:36:45.000Z' };
    const missed = { status: 'missed' as const, state: 'missed' as const, talkSec: 0, answeredAt: undefined };

    it('an unknown caller\'s missed call (the extension that rang is known) → registered for the rules\' pick: its lead and call-back to-do; asked once', async () => {
      const a = oauthAccount();
      let asked = 0;
      const seen: unknown[] = [];
      const t = { ...callTask(a, { providerCallId: 'rr-1', ...missed }, callback), assignResponsible: async (found: unknown) => (asked++, seen.push(found), '1') };
      const r = await a.deliver(t, 'rr-1');
      await a.deliver({ ...t, call: { ...t.call, state: 'recorded', recording: { url: 'https://pbx.example.ru/rec/rr-1.mp3' } } }, 'rr-1');
      expect(asked).toBe(1);
      expect(seen).toEqual([{}]);
      const ext = [...emu.state.externalCalls.values()][0]!;
      expect(ext).toMatchObject({ USER_ID: 1 });
      expect(ext.finished).toMatchObject({ PORTAL_USER_ID: 1, CALL_FAILED_CODE: '304' });
      const lead = [...emu.state.leads.values()][0]!;
      expect(String(lead.ASSIGNED_BY_ID)).toBe('1');
      expect(r).toMatchObject({ createdLead: true, leadId: String(lead.ID) });
      expect(todos()).toHaveLength(1);
      expect(todos()[0]).toMatchObject({ RESPONSIBLE_ID: 1, OWNER_ID: Number(lead.ID) });
    });

    it('a known contact\'s missed call → the rules see its manager and open lead (sticky); the call and to-do are theirs', async () => {
      const a = oauthAccount();
      const contactId = await seedContact({ NAME: 'Анна', PHONE: [{ VALUE: '8 (916) 123-45-67', VALUE_TYPE: 'WORK' }], ASSIGNED_BY_ID: 7 });
      const seen: unknown[] = [];
      const t = { ...callTask(a, { providerCallId: 'rr-2', ...missed, extension: undefined }, callback), assignResponsible: async (found: { contactResponsibleId?: string }) => (seen.push(found), found.contactResponsibleId) };
      await a.deliver(t, 'rr-2');
      expect(seen).toEqual([{ contactResponsibleId: '7' }]);
      expect([...emu.state.externalCalls.values()][0]).toMatchObject({ USER_ID: 7, CRM_ENTITY_TYPE: 'CONTACT', CRM_ENTITY_ID: contactId });
      expect(emu.state.leads.size).toBe(0);
      expect(todos()[0]).toMatchObject({ RESPONSIBLE_ID: 7 });
    });

    it('a call answered by a known extension stays that employee\'s: the rules are not asked', async () => {
      const a = oauthAccount();
      let asked = 0;
      const t = { ...callTask(a, { providerCallId: 'rr-3' }), assignResponsible: async () => (asked++, '1') };
      await a.deliver(t, 'rr-3');
      expect(asked).toBe(0);
      expect([...emu.state.externalCalls.values()][0]).toMatchObject({ USER_ID: 7 });
      expect(String([...emu.state.leads.values()][0]!.ASSIGNED_BY_ID)).toBe('7');
    });
  });

  describe('messages: a phone or e-mail shared after the lead exists', () => {
    function messageTask(a: Account, leadId: string, key: string, contact: { phonesE164?: string[]; emails?: string[] }): Extract<DeliveryTask, { kind: 'message' }> {
      return { kind: 'message', key, contact: { phonesE164: contact.phonesE164 ?? [], phonesUnparsed: [], emails: contact.emails ?? [] }, threadLeadId: leadId, noteText: 'Поделился своим номером', attachments: [], addToContact: { phoneFormat: a.mapping.phoneFormat } };
    }

    it('joins the lead\'s contact once (formatted per the account, existing values kept); a retry adds nothing', async () => {
      const a = account();
      const first = await a.deliver(leadTask(a, { contact: { name: 'Telegram', phonesE164: [], emails: ['old@example.ru'], messenger: { kind: 'telegram', userId: '42' } } }));
      const contact = [...emu.state.contacts.values()][0]!;
      const t = messageTask(a, first.leadId!, 'tg:upd-2:0', { phonesE164: ['+79161230001'], emails: ['old@example.ru', 'new@example.ru'] });
      await a.deliver(t);
      await a.deliver(t);
      expect(emu.state.contacts.size).toBe(1);
      const shown = formatPhone('+79161230001', a.mapping.phoneFormat);
      const values = (k: string) => ((contact[k] ?? []) as { VALUE: string }[]).map((p) => p.VALUE);
      expect(values('PHONE')).toEqual([shown]);
      expect(values('EMAIL')).toEqual(['old@example.ru', 'new@example.ru']);
      expect(emu.stats.methodCalls.get('crm.contact.update')).toBe(1);
      const comments = [...emu.state.comments.values()].filter((c) => c.COMMENT.startsWith('Поделился'));
      expect(comments).toHaveLength(1);
      expect(comments[0]!.COMMENT).toContain(`Добавлено в контакт: ${shown}`);
    });

    it('a phone another contact owns is only noted: no update, no merge', async () => {
      const a = account();
      const first = await a.deliver(leadTask(a, { contact: { name: 'Telegram', phonesE164: [], emails: [], messenger: { kind: 'telegram', userId: '43' } } }));
      const other = await seedContact({ NAME: 'Другой', PHONE: [{ VALUE: '89161230002', VALUE_TYPE: 'WORK' }] });
      await a.deliver(messageTask(a, first.leadId!, 'tg:upd-3:0', { phonesE164: ['+79161230002'] }));
      expect(emu.stats.methodCalls.get('crm.contact.update') ?? 0).toBe(0);
      const mine = [...emu.state.contacts.values()].find((c) => c.ID !== other)!;
      expect(mine.PHONE ?? []).toEqual([]);
      const comment = [...emu.state.comments.values()].find((c) => c.COMMENT.startsWith('Поделился'))!;
      expect(comment.COMMENT).toContain(`уже есть у другого контакта (id ${other})`);
    });
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
