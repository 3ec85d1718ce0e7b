/**
 * amoCRM connector: nock unit tests (classify per vendor status, auth refresh, contact confirmation) and
 * delivery tests against the emulator through a real CrmIO (Redis limiter, credential store, journal).
 */
import { resolve } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import nock from 'nock';
import pino from 'pino';
import { Redis } from 'ioredis';
import { CrmError, HttpError, type AccountFacts, type CrmIO, type DeliveryTask, type StoredTokens } from '#sdk';
import { createHttpClient } from '../../../src/infra/http.ts';
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
import { classifyAmo, resetRateLimitMemory } from './classify.ts';
import { amoClient } from './client.ts';
import { authorize, onUnauthorized, withAuthContext } from './auth.ts';
import { findContact } from './steps/find-contact.ts';

const silent = pino({ level: 'silent' });

// ------------------------------------------------------------------ nock unit tests

const HOST = 'https://acme.amocrm.ru';

function memoryIo(o: { settings: AmoSettings; tokens?: StoredTokens | null; env?: Record<string, string> }): { io: CrmIO; store: { tokens: StoredTokens | null; puts: StoredTokens[] } } {
  const store = { tokens: o.tokens ?? null, puts: [] as StoredTokens[] };
  let chain: Promise<unknown> = Promise.resolve();
  const cache = new Map<string, string>();
  // eslint-disable-next-line prefer-const
  let io: CrmIO;
  const http = createHttpClient({
    baseUrl: HOST,
    authorize: (req) => authorize(io, o.settings, req, o.env ?? {}),
    onUnauthorized: () => onUnauthorized(io, o.settings, o.env ?? {}),
  });
  io = {
    http,
    log: silent,
    now: () => new Date(),
    credentials: {
      get: async () => store.tokens,
      put: async (t) => {
        store.tokens = t;
        store.puts.push(t);
      },
      withLock: <T,>(fn: () => Promise<T>): Promise<T> => {
        const run = chain.then(fn, fn);
        chain = run.catch(() => undefined);
        return run;
      },
    },
    cache: { get: async (k) => cache.get(k) ?? null, set: async (k, v) => void cache.set(k, v) },
  };
  return { io, store };
}

const longLived = AmoSettingsSchema.parse({ baseUrl: HOST, auth: 'long-lived', tokenEnv: 'AMO_TOKEN' });
const oauth = AmoSettingsSchema.parse({ baseUrl: HOST, auth: 'oauth', clientId: 'cid', clientSecretEnv: 'AMO_SECRET', redirectUri: 'https://hub.example.org/oauth/amocrm' });

async function failureOf(status: number, body: unknown, headers: Record<string, string> = {}, settings: AmoSettings = longLived, nowMs?: number): Promise<ReturnType<typeof classifyAmo>> {
  nock(HOST).get('/api/v4/account').query(true).reply(status, body as nock.Body, headers);
  const { io } = memoryIo({ settings, env: { AMO_TOKEN: 'llt' } });
  const err = await withAuthContext(() => amoClient(io, settings).account()).then(
    () => undefined,
    (e: unknown) => e,
  );
  return classifyAmo(err, { settings, ...(nowMs !== undefined ? { nowMs } : {}) });
}

