/**
 * Bitrix24 connector: `classify` and the client against nock (one test per vendor error, a redirect), then whole
 * deliveries against the Bitrix24 emulator with a real CrmIO (shared Redis limiter, token store, journal) built
 * the way the worker builds it (src/pipeline/crm-runtime.ts).
 */
import { resolve } from 'node:path';
import nock from 'nock';
import pino from 'pino';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CrmError, HttpError, LeadSchema, type CallRecord, type CrmIO, type DeliveryReceipt, type DeliveryTask, type LeadInput, type StoredTokens } from '#sdk';
import { createHttpClient } from '../../../src/infra/http.ts';
import { makeKeys, type Keys } from '../../../src/infra/keys.ts';
import { createAccountRuntime, type AccountRuntime } from '../../../src/pipeline/crm-runtime.ts';
import { createJournal } from '../../../src/pipeline/journal.ts';
import { loadMapping, type Mapping } from '../../../src/mapping/load.ts';
import { applyMapping } from '../../../src/mapping/apply.ts';
import { dueAt, renderLeadNote } from '../../../src/domain/note-text.ts';
import { cleanupPrefix, TEST_REDIS_URL, uniquePrefix } from '../../../test/support/redis.ts';
import { startBitrixEmulator, type RunningBitrixEmulator } from '../../../test/emulators/bitrix24/index.ts';
import { bitrix24Crm } from './index.ts';
import { onUnauthorized } from './auth.ts';
import { classifyBitrix, resetRateLimitMemory } from './classify.ts';
import { BitrixApiError, createBitrixClient } from './client.ts';
import { BitrixSettingsSchema, type BitrixSettings } from './settings.ts';

const log = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

// ---------------------------------------------------------------------------------------------
// nock: one test per vendor error
// ---------------------------------------------------------------------------------------------

const PORTAL = 'https://acme.bitrix24.ru';
const HOOK_PATH = '/rest/1/s3cr3tc0de/';

function memoryIo(): CrmIO {
  const cache = new Map<string, string>();
  let tokens: StoredTokens | null = null;
  return {
    http: createHttpClient({ baseUrl: '' }),
    log,
    credentials: { get: async () => tokens, put: async (t) => void (tokens = t), withLock: (fn) => fn() },
    now: () => new Date(),
    cache: { get: async (k) => cache.get(k) ?? null, set: async (k, v) => void cache.set(k, v) },
  };
}

const webhookSettings = (): BitrixSettings => BitrixSettingsSchema.parse({ auth: 'webhook', webhookUrlEnv: 'B24_UNIT_WEBHOOK', timeoutMs: 1_000 });

async function failureOf(p: Promise<unknown>): Promise<ReturnType<typeof classifyBitrix>> {
  try {
    await p;
  } catch (err) {
    return classifyBitrix(err);
  }
  throw new Error('expected the call to fail');
}

