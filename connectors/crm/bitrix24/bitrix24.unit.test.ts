/** Bitrix24 connector, nock unit tests: classify and the client (one test per vendor error, a redirect). */
import nock from 'nock';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CrmError, HttpError, type CrmIO, type StoredTokens } from '#sdk';
import { createHttpClient } from '../../../src/infra/http.ts';
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

  it('onUnauthorized reads the 401 answer: a method awaiting an admin\'s approval is no token problem', async () => {
    const oauth = BitrixSettingsSchema.parse({ auth: 'oauth', portalUrl: PORTAL, clientId: 'local.1', clientSecretEnv: 'B24_UNIT_SECRET', initialRefreshTokenEnv: 'B24_UNIT_REFRESH' });
    const waiting = { status: 401, headers: {}, data: { error: 'METHOD_CONFIRM_WAITING', error_description: 'Waiting for confirmation' } };
    const err = await onUnauthorized(memoryIo(), oauth, waiting).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CrmError);
    expect((err as CrmError).failure).toMatchObject({ kind: 'config', cause: expect.stringContaining('METHOD_CONFIRM_WAITING'), fix: expect.stringContaining('approve') });
    // Without such a code an OAuth 401 still asks the caller to refresh (it is not a CrmError).
    const plain = await onUnauthorized(memoryIo(), oauth, { status: 401, headers: {}, data: { error: 'expired_token' } }).catch((e: unknown) => e);
    expect(plain).not.toBeInstanceOf(CrmError);
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
