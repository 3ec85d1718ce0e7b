import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildAmoEmulator, startAmoEmulator, SEED, TRACKING_FIELD_CODES, type AmoEmulator, type AmoEmulatorOptions } from './index.ts';

/** A clock tests move by hand: rate limits and expiries become deterministic. */
function fakeClock(startMs = 1_735_000_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = startMs;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

interface Res {
  status: number;
  headers: Record<string, string | string[] | number | undefined>;
  body: string;
  json: () => any;
}

function client(emu: AmoEmulator, token: () => string | null = () => emu.token) {
  return async (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: unknown): Promise<Res> => {
    const t = token();
    const headers: Record<string, string> = t ? { authorization: `Bearer ${t}` } : {};
    const res = await emu.app.inject({ method, url, headers, ...(payload !== undefined ? { payload: payload as object } : {}) });
    return { status: res.statusCode, headers: res.headers, body: res.body, json: () => JSON.parse(res.body) };
  };
}

const phone = (value: string, enum_code = 'MOB') => ({ field_code: 'PHONE', values: [{ value, enum_code }] });

describe('amoCRM emulator', () => {
  let clock: ReturnType<typeof fakeClock>;
  let emu: AmoEmulator;
  let api: ReturnType<typeof client>;

  const build = (o: AmoEmulatorOptions = {}): void => {
    emu = buildAmoEmulator({ clock: clock.now, ...o });
    api = client(emu);
  };

  beforeEach(() => {
    clock = fakeClock();
    // Rate limiting is exercised in its own block; elsewhere requests share one clock instant.
    build({ rateLimit: false });
  });
  afterEach(async () => {
    await emu.app.close();
  });

  describe('auth', () => {
    it('answers 401 problem+json without a token or with an unknown one', async () => {
      const noToken = await client(emu, () => null)('GET', '/api/v4/account');
      expect(noToken.status).toBe(401);
      expect(noToken.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(noToken.json()).toEqual({
        title: 'Unauthorized',
        type: 'https://httpstatus.es/401',
        status: 401,
        detail: 'Неверный логин или пароль',
      });
      const bad = await client(emu, () => 'nope')('GET', '/api/v4/account');
      expect(bad.status).toBe(401);
      expect(emu.stats.count401).toBe(2);
    });

    it('accepts the long-lived token, a JWT with an exp claim', async () => {
      const res = await api('GET', '/api/v4/account');
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toMatch(/^application\/hal\+json/);
      expect(res.headers['x-request-id']).toMatch(/^[0-9a-f]{32}$/);
      const payload = JSON.parse(Buffer.from(emu.token.split('.')[1] ?? '', 'base64url').toString('utf8'));
      expect(payload.exp).toBeGreaterThan(clock.now() / 1000 + 4 * 365 * 86_400);
    });

    it('accepts configured long-lived tokens verbatim', async () => {
      build({ rateLimit: false, longLivedTokens: ['tok-a', 'tok-b'] });
      expect(emu.token).toBe('tok-a');
      expect((await client(emu, () => 'tok-b')('GET', '/api/v4/users')).status).toBe(200);
    });
  });

  describe('OAuth', () => {
    const oauth = (body: Record<string, string>) =>
      emu.app.inject({
        method: 'POST',
        url: '/oauth2/access_token',
        payload: {
          client_id: emu.options.oauth.clientId,
          client_secret: emu.options.oauth.clientSecret,
          redirect_uri: emu.options.oauth.redirectUri ?? '',
          ...body,
        },
      });

    async function pairFromCode(): Promise<{ access_token: string; refresh_token: string; expires_in: number }> {
      const res = await oauth({ grant_type: 'authorization_code', code: emu.state.auth.issueAuthCode() });
      expect(res.statusCode).toBe(200);
      return res.json();
    }

    it('exchanges a code once; the second use is rejected', async () => {
      const code = emu.state.auth.issueAuthCode();
      const first = await oauth({ grant_type: 'authorization_code', code });
      expect(first.json()).toMatchObject({ token_type: 'Bearer', expires_in: 86_400 });
      const again = await oauth({ grant_type: 'authorization_code', code });
      expect(again.statusCode).toBe(400);
      expect(again.json()).toMatchObject({ hint: 'Authorization code has been revoked', type: 'https://developers.amocrm.ru/v3/errors/OAuthProblemJson' });
      expect(emu.stats.codeExchanges).toBe(1);
    });

    it('rotates refresh tokens: the old one dies once the new pair is used', async () => {
      const p1 = await pairFromCode();
      const r2 = await oauth({ grant_type: 'refresh_token', refresh_token: p1.refresh_token });
      expect(r2.statusCode).toBe(200);
      const p2 = r2.json();
      expect(p2.refresh_token).not.toBe(p1.refresh_token);
      // Using the new access token ends the grace period of the old refresh token.
      expect((await client(emu, () => p2.access_token)('GET', '/api/v4/account')).status).toBe(200);
      const reused = await oauth({ grant_type: 'refresh_token', refresh_token: p1.refresh_token });
      expect(reused.statusCode).toBe(401);
      expect(reused.json()).toEqual({
        hint: 'Token has been revoked',
        title: 'Некорректный запрос',
        type: 'https://developers.amocrm.ru/v3/errors/OAuthProblemJson',
        status: 401,
        detail: 'В запросе отсутствует ряд параметров или параметры невалидны',
      });
      expect(emu.stats.refreshes).toBe(1);
    });

    it('lets a lost refresh response be retried with the old token until the new pair is used', async () => {
      const p1 = await pairFromCode();
      expect((await oauth({ grant_type: 'refresh_token', refresh_token: p1.refresh_token })).statusCode).toBe(200);
      const retry = await oauth({ grant_type: 'refresh_token', refresh_token: p1.refresh_token });
      expect(retry.statusCode).toBe(200);
      const p3 = retry.json();
      expect((await oauth({ grant_type: 'refresh_token', refresh_token: p3.refresh_token })).statusCode).toBe(200);
      expect((await oauth({ grant_type: 'refresh_token', refresh_token: p1.refresh_token })).statusCode).toBe(401);
    });

    it("rejects reuse at once in 'revoked-immediately' mode", async () => {
      build({ rateLimit: false, oauth: { oldRefreshToken: 'revoked-immediately' } });
      const p1 = await pairFromCode();
      expect((await oauth({ grant_type: 'refresh_token', refresh_token: p1.refresh_token })).statusCode).toBe(200);
      const reused = await oauth({ grant_type: 'refresh_token', refresh_token: p1.refresh_token });
      expect(reused.statusCode).toBe(401);
      expect(reused.json().hint).toBe('Token has been revoked');
    });

    it('expires access tokens on demand and by time; refresh restores access', async () => {
      const p1 = await pairFromCode();
      const withP1 = client(emu, () => p1.access_token);
      expect((await withP1('GET', '/api/v4/account')).status).toBe(200);
      expect(emu.faults.expireAccessTokens()).toBe(1);
      expect((await withP1('GET', '/api/v4/account')).status).toBe(401);
      const p2 = (await oauth({ grant_type: 'refresh_token', refresh_token: p1.refresh_token })).json();
      expect((await client(emu, () => p2.access_token)('GET', '/api/v4/account')).status).toBe(200);
      clock.advance(86_400_000);
      expect((await client(emu, () => p2.access_token)('GET', '/api/v4/account')).status).toBe(401);
    });

    it('accepts the form-encoded token request of PHP clients and checks the client', async () => {
      const form = new URLSearchParams({
        client_id: emu.options.oauth.clientId,
        client_secret: 'wrong',
        grant_type: 'authorization_code',
        code: emu.state.auth.issueAuthCode(),
      });
      const res = await emu.app.inject({
        method: 'POST',
        url: '/oauth2/access_token',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: form.toString(),
      });
      expect(res.statusCode).toBe(401);
      expect(res.json().hint).toBe('Client authentication failed');
    });
  });

  describe('rate limit and block', () => {
    beforeEach(() => {
      build({ rateLimit: { block: { after429s: 3, withinMs: 60_000, durationMs: 10_000 } } });
    });

    it('answers the 8th request within one second with 429 and the documented body', async () => {
      for (let i = 0; i < 7; i += 1) {
        expect((await api('GET', '/api/v4/account')).status).toBe(200);
        clock.advance(100);
      }
      const res = await api('GET', '/api/v4/account');
      expect(res.status).toBe(429);
      expect(res.headers['retry-after']).toBe('1');
      expect(res.json()).toEqual({
        title: 'Too Many Requests',
        type: 'https://httpstatus.es/429',
        status: 429,
        detail: 'You have sent too many requests in a given amount of time. Please try again later.',
        retry_after: 1,
      });
      expect(emu.stats.count429).toBe(1);
      expect(emu.stats.maxPerWindow).toBe(8);
      expect(emu.stats.limitExceeded).toBe(true);
      // Sliding window: the first request (t=0) leaves it at t=1000.
      clock.advance(300);
      expect((await api('GET', '/api/v4/account')).status).toBe(200);
    });

    it('records a per-second histogram; a client at 7 req/s never exceeds the limit', async () => {
      const startedAt = clock.now();
      for (let s = 0; s < 3; s += 1) {
        for (let i = 0; i < 7; i += 1) {
          expect((await api('GET', '/api/v4/users')).status).toBe(200);
          clock.advance(1000 / 7);
        }
      }
      expect(emu.stats.limitExceeded).toBe(false);
      expect(emu.stats.maxPerWindow).toBe(7);
      expect([...emu.stats.perSecond.values()].reduce((a, b) => a + b, 0)).toBe(21);
      expect(emu.stats.maxPerSecond).toBeLessThanOrEqual(7);
      expect(emu.stats.requests).toHaveLength(21);
      expect(emu.stats.requests[0]).toMatchObject({ method: 'GET', path: '/api/v4/users', status: 200, at: startedAt });
    });

    it('blocks every call with an HTML 403 after repeated 429s, and lifts the block later', async () => {
      for (let i = 0; i < 7 + 3; i += 1) await api('GET', '/api/v4/account');
      expect(emu.stats.count429).toBe(3);
      const blocked = await api('GET', '/api/v4/account');
      expect(blocked.status).toBe(403);
      expect(blocked.headers['content-type']).toMatch(/^text\/html/);
      expect(blocked.body).toContain('<center><h1>403 Forbidden</h1></center>');
      const oauth = await emu.app.inject({ method: 'POST', url: '/oauth2/access_token', payload: {} });
      expect(oauth.statusCode).toBe(403);
      expect(emu.faults.blocked).toBe(true);
      clock.advance(10_000);
      expect((await api('GET', '/api/v4/account')).status).toBe(200);
      expect(emu.stats.count403).toBe(2);
    });

    it('can be blocked and unblocked by hand', async () => {
      emu.faults.block();
      expect((await api('GET', '/api/v4/account')).status).toBe(403);
      emu.faults.unblock();
      expect((await api('GET', '/api/v4/account')).status).toBe(200);
    });
  });

  describe('account metadata', () => {
    it('lists pipelines with an Unsorted status (type 1) and 142/143', async () => {
      const res = await api('GET', '/api/v4/leads/pipelines');
      const main = res.json()._embedded.pipelines.find((p: any) => p.is_main);
      expect(main).toMatchObject({ id: SEED.mainPipelineId, is_unsorted_on: true });
      const statuses = main._embedded.statuses;
      expect(statuses.find((s: any) => s.type === 1)).toMatchObject({ name: 'Неразобранное', id: SEED.mainUnsortedStatusId });
      expect(statuses.map((s: any) => s.id)).toEqual(expect.arrayContaining([142, 143]));
    });

    it('exposes tracking_data lead fields and PHONE/EMAIL enums on contacts', async () => {
      const leads = (await api('GET', '/api/v4/leads/custom_fields?filter[type][]=tracking_data')).json();
      expect(leads._embedded.custom_fields.map((f: any) => f.code)).toEqual([...TRACKING_FIELD_CODES]);
      const contacts = (await api('GET', '/api/v4/contacts/custom_fields')).json()._embedded.custom_fields;
      const phoneField = contacts.find((f: any) => f.code === 'PHONE');
      expect(phoneField.type).toBe('multitext');
      expect(phoneField.enums.map((e: any) => e.value)).toEqual(['WORK', 'WORKDD', 'MOB', 'FAX', 'HOME', 'OTHER']);
      expect(contacts.find((f: any) => f.code === 'EMAIL').enums.map((e: any) => e.value)).toEqual(['WORK', 'PRIV', 'OTHER']);
    });

    it('returns task types with ?with=task_types and users with rights', async () => {
      const account = (await api('GET', '/api/v4/account?with=task_types,datetime_settings')).json();
      expect(account._embedded.task_types.map((t: any) => t.id)).toEqual(expect.arrayContaining([1, 2]));
      expect(account._embedded.datetime_settings.timezone).toBe('Europe/Moscow');
      const users = (await api('GET', '/api/v4/users')).json()._embedded.users;
      expect(users.find((u: any) => u.id === SEED.inactiveUserId).rights.is_active).toBe(false);
    });
  });

  describe('Unsorted', () => {
    const form = {
      source_uid: 'site-form-pricing',
      source_name: 'Сайт: форма «Цены»',
      metadata: { form_id: 'pricing', form_name: 'Узнать цену', form_page: 'https://example.ru/pricing', form_sent_at: 1_735_000_000 },
      _embedded: {
        leads: [{ name: 'Заявка: Узнать цену', custom_fields_values: [{ field_code: 'UTM_SOURCE', values: [{ value: 'yandex' }] }] }],
        contacts: [{ name: 'Ирина', custom_fields_values: [phone('+79161234567')] }],
      },
      request_id: 'lg-7f3a',
    };

    it('forms: creates a lead in Неразобранное with its contact, in the documented shape', async () => {
      const res = await api('POST', '/api/v4/leads/unsorted/forms', [form]);
      expect(res.status).toBe(200);
      const item = res.json()._embedded.unsorted[0];
      expect(res.json()._total_items).toBe(1);
      expect(item).toMatchObject({ account_id: SEED.accountId, request_id: 'lg-7f3a' });
      expect(item.uid).toMatch(/^[0-9a-f]{32}$/);
      expect(emu.state.counts()).toMatchObject({ leads: 1, contacts: 1, unsorted: 1, notes: 0, tasks: 0 });
      const lead = [...emu.state.leads.values()][0];
      expect(lead?.status_id).toBe(SEED.mainUnsortedStatusId);
      expect(lead?.contacts).toEqual([{ id: item._embedded.contacts[0].id, is_main: true }]);
      expect(item._embedded.leads[0].id).toBe(lead?.id);

      const read = (await api('GET', `/api/v4/leads/${lead?.id}?with=contacts`)).json();
      expect(read.custom_fields_values[0]).toMatchObject({ field_code: 'UTM_SOURCE', values: [{ value: 'yandex' }] });
      const listed = (await api('GET', '/api/v4/leads/unsorted?filter[category][]=forms')).json();
      expect(listed._embedded.unsorted[0]).toMatchObject({ uid: item.uid, category: 'forms', source_uid: 'site-form-pricing' });
    });

    it('hides its contact from lists until accepted', async () => {
      const uid = (await api('POST', '/api/v4/leads/unsorted/forms', [form])).json()._embedded.unsorted[0].uid;
      expect((await api('GET', '/api/v4/contacts?query=9161234567')).status).toBe(204);
      const accepted = await api('POST', `/api/v4/leads/unsorted/${uid}/accept`, {});
      expect(accepted.status).toBe(200);
      expect([...emu.state.leads.values()][0]?.status_id).toBe(SEED.mainFirstStatusId);
      expect((await api('GET', '/api/v4/contacts?query=9161234567')).json()._embedded.contacts).toHaveLength(1);
    });

    it('sip with is_call_event_needed adds a call note to the lead', async () => {
      await api('POST', '/api/v4/leads/unsorted/sip', [{
        source_uid: 'pbx-line-1',
        source_name: 'Mango',
        metadata: { uniq: 'call-1', duration: 42, service_code: 'mango', link: 'https://rec/1.mp3', phone: '101', from: '+79161234567', called_at: 1_735_000_000, is_call_event_needed: true },
        _embedded: { contacts: [{ name: '+79161234567', custom_fields_values: [phone('+79161234567')] }] },
      }]);
      expect(emu.state.counts()).toMatchObject({ leads: 1, contacts: 1, notes: 1 });
      expect([...emu.state.notes.values()][0]).toMatchObject({ note_type: 'call_in', entity_type: 'leads' });
    });

    it('requires source_uid and source_name', async () => {
      const res = await api('POST', '/api/v4/leads/unsorted/forms', [{ _embedded: {} }]);
      expect(res.status).toBe(400);
      expect(res.json()['validation-errors']).toEqual([{
        request_id: '0',
        errors: [
          { code: 'FieldMissing', path: 'source_uid', detail: 'This field is missing.' },
          { code: 'FieldMissing', path: 'source_name', detail: 'This field is missing.' },
        ],
      }]);
      expect(emu.state.counts().leads).toBe(0);
    });

    it("rejects a duplicate pending item in 'reject' mode", async () => {
      build({ rateLimit: false, unsortedDuplicates: 'reject' });
      expect((await api('POST', '/api/v4/leads/unsorted/forms', [form])).status).toBe(200);
      const dup = await api('POST', '/api/v4/leads/unsorted/forms', [form]);
      expect(dup.status).toBe(400);
      expect(emu.state.counts().unsorted).toBe(1);
    });
  });

  describe('contacts search', () => {
    beforeEach(async () => {
      await api('POST', '/api/v4/contacts', [
        { first_name: 'Ирина', last_name: 'Петрова', custom_fields_values: [phone('+7 (912) 345-67-89'), { field_code: 'EMAIL', values: [{ value: 'irina@example.ru' }] }] },
        { name: 'Заказ 9123456789', custom_fields_values: [phone('+7 999 000-11-22')] },
      ]);
    });

    it('matches phones on digits, so 10 digits and +7 find a formatted number, 8… does not', async () => {
      const tenDigits = (await api('GET', '/api/v4/contacts?query=9123456789&with=leads')).json()._embedded.contacts;
      // Full-text over every field: the second contact's name is a false positive, as on the real API.
      expect(tenDigits.map((c: any) => c.name)).toEqual(['Ирина Петрова', 'Заказ 9123456789']);
      expect(tenDigits[0]._embedded.leads).toEqual([]);
      expect((await api('GET', '/api/v4/contacts?query=%2B79123456789')).json()._embedded.contacts).toHaveLength(1);
      expect((await api('GET', '/api/v4/contacts?query=89123456789')).status).toBe(204);
      expect((await api('GET', '/api/v4/contacts?query=IRINA@example.ru')).json()._embedded.contacts).toHaveLength(1);
    });

    it('answers a miss with 204 and an empty body', async () => {
      const res = await api('GET', '/api/v4/contacts?query=nobody');
      expect(res.status).toBe(204);
      expect(res.body).toBe('');
    });

    it('paginates with _page and next links', async () => {
      await api('POST', '/api/v4/contacts', [{ name: 'C3' }]);
      const p1 = (await api('GET', '/api/v4/contacts?limit=2')).json();
      expect(p1._page).toBe(1);
      expect(p1._links.next.href).toContain('page=2');
      const p2 = (await api('GET', '/api/v4/contacts?limit=2&page=2')).json();
      expect(p2._embedded.contacts).toHaveLength(1);
      expect(p2._links.next).toBeUndefined();
      expect((await api('GET', '/api/v4/contacts?limit=2&page=3')).status).toBe(204);
    });

    it('updates a contact; sending PHONE replaces its values', async () => {
      const id = [...emu.state.contacts.values()][0]?.id;
      const res = await api('PATCH', `/api/v4/contacts/${id}`, { custom_fields_values: [phone('+79160000000', 'WORK')] });
      expect(res.status).toBe(200);
      const c = (await api('GET', `/api/v4/contacts/${id}`)).json();
      expect(c.custom_fields_values.find((f: any) => f.field_code === 'PHONE').values).toEqual([
        { value: '+79160000000', enum_id: 1234561, enum_code: 'WORK' },
      ]);
      expect(c.custom_fields_values.find((f: any) => f.field_code === 'EMAIL')).toBeDefined();
    });
  });

  describe('validation errors', () => {
    it('reports an unknown field id with the vendor shape and writes nothing', async () => {
      const res = await api('POST', '/api/v4/leads', [
        { name: 'ok' },
        { name: 'bad', custom_fields_values: [{ field_id: 999999, values: [{ value: 'x' }] }] },
      ]);
      expect(res.status).toBe(400);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.json()).toEqual({
        title: 'Bad Request',
        type: 'https://httpstatus.es/400',
        status: 400,
        detail: 'Request validation failed',
        'validation-errors': [{
          request_id: '1',
          errors: [{ code: 'NotSupportedChoice', path: 'custom_fields_values.0.field_id', detail: 'The value you selected is not a valid choice.' }],
        }],
      });
      expect(emu.state.leads.size).toBe(0);
    });

    it('reports wrong enums, wrong types and unknown select values', async () => {
      const res = await api('POST', '/api/v4/contacts', [{
        name: 5,
        custom_fields_values: [phone('+79161234567', 'PAGER'), { field_id: 610927, values: [{ value: 'Нет такого' }] }],
        request_id: 'r1',
      }]);
      expect(res.json()['validation-errors'][0]).toEqual({
        request_id: 'r1',
        errors: [
          { code: 'InvalidType', path: 'name', detail: 'This value should be of type string.' },
          { code: 'NotSupportedChoice', path: 'custom_fields_values.0.values.0.enum_code', detail: 'The value you selected is not a valid choice.' },
          { code: 'NotSupportedChoice', path: 'custom_fields_values.1.values.0.value', detail: 'The value you selected is not a valid choice.' },
        ],
      });
    });

    it('requires complete_till and text on tasks', async () => {
      const res = await api('POST', '/api/v4/tasks', [{ task_type_id: 1 }]);
      expect(res.json()['validation-errors'][0].errors.map((e: any) => e.path)).toEqual(['text', 'complete_till']);
    });

    it('caps batches: 250 per write (422) and 50 per complex request', async () => {
      const big = await api('POST', '/api/v4/contacts', Array.from({ length: 251 }, () => ({ name: 'x' })));
      expect(big.status).toBe(422);
      expect(big.json().detail).toBe('Limit 250 per page');
      const complex = await api('POST', '/api/v4/leads/complex', Array.from({ length: 51 }, () => ({ name: 'x' })));
      expect(complex.status).toBe(400);
      expect(complex.json()['validation-errors'][0].errors[0].code).toBe('TooManyElements');
      expect((await api('POST', '/api/v4/contacts', { name: 'not an array' })).json()['validation-errors'][0].errors[0].code).toBe('InvalidType');
      expect((await api('POST', '/api/v4/contacts', [])).json().detail).toBe('Request data can not be empty');
    });
  });

  describe('leads, complex, notes, tasks, calls', () => {
    it('complex add answers a bare array and links the new contact', async () => {
      const res = await api('POST', '/api/v4/leads/complex', [{
        name: 'Заявка', pipeline_id: SEED.mainPipelineId, request_id: 'lg-1',
        _embedded: { contacts: [{ first_name: 'Ирина', custom_fields_values: [phone('+79161234567')] }], companies: [{ name: 'ООО Ромашка' }] },
      }]);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      const [item] = res.json();
      expect(item).toMatchObject({ request_id: ['lg-1'], merged: false });
      expect(emu.state.contacts.get(item.contact_id)?.company_id).toBe(item.company_id);
      expect(emu.state.leads.get(item.id)?.status_id).toBe(SEED.mainFirstStatusId);
    });

    it('adds and lists notes, creates and filters tasks', async () => {
      const leadId = (await api('POST', '/api/v4/leads', [{ name: 'L' }])).json()._embedded.leads[0].id;
      const note = await api('POST', `/api/v4/leads/${leadId}/notes`, [{ note_type: 'common', params: { text: 'Привет' } }]);
      expect(note.json()._embedded.notes[0]).toMatchObject({ entity_id: leadId, request_id: '0' });
      expect((await api('POST', '/api/v4/leads/notes', [{ entity_id: leadId, note_type: 'common', params: {} }])).json()['validation-errors'][0].errors[0])
        .toMatchObject({ code: 'FieldMissing', path: 'params.text' });
      expect((await api('GET', `/api/v4/leads/${leadId}/notes`)).json()._embedded.notes).toHaveLength(1);

      expect((await api('GET', `/api/v4/tasks?filter[entity_type]=leads&filter[entity_id][]=${leadId}`)).status).toBe(204);
      await api('POST', '/api/v4/tasks', [{ text: 'Связаться с клиентом', complete_till: 1_735_000_900, task_type_id: 1, entity_id: leadId, entity_type: 'leads' }]);
      const tasks = (await api('GET', `/api/v4/tasks?filter[entity_type]=leads&filter[entity_id]=${leadId}`)).json()._embedded.tasks;
      expect(tasks).toHaveLength(1);
      expect(tasks[0]).toMatchObject({ entity_id: leadId, entity_type: 'leads', complete_till: 1_735_000_900, is_completed: false });
      expect(emu.state.counts()).toMatchObject({ leads: 1, notes: 1, tasks: 1 });
    });

    it('places calls by the last 10 digits; no card → not added', async () => {
      const contactId = (await api('POST', '/api/v4/contacts', [{ name: 'И', custom_fields_values: [phone('+7 916 123-45-67')] }])).json()._embedded.contacts[0].id;
      const leadId = (await api('POST', '/api/v4/leads', [{ name: 'L', _embedded: { contacts: [{ id: contactId }] } }])).json()._embedded.leads[0].id;
      const res = await api('POST', '/api/v4/calls', [
        { direction: 'inbound', duration: 60, source: 'Leadgate', phone: '89161234567', uniq: 'c1', request_id: 'a' },
        { direction: 'inbound', duration: 5, source: 'Leadgate', phone: '+79990000000', request_id: 'b' },
      ]);
      const body = res.json();
      expect(body._embedded.calls).toEqual([expect.objectContaining({ entity_id: leadId, entity_type: 'lead', request_id: 'a' })]);
      expect(body.errors).toEqual([expect.objectContaining({ request_id: 'b' })]);
      expect(emu.state.counts()).toMatchObject({ calls: 1, notes: 1 });
    });

    it('links a contact and a company to a lead and lists the links', async () => {
      const contactId = (await api('POST', '/api/v4/contacts', [{ name: 'И' }])).json()._embedded.contacts[0].id;
      const companyId = (await api('POST', '/api/v4/companies', [{ name: 'ООО' }])).json()._embedded.companies[0].id;
      const leadId = (await api('POST', '/api/v4/leads', [{ name: 'L' }])).json()._embedded.leads[0].id;
      const linked = await api('POST', `/api/v4/leads/${leadId}/link`, [
        { to_entity_id: contactId, to_entity_type: 'contacts', metadata: { is_main: true } },
        { to_entity_id: companyId, to_entity_type: 'companies' },
      ]);
      expect(linked.json()._embedded.links[0]).toEqual({
        entity_id: leadId, entity_type: 'leads', to_entity_id: contactId, to_entity_type: 'contacts', metadata: { main_contact: true },
      });
      const lead = (await api('GET', `/api/v4/leads/${leadId}?with=contacts`)).json();
      expect(lead._embedded.contacts[0]).toMatchObject({ id: contactId, is_main: true });
      expect(lead._embedded.companies[0].id).toBe(companyId);
      expect((await api('GET', `/api/v4/contacts/${contactId}?with=leads`)).json()._embedded.leads[0].id).toBe(leadId);
      expect((await api('GET', `/api/v4/leads/${leadId}/links?filter[to_entity_type]=companies`)).json()._embedded.links).toHaveLength(1);
    });

    it('drops the connection under inject() too', async () => {
      emu.faults.resetNext(1);
      await expect(api('GET', '/api/v4/account')).rejects.toThrow(/ECONNRESET/);
      expect((await api('GET', '/api/v4/account')).status).toBe(200);
    });

    it('reset() empties the account and restarts ids', async () => {
      const first = (await api('POST', '/api/v4/leads', [{ name: 'L' }])).json()._embedded.leads[0].id;
      emu.reset();
      expect(emu.state.counts().leads).toBe(0);
      expect(emu.stats.requests).toHaveLength(0);
      expect((await api('POST', '/api/v4/leads', [{ name: 'L' }])).json()._embedded.leads[0].id).toBe(first);
    });
  });

  describe('faults (over a listening server)', () => {
    let server: Awaited<ReturnType<typeof startAmoEmulator>>;
    const get = (path: string, init: RequestInit = {}) =>
      fetch(`${server.url}${path}`, { ...init, headers: { authorization: `Bearer ${server.token}` } });

    beforeEach(async () => {
      server = await startAmoEmulator({ rateLimit: false });
    });
    afterEach(async () => {
      await server.close();
    });

    it('fails the next N matching requests with the chosen 5xx, then recovers', async () => {
      server.faults.failNext(2, { status: 503, method: 'GET', path: '/api/v4/account' });
      expect((await get('/api/v4/users')).status).toBe(200);
      const first = await get('/api/v4/account');
      expect(first.status).toBe(503);
      expect(first.headers.get('content-type')).toMatch(/^text\/html/);
      expect((await get('/api/v4/account')).status).toBe(503);
      expect((await get('/api/v4/account')).status).toBe(200);
      server.faults.failNext(1);
      const err = await get('/api/v4/account');
      expect(err.status).toBe(500);
      expect(await err.json()).toMatchObject({ title: 'ErrInternalServer', status: 500 });
      expect(server.stats.count5xx).toBe(3);
      expect(server.faults.pending()).toHaveLength(0);
    });

    it('injects 429s without escalating to a block', async () => {
      server.faults.rateLimitNext(1, { path: /^\/api\/v4\/leads/ });
      expect((await get('/api/v4/leads')).status).toBe(429);
      expect((await get('/api/v4/leads')).status).toBe(204);
      expect(server.stats.requests.map((r) => r.fault)).toEqual(['rate-limit', undefined]);
    });

    it('hangs a request until the client gives up, and still closes promptly', async () => {
      server.faults.timeoutNext(1);
      await expect(get('/api/v4/account', { signal: AbortSignal.timeout(150) })).rejects.toThrow();
      expect(server.stats.requests[0]).toMatchObject({ status: 0, fault: 'timeout' });
      server.faults.timeoutNext(1);
      const pending = get('/api/v4/account').catch((e: unknown) => e);
      await new Promise((r) => setTimeout(r, 50));
      const started = Date.now();
      await server.close();
      expect(Date.now() - started).toBeLessThan(1000);
      expect(await pending).toBeInstanceOf(Error);
      server = await startAmoEmulator({ rateLimit: false });
    });

    it('resets the connection', async () => {
      server.faults.resetNext(1);
      await expect(get('/api/v4/account')).rejects.toThrow();
      expect((await get('/api/v4/account')).status).toBe(200);
    });

    it('adds latency', async () => {
      server.faults.setLatency(120);
      const started = Date.now();
      expect((await get('/api/v4/account')).status).toBe(200);
      expect(Date.now() - started).toBeGreaterThanOrEqual(100);
    });
  });
});