describe('bitrix24 classify (nock)', () => {
  beforeAll(() => {
    process.env.B24_UNIT_WEBHOOK = `${PORTAL}${HOOK_PATH}`;
    nock.disableNetConnect();
    nock.enableNetConnect(/127\.0\.0\.1|localhost/);
  });
  afterEach(() => {
    nock.cleanAll();
    resetRateLimitMemory();
  });
  afterAll(() => {
    nock.enableNetConnect();
  });
  const api = () => nock(PORTAL);
  const client = () => createBitrixClient(memoryIo(), webhookSettings());

  it('sends POST JSON to the webhook URL and returns result', async () => {
    api().post(`${HOOK_PATH}crm.lead.add`, (b) => b.fields.TITLE === 'x').reply(200, { result: 42, time: {} });
    expect(await client().call('crm.lead.add', { fields: { TITLE: 'x' } })).toBe(42);
  });

  it('503 QUERY_LIMIT_EXCEEDED → retry in about a second; repeated → pause the account', async () => {
    api().post(`${HOOK_PATH}crm.lead.add`).times(3).reply(503, { error: 'QUERY_LIMIT_EXCEEDED', error_description: 'Too many requests' });
    const c = client();
    const first = await failureOf(c.call('crm.lead.add', {}));
    expect(first).toMatchObject({ kind: 'retry' });
    expect(first.kind === 'retry' && first.afterMs).toBeGreaterThanOrEqual(1_000);
    expect(first.kind === 'retry' && first.afterMs).toBeLessThan(2_000);
    expect(first.kind === 'retry' && first.pauseAccount).toBeFalsy();
    await failureOf(c.call('crm.lead.add', {}));
    const third = await failureOf(c.call('crm.lead.add', {}));
    expect(third).toMatchObject({ kind: 'retry', pauseAccount: true });
  });

  it('429 OPERATION_TIME_LIMIT → retry when the method budget resets (last seen operating_reset_at)', async () => {
    const resetAt = Math.floor(Date.now() / 1000) + 120;
    api().post(`${HOOK_PATH}crm.lead.add`).reply(200, { result: 1, time: { operating: 400, operating_reset_at: resetAt } });
    api().post(`${HOOK_PATH}crm.lead.add`).reply(429, { error: 'OPERATION_TIME_LIMIT', error_description: 'Method is blocked due to operation time limit.' });
    const c = client();
    await c.call('crm.lead.add', {});
    const f = await failureOf(c.call('crm.lead.add', {}));
    expect(f.kind).toBe('retry');
    if (f.kind !== 'retry') return;
    expect(f.afterMs).toBeGreaterThan(100_000);
    expect(f.afterMs).toBeLessThan(130_000);
    expect(f.pauseAccount).toBeFalsy();
    expect(f.cause).toMatch(/ALERT/);
  });

  it('429 OPERATION_TIME_LIMIT without a known reset → wait the 10-minute window', async () => {
    api().post(`${HOOK_PATH}crm.deal.add`).reply(429, { error: 'OPERATION_TIME_LIMIT', error_description: 'Method is blocked due to operation time limit.' });
    expect(await failureOf(client().call('crm.deal.add', {}))).toMatchObject({ kind: 'retry', afterMs: 600_000 });
  });

  it('503 nginx HTML page → retry', async () => {
    api().post(`${HOOK_PATH}crm.lead.add`).reply(503, '<html><head><title>503 Service Temporarily Unavailable</title></head></html>', { 'content-type': 'text/html' });
    expect(await failureOf(client().call('crm.lead.add', {}))).toMatchObject({ kind: 'retry' });
  });

  it('500 INTERNAL_SERVER_ERROR → retry', async () => {
    api().post(`${HOOK_PATH}crm.lead.add`).reply(500, { error: 'INTERNAL_SERVER_ERROR', error_description: 'Internal server error' });
    expect(await failureOf(client().call('crm.lead.add', {}))).toMatchObject({ kind: 'retry', afterMs: 10_000 });
  });

  it('connection reset → retry', async () => {
    api().post(`${HOOK_PATH}crm.lead.add`).replyWithError(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
    expect(await failureOf(client().call('crm.lead.add', {}))).toMatchObject({ kind: 'retry', afterMs: 5_000, cause: expect.stringContaining('ECONNRESET') });
  });

  it('timeout → retry', async () => {
    api().post(`${HOOK_PATH}crm.lead.add`).delay(1_500).reply(200, { result: 1 });
    const f = await failureOf(client().call('crm.lead.add', {}));
    expect(f).toMatchObject({ kind: 'retry' });
    expect(f.kind === 'retry' && f.cause).toMatch(/ETIMEDOUT/);
  });

  it('200 HTML instead of JSON → retry', async () => {
    api().post(`${HOOK_PATH}crm.lead.add`).reply(200, '<html>overloaded</html>', { 'content-type': 'text/html' });
    expect(await failureOf(client().call('crm.lead.add', {}))).toMatchObject({ kind: 'retry' });
  });

  it('401 NO_AUTH_FOUND → config naming the webhook fix', async () => {
    api().post(`${HOOK_PATH}crm.lead.add`).reply(401, { error: 'NO_AUTH_FOUND', error_description: 'Wrong authorization data' });
    const f = await failureOf(client().call('crm.lead.add', {}));
    expect(f).toMatchObject({ kind: 'config' });
    expect(f.kind === 'config' && f.fix).toMatch(/inbound webhook/);
  });

  it('401 on a webhook through the runtime client → config before any second request', async () => {
    const s = webhookSettings();
    const io = memoryIo();
    const scope = api().post(`${HOOK_PATH}crm.lead.add`).once().reply(401, { error: 'NO_AUTH_FOUND', error_description: 'Wrong authorization data' });
    io.http = createHttpClient({ baseUrl: '', onUnauthorized: () => onUnauthorized(io, s) });
    const f = await failureOf(createBitrixClient(io, s).call('crm.lead.add', {}));
    expect(f).toMatchObject({ kind: 'config' });
    expect(f.kind === 'config' && f.fix).toMatch(/B24_UNIT_WEBHOOK/);
    expect(scope.isDone()).toBe(true);
  });

  it('401 expired_token (after the refresh did not help) → config: reinstall', async () => {
    api().post(`${HOOK_PATH}crm.lead.add`).reply(401, { error: 'expired_token', error_description: 'The access token provided has expired.' });
    const f = await failureOf(client().call('crm.lead.add', {}));
    expect(f).toMatchObject({ kind: 'config' });
    expect(f.kind === 'config' && f.fix).toMatch(/reinstall/);
  });

  it('401 invalid_token → config: reinstall', async () => {
    api().post(`${HOOK_PATH}crm.lead.add`).reply(401, { error: 'invalid_token', error_description: 'The access token provided is invalid.' });
    expect(await failureOf(client().call('crm.lead.add', {}))).toMatchObject({ kind: 'config', fix: expect.stringMatching(/reinstall/) });
  });

  it('403 insufficient_scope → config naming the scope to tick', async () => {
    api().post(`${HOOK_PATH}telephony.externalcall.register`).reply(403, { error: 'insufficient_scope', error_description: 'The request requires higher privileges than provided by the webhook token' });
    expect(await failureOf(client().call('telephony.externalcall.register', {}))).toMatchObject({ kind: 'config', fix: expect.stringContaining('"telephony"') });
  });

  it('403 ACCESS_DENIED → config (plan or rights)', async () => {
    api().post(`${HOOK_PATH}crm.lead.add`).reply(403, { error: 'ACCESS_DENIED', error_description: 'REST API is available only on commercial plans' });
    expect(await failureOf(client().call('crm.lead.add', {}))).toMatchObject({ kind: 'config', fix: expect.stringMatching(/commercial/) });
  });

  it('403 WRONG_AUTH_TYPE → config: use the OAuth app', async () => {
    api().post(`${HOOK_PATH}telephony.externalcall.finish`).reply(403, { error: 'WRONG_AUTH_TYPE', error_description: 'Current authorization type is denied for this method' });
    expect(await failureOf(client().call('telephony.externalcall.finish', {}))).toMatchObject({ kind: 'config', fix: expect.stringMatching(/auth: oauth/) });
  });

  it('400 legacy "Access denied." (empty error code) → config: CRM rights', async () => {
    api().post(`${HOOK_PATH}crm.lead.add`).reply(400, { error: '', error_description: 'Access denied.' });
    expect(await failureOf(client().call('crm.lead.add', {}))).toMatchObject({ kind: 'config', fix: expect.stringMatching(/rights/) });
  });

  it('400 ERROR_CORE invalid e-mail → reject naming the field', async () => {
    api().post(`${HOOK_PATH}crm.contact.add`).reply(400, { error: 'ERROR_CORE', error_description: 'The field "Work e-mail" contains an invalid address' });
    const f = await failureOf(client().call('crm.contact.add', {}));
    expect(f).toMatchObject({ kind: 'reject' });
    expect(f.cause).toContain('field "Work e-mail"');
  });

  it('400 ERROR_CORE required field → config naming the field and the mapping', async () => {
    api().post(`${HOOK_PATH}crm.lead.add`).reply(400, { error: 'ERROR_CORE', error_description: 'The "Yandex click id" field is required.' });
    const f = await failureOf(client().call('crm.lead.add', {}));
    expect(f).toMatchObject({ kind: 'config' });
    expect(f.kind === 'config' && f.fix).toMatch(/"Yandex click id".*mappings\/bitrix24\.yaml/);
  });

  it('400 OWNER_NOT_FOUND → reject', async () => {
    api().post(`${HOOK_PATH}crm.timeline.comment.add`).reply(400, { error: 'OWNER_NOT_FOUND', error_description: 'Owner of the item not found' });
    expect(await failureOf(client().call('crm.timeline.comment.add', {}))).toMatchObject({ kind: 'reject' });
  });

  it('404 ERROR_METHOD_NOT_FOUND → config', async () => {
    api().post(`${HOOK_PATH}crm.lead.nosuch`).reply(404, { error: 'ERROR_METHOD_NOT_FOUND', error_description: 'Method not found!' });
    expect(await failureOf(client().call('crm.lead.nosuch', {}))).toMatchObject({ kind: 'config' });
  });

  it('500 PORTAL_DELETED → config', async () => {
    api().post(`${HOOK_PATH}crm.lead.add`).reply(500, { error: 'PORTAL_DELETED', error_description: 'Portal was deleted' });
    expect(await failureOf(client().call('crm.lead.add', {}))).toMatchObject({ kind: 'config' });
  });

  it('batch: per-command errors are surfaced with the command method and classified like a direct call', async () => {
    api()
      .post(`${HOOK_PATH}batch`, (b) => b.halt === 1 && b.cmd.c.startsWith('crm.contact.add?fields[NAME]=%D0%98') && b.cmd.r.includes('fields[CONTACT_ID]=$result[c]'))
      .reply(200, { result: { result: { c: 7 }, result_error: { r: { error: 'OPERATION_TIME_LIMIT', error_description: 'Method is blocked due to operation time limit.' } }, result_total: [], result_next: [], result_time: [] } });
    const res = await client().batch(
      { c: { method: 'crm.contact.add', params: { fields: { NAME: 'Иван' } } }, r: { method: 'crm.lead.add', params: { fields: { CONTACT_ID: '$result[c]' } } } },
      { halt: true },
    );
    expect(res.results).toEqual({ c: 7 });
    const e = res.errors.r!;
    expect(e).toBeInstanceOf(BitrixApiError);
    expect(e.method).toBe('crm.lead.add');
    expect(classifyBitrix(e)).toMatchObject({ kind: 'retry' });
  });

  it('batch refuses more than 50 commands with halt', async () => {
    const cmds = Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, { method: 'crm.lead.get', params: { id: i + 1 } }]));
    await expect(client().batch(cmds, { halt: true })).rejects.toThrow(/at most 50/);
  });

  it('302 (portal renamed) → config naming the new portal URL, never the webhook secret; not followed', async () => {
    api().post(`${HOOK_PATH}crm.lead.add`).reply(302, '', { location: `https://acme-new.bitrix24.ru${HOOK_PATH}crm.lead.add` });
    const err = await client().call('crm.lead.add', {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CrmError);
    const f = classifyBitrix(err);
    expect(f.kind).toBe('config');
    if (f.kind !== 'config') return;
    expect(f.fix).toContain('https://acme-new.bitrix24.ru/rest/<user>/<code>/');
    expect(f.fix).toContain('B24_UNIT_WEBHOOK');
    expect(`${f.cause} ${f.fix}`).not.toContain('s3cr3tc0de');
  });

  it('a raw HttpError 302 (any caller) → config', () => {
    const e = new HttpError({ message: 'x', status: 301, headers: { location: 'https://b.bitrix24.ru/rest/crm.lead.add' }, request: { method: 'POST', url: '/rest/crm.lead.add' } });
    expect(classifyBitrix(e)).toMatchObject({ kind: 'config', fix: expect.stringContaining('https://b.bitrix24.ru') });
  });

  it('settings: webhook needs webhookUrlEnv, oauth needs the app fields', () => {
    expect(BitrixSettingsSchema.safeParse({ auth: 'webhook' }).success).toBe(false);
    const r = BitrixSettingsSchema.safeParse({ auth: 'oauth', portalUrl: 'https://acme.bitrix24.ru' });
    expect(r.success).toBe(false);
    expect(r.error?.issues.map((i) => i.path[0])).toEqual(['clientId', 'clientSecretEnv', 'initialRefreshTokenEnv']);
    expect(BitrixSettingsSchema.safeParse({ auth: 'oauth', portalUrl: 'http://acme.bitrix24.ru', clientId: 'a', clientSecretEnv: 'A', initialRefreshTokenEnv: 'B' }).success).toBe(false);
  });
});

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

  it('caller-ID lookup by phone', async () => {
    const a = account();
    await a.deliver(leadTask(a));
    const info = await bitrix24Crm.lookupPhone!(a.runtime.io, a.settings, '+79123456789');
    expect(info).toMatchObject({ contactId: String([...emu.state.contacts.keys()][0]), name: 'Иван Петров', openLeadId: String([...emu.state.leads.keys()][0]), responsibleName: 'Admin Portal' });
    expect(await bitrix24Crm.lookupPhone!(a.runtime.io, a.settings, '+79990000000')).toBeNull();
  });
});