describe('amocrm classify (one test per vendor status)', () => {
  beforeAll(() => nock.disableNetConnect());
  afterEach(() => {
    nock.cleanAll();
    resetRateLimitMemory();
  });
  afterAll(() => nock.enableNetConnect());

  it('429 honours the Retry-After header', async () => {
    const f = await failureOf(429, { title: 'Too Many Requests', status: 429 }, { 'Retry-After': '3', 'Content-Type': 'application/problem+json' });
    expect(f).toMatchObject({ kind: 'retry', afterMs: 3_000 });
    expect(f.kind === 'retry' && f.pauseAccount).toBeFalsy();
  });

  it('429 without a header reads retry_after from the body, long waits pause the account', async () => {
    const f = await failureOf(429, { title: 'Too Many Requests', status: 429, retry_after: 300 }, { 'Content-Type': 'application/problem+json' });
    expect(f).toMatchObject({ kind: 'retry', afterMs: 300_000, pauseAccount: true });
  });

  it('429 with a plain-text body waits 1-2 s', async () => {
    const f = await failureOf(429, 'Too Many Requests', { 'Content-Type': 'text/plain' });
    expect(f.kind).toBe('retry');
    if (f.kind === 'retry') expect(f.afterMs).toBeGreaterThanOrEqual(1_000), expect(f.afterMs).toBeLessThanOrEqual(2_000);
  });

  it('repeated 429s (in several seconds) pause the whole account for rateLimitPauseMs; one burst does not', async () => {
    const s = AmoSettingsSchema.parse({ ...longLived, rateLimitPauseMs: 90_000 });
    const t0 = 1_800_000_000_000;
    for (let i = 0; i < 4; i++) expect(await failureOf(429, 'x', {}, s, t0 + i * 10)).not.toHaveProperty('pauseAccount');
    await failureOf(429, 'x', {}, s, t0 + 5_000);
    const f = await failureOf(429, 'x', {}, s, t0 + 9_000);
    expect(f).toMatchObject({ kind: 'retry', afterMs: 90_000, pauseAccount: true });
  });

  it('403 with the nginx HTML page = API block: pause the account, never hammer', async () => {
    const f = await failureOf(403, '<html><head><title>403 Forbidden</title></head><body>nginx</body></html>', { 'Content-Type': 'text/html' });
    expect(f).toMatchObject({ kind: 'retry', afterMs: 600_000, pauseAccount: true });
    expect(f.cause).toMatch(/support/);
  });

  it('403 problem+json (IP not allowed) is a config problem', async () => {
    const f = await failureOf(403, { title: 'Forbidden', status: 403, detail: 'Access from this IP is prohibited' }, { 'Content-Type': 'application/problem+json' });
    expect(f).toMatchObject({ kind: 'config' });
    expect(f.kind === 'config' && f.fix).toMatch(/IP/);
  });

  it('401 after the refresh names the env var to fix', async () => {
    nock(HOST).get('/api/v4/account').query(true).twice().reply(401, { title: 'Unauthorized', status: 401 });
    const { io } = memoryIo({ settings: longLived, env: { AMO_TOKEN: 'llt' } });
    const err = await withAuthContext(() => amoClient(io, longLived).account()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CrmError);
    const f = classifyAmo(err, { settings: longLived });
    expect(f.kind).toBe('config');
    expect(f.kind === 'config' && f.fix).toMatch(/AMO_TOKEN/);
    // The plain HttpError 401 (as seen when a refreshed OAuth token is refused too) names the command.
    const g = classifyAmo(new HttpError({ message: 'x', status: 401, request: { method: 'GET', url: '/api/v4/leads' } }), { settings: oauth });
    expect(g.kind === 'config' && g.fix).toMatch(/npx leadgate oauth amocrm/);
  });

  it('402 (account unpaid) is a config problem', async () => {
    const f = await failureOf(402, { title: 'Payment Required', status: 402, detail: 'Payment required' }, { 'Content-Type': 'application/problem+json' });
    expect(f).toMatchObject({ kind: 'config' });
    expect(f.kind === 'config' && f.fix).toMatch(/replay/);
  });

  it('404 of the account is a config problem naming baseUrl', async () => {
    const f = await failureOf(404, { title: 'Not Found', status: 404, detail: 'Cannot GET https://acme.amocrm.ru/api/v4/account' }, { 'Content-Type': 'application/problem+json' });
    expect(f).toMatchObject({ kind: 'config' });
    expect(f.kind === 'config' && f.fix).toMatch(/baseUrl/);
  });

  it('400 validation of an unknown mapped field is a config problem naming the mapping key', async () => {
    nock(HOST)
      .post('/api/v4/leads/complex')
      .reply(400, {
        title: 'Bad Request', status: 400, detail: 'Request validation failed',
        'validation-errors': [{ request_id: '0', errors: [{ code: 'NotSupportedChoice', path: 'custom_fields_values.1.field_code', detail: 'The value you selected is not a valid choice.' }] }],
      }, { 'Content-Type': 'application/problem+json' });
    const { io } = memoryIo({ settings: longLived, env: { AMO_TOKEN: 'llt' } });
    const err = await amoClient(io, longLived)
      .addComplex({ name: 'x', custom_fields_values: [{ field_code: 'UTM_SOURCE', values: [{ value: 'a' }] }, { field_code: 'UTM_SORCE', values: [{ value: 'b' }] }] })
      .catch((e: unknown) => e);
    const f = classifyAmo(err);
    expect(f.kind).toBe('config');
    expect(f.kind === 'config' && f.fix).toContain('remove lead.fields.UTM_SORCE from mappings/amocrm.yaml');
  });

  it('400 validation of a value rejects this lead, naming the path and the field', async () => {
    nock(HOST)
      .post('/api/v4/leads/unsorted/forms')
      .reply(400, {
        title: 'Bad Request', status: 400, detail: 'Request validation failed',
        'validation-errors': [{ request_id: '0', errors: [{ code: 'InvalidType', path: '_embedded.leads.0.custom_fields_values.0.values.0.value', detail: 'This value should be of type numeric.' }] }],
      }, { 'Content-Type': 'application/problem+json' });
    const { io } = memoryIo({ settings: longLived, env: { AMO_TOKEN: 'llt' } });
    const err = await amoClient(io, longLived)
      .addUnsorted('forms', { source_uid: 'a', source_name: 'b', _embedded: { leads: [{ custom_fields_values: [{ field_id: 620104, values: [{ value: 'много' }] }] }] } })
      .catch((e: unknown) => e);
    const f = classifyAmo(err);
    expect(f.kind).toBe('reject');
    expect(f.cause).toContain('_embedded.leads.0.custom_fields_values.0.values.0.value (field 620104)');
  });

  it.each([500, 502, 503, 504])('%i is retried', async (status) => {
    const f = await failureOf(status, status === 500 ? { title: 'ErrInternalServer', status: 500 } : '<html>nginx</html>');
    expect(f.kind).toBe('retry');
  });

  it.each(['ECONNRESET', 'ETIMEDOUT', 'ECONNABORTED'])('%s (no HTTP status) is retried', (code) => {
    const f = classifyAmo(new HttpError({ message: code, code, request: { method: 'GET', url: '/api/v4/account' } }));
    expect(f).toMatchObject({ kind: 'retry', afterMs: 5_000 });
  });
});

