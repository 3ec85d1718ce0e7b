/** amoCRM connector, nock unit tests: classify per vendor status, auth refresh, contact match confirmation. */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import nock from 'nock';
import pino from 'pino';
import { CrmError, HttpError, type CrmIO, type StoredTokens } from '#sdk';
import { createHttpClient } from '../../../src/infra/http.ts';
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