describe('amocrm auth (nock)', () => {
  beforeAll(() => nock.disableNetConnect());
  afterEach(() => nock.cleanAll());
  afterAll(() => nock.enableNetConnect());
  const env = { AMO_SECRET: 'shh' };
  const account = { id: 1, name: 'Acme', subdomain: 'acme' };
  const pair = (n: number) => ({ token_type: 'Bearer', expires_in: 86_400, access_token: `access-${n}`, refresh_token: `refresh-${n}` });

  it('refreshes ahead of expiry and stores the rotated pair before using it', async () => {
    const { io, store } = memoryIo({ settings: oauth, env, tokens: { accessToken: 'access-0', refreshToken: 'refresh-0', expiresAt: Date.now() + 60_000, refreshIssuedAt: Date.now() } });
    let storedWhenUsed: StoredTokens | null = null;
    nock(HOST)
      .post('/oauth2/access_token', (b: Record<string, string>) => b.grant_type === 'refresh_token' && b.refresh_token === 'refresh-0' && b.client_secret === 'shh' && b.redirect_uri === oauth.redirectUri)
      .reply(200, pair(1));
    nock(HOST, { reqheaders: { authorization: 'Bearer access-1' } })
      .get('/api/v4/account')
      .query(true)
      .reply(function () {
        storedWhenUsed = store.tokens;
        return [200, account];
      });
    await withAuthContext(() => amoClient(io, oauth).account());
    expect(storedWhenUsed).toMatchObject({ accessToken: 'access-1', refreshToken: 'refresh-1' });
    expect(store.puts).toHaveLength(1);
  });

  it('a 401 triggers exactly one refresh for concurrent requests, then the retry succeeds', async () => {
    const { io, store } = memoryIo({ settings: oauth, env, tokens: { accessToken: 'access-0', refreshToken: 'refresh-0', expiresAt: Date.now() + 3_600_000 } });
    nock(HOST, { reqheaders: { authorization: 'Bearer access-0' } }).get('/api/v4/account').query(true).times(3).reply(401, { title: 'Unauthorized', status: 401 });
    const refresh = nock(HOST).post('/oauth2/access_token').once().reply(200, pair(1));
    nock(HOST, { reqheaders: { authorization: 'Bearer access-1' } }).get('/api/v4/account').query(true).times(3).reply(200, account);
    const c = amoClient(io, oauth);
    await Promise.all([1, 2, 3].map(() => withAuthContext(() => c.account())));
    expect(refresh.isDone()).toBe(true);
    expect(store.puts).toHaveLength(1);
  });

  it('a consumed refresh token stops with the re-authorization command', async () => {
    const { io } = memoryIo({ settings: oauth, env, tokens: { accessToken: 'access-0', refreshToken: 'refresh-0', expiresAt: Date.now() + 3_600_000 } });
    nock(HOST).get('/api/v4/account').query(true).reply(401, { title: 'Unauthorized', status: 401 });
    nock(HOST).post('/oauth2/access_token').twice().reply(401, { hint: 'Token has been revoked', title: 'Некорректный запрос', status: 401 });
    const err = await withAuthContext(() => amoClient(io, oauth).account()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CrmError);
    const f = classifyAmo(err);
    expect(f.kind).toBe('config');
    expect(f.cause).toContain('Token has been revoked');
    expect(f.kind === 'config' && f.fix).toContain('npx leadgate oauth amocrm');
  });

  it('no stored tokens and no initial refresh token: config with the command', async () => {
    const { io } = memoryIo({ settings: oauth, env, tokens: null });
    const err = await withAuthContext(() => amoClient(io, oauth).account()).catch((e: unknown) => e);
    expect(classifyAmo(err)).toMatchObject({ kind: 'config' });
    expect((err as Error).message).toContain('npx leadgate oauth amocrm');
  });
});

describe('amocrm findContact confirms the match (nock)', () => {
  beforeAll(() => nock.disableNetConnect());
  afterEach(() => nock.cleanAll());
  afterAll(() => nock.enableNetConnect());

  const contact = (id: number, cf: unknown[]) => ({ id, name: `c${id}`, updated_at: id, custom_fields_values: cf, _embedded: { leads: [] } });
  const list = (...cs: unknown[]) => ({ _embedded: { contacts: cs } });

  it('skips a contact whose hit is not its PHONE and takes the one whose PHONE normalises to ours', async () => {
    nock(HOST)
      .get('/api/v4/contacts')
      .query((q) => q.query === '9123456789')
      .reply(200, list(
        contact(1, [{ field_id: 5, field_code: null, values: [{ value: 'перезвонить на 8 912 345-67-89 вечером' }] }, { field_id: 610921, field_code: 'PHONE', values: [{ value: '+7 495 000-00-00' }] }]),
        contact(2, [{ field_id: 610921, field_code: 'PHONE', values: [{ value: '8 (912) 345-67-89', enum_code: 'WORK' }] }]),
      ));
    const { io } = memoryIo({ settings: longLived, env: { AMO_TOKEN: 'llt' } });
    const found = await findContact({ io, c: amoClient(io, longLived) }, { phonesE164: ['+79123456789'], emails: [] });
    expect(found?.contactId).toBe(2);
    expect(found?.via).toBe('phone');
  });

  it('a query hit without a matching PHONE/EMAIL is no contact (204 for the e-mail search)', async () => {
    nock(HOST).get('/api/v4/contacts').query((q) => q.query === '9123456789').reply(200, list(contact(1, [{ field_id: 5, values: [{ value: '9123456789' }] }])));
    nock(HOST).get('/api/v4/contacts').query((q) => q.query === 'ivan@example.ru').reply(204);
    const { io } = memoryIo({ settings: longLived, env: { AMO_TOKEN: 'llt' } });
    const found = await findContact({ io, c: amoClient(io, longLived) }, { phonesE164: ['+79123456789'], emails: ['Ivan@Example.ru'] });
    expect(found).toBeNull();
  });
});

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

  it('calls: an unknown missed caller lands in Unsorted (sip) with a callback task; the recording adds one note', async () => {
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
    expect([...s.notes.values()].filter((n) => String(n.params.text ?? '').includes('c-1.mp3'))).toHaveLength(1);
    // A known caller: a call note on the open lead.
    const known = await e.deliver({ ...base, key: 'mango:pbx:c-2', call: { ...call, providerCallId: 'c-2', status: 'answered', talkSec: 25, state: 'ended' }, callbackTask: null }, 'call:c-2');
    expect(known).toMatchObject({ leadId: missed.leadId, createdLead: false });
    const note = s.notes.get(Number(known.noteId))!;
    expect(note).toMatchObject({ note_type: 'call_in', entity_id: Number(missed.leadId) });
    expect(note.params).toMatchObject({ uniq: 'mango:pbx:c-2', duration: 25, call_status: 4, phone: '+7 (916) 123-45-67' });
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
