import axios from 'axios';
import qs from 'qs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildBitrixEmulator, ERROR_BODIES, startBitrixEmulator, type BitrixEmulator, type BitrixEmulatorOptions, type RunningBitrixEmulator } from './index.ts';

const HOOK = '/rest/1/emulator-secret';

interface Answer {
  status: number;
  body: Record<string, any>;
  headers: Record<string, unknown>;
  text: string;
}

function harness(options: BitrixEmulatorOptions = {}): {
  emu: BitrixEmulator;
  clock: { now: number; advance(ms: number): void };
  call(method: string, payload?: Record<string, unknown>, via?: { prefix?: string; form?: boolean; get?: boolean; host?: string }): Promise<Answer>;
} {
  const clock = {
    now: Date.parse('2026-05-14T07:26:32Z'),
    advance(ms: number) {
      this.now += ms;
    },
  };
  const emu = buildBitrixEmulator({ now: () => clock.now, ...options });
  const call = async (
    method: string,
    payload: Record<string, unknown> = {},
    via: { prefix?: string; form?: boolean; get?: boolean; host?: string } = {},
  ): Promise<Answer> => {
    const url = `${via.prefix ?? HOOK}/${method}`;
    const headers: Record<string, string> = via.host ? { host: via.host } : {};
    const res = via.get
      ? await emu.app.inject({ method: 'GET', url: `${url}?${qs.stringify(payload, { encodeValuesOnly: true })}`, headers })
      : via.form
        ? await emu.app.inject({
            method: 'POST',
            url,
            payload: qs.stringify(payload, { encodeValuesOnly: true }),
            headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' },
          })
        : await emu.app.inject({ method: 'POST', url, payload, headers: { ...headers, 'content-type': 'application/json' } });
    const text = res.body;
    let body: Record<string, any> = {};
    try {
      body = JSON.parse(text) as Record<string, any>;
    } catch {
      body = {};
    }
    return { status: res.statusCode, body, headers: res.headers, text };
  };
  return { emu, clock, call };
}

describe('bitrix24 emulator: webhook auth and envelope', () => {
  it('answers a webhook call with result and the documented time block', async () => {
    const { call } = harness();
    const res = await call('crm.settings.mode.get.json');
    expect(res.status).toBe(200);
    expect(res.body.result).toBe(1);
    expect(Object.keys(res.body.time)).toEqual(['start', 'finish', 'duration', 'processing', 'date_start', 'date_finish', 'operating_reset_at', 'operating']);
    expect(res.body.time.date_start).toBe('2026-05-14T10:26:32+03:00');
    expect(res.body.time.operating_reset_at).toBe(Date.parse('2026-05-14T07:36:32Z') / 1000);
  });

  it('refuses a wrong webhook secret or user with 401 NO_AUTH_FOUND', async () => {
    const { call } = harness();
    for (const prefix of ['/rest/1/wrong-secret', '/rest/2/emulator-secret']) {
      const res = await call('crm.lead.list', {}, { prefix });
      expect(res.status).toBe(401);
      expect(res.body).toEqual({ error: 'NO_AUTH_FOUND', error_description: 'Wrong authorization data' });
    }
  });

  it('treats method names case-insensitively and reports unknown ones with 404', async () => {
    const { call } = harness();
    expect((await call('CRM.Settings.Mode.Get')).status).toBe(200);
    const res = await call('crm.lead.nosuch');
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ error: 'ERROR_METHOD_NOT_FOUND', error_description: 'Method not found!' });
  });

  it('enforces webhook scopes (batch needs none)', async () => {
    const { call } = harness({ webhooks: [{ userId: 1, code: 'emulator-secret', scopes: ['user'] }] });
    const res = await call('crm.lead.list');
    expect(res.status).toBe(403);
    expect(res.body.error).toBe('insufficient_scope');
    const batch = await call('batch', { cmd: { me: 'user.current', leads: 'crm.lead.list' } });
    expect(batch.status).toBe(200);
    expect(batch.body.result.result.me.ID).toBe('1');
    expect(batch.body.result.result_error.leads.error).toBe('insufficient_scope');
  });

  it('reads JSON, PHP-bracket form bodies and GET query strings alike', async () => {
    const { call, emu } = harness();
    const fields = { TITLE: 'Form', PHONE: [{ VALUE: '+79161234567', VALUE_TYPE: 'MOBILE' }] };
    expect((await call('crm.lead.add', { fields })).body.result).toBe(1);
    expect((await call('crm.lead.add', { fields }, { form: true })).body.result).toBe(2);
    expect((await call('crm.lead.add', { fields }, { get: true })).body.result).toBe(3);
    for (const lead of emu.state.leads.values()) {
      expect(lead.TITLE).toBe('Form');
      expect(lead.PHONE).toEqual([expect.objectContaining({ VALUE: '+79161234567', VALUE_TYPE: 'MOBILE', TYPE_ID: 'PHONE' })]);
    }
  });
});

describe('bitrix24 emulator: OAuth', () => {
  it('accepts auth in query, JSON body or form body and rejects missing or unknown tokens', async () => {
    const { emu, call } = harness();
    const { access_token } = emu.state.oauth.issuePair();
    expect((await call('user.current', { auth: access_token }, { prefix: '/rest', get: true })).body.result.ID).toBe('1');
    expect((await call('user.current', { auth: access_token }, { prefix: '/rest' })).status).toBe(200);
    expect((await call('user.current', { auth: access_token }, { prefix: '/rest', form: true })).status).toBe(200);
    const missing = await call('user.current', {}, { prefix: '/rest' });
    expect(missing.status).toBe(401);
    expect(missing.body).toEqual(ERROR_BODIES.NO_AUTH_FOUND);
    const unknown = await call('user.current', { auth: 'nope' }, { prefix: '/rest' });
    expect(unknown.status).toBe(401);
    expect(unknown.body).toEqual({ error: 'invalid_token', error_description: 'The access token provided is invalid.' });
  });

  it('expires tokens (switch and clock), refreshes with rotation and counts refreshes', async () => {
    const { emu, call, clock } = harness();
    const first = emu.state.oauth.issuePair();
    expect((await call('crm.lead.list', { auth: first.access_token }, { prefix: '/rest' })).status).toBe(200);

    expect(emu.faults.expireAccessTokens()).toBe(1);
    const expired = await call('crm.lead.list', { auth: first.access_token }, { prefix: '/rest' });
    expect(expired.status).toBe(401);
    expect(expired.body).toEqual({ error: 'expired_token', error_description: 'The access token provided has expired.' });

    const { oauth } = emu.options;
    const refresh = (token: string) =>
      emu.app.inject({
        method: 'GET',
        url: `/oauth/token/?${qs.stringify({ grant_type: 'refresh_token', client_id: oauth.clientId, client_secret: oauth.clientSecret, refresh_token: token })}`,
      });
    const res = await refresh(first.refresh_token);
    expect(res.statusCode).toBe(200);
    const second = res.json();
    expect(second).toMatchObject({ expires_in: 3600, member_id: emu.options.memberId, scope: expect.any(String), user_id: 1 });
    expect(second.access_token).not.toBe(first.access_token);
    expect(second.refresh_token).not.toBe(first.refresh_token);
    expect((await call('crm.lead.list', { auth: second.access_token }, { prefix: '/rest' })).status).toBe(200);

    const reused = await refresh(first.refresh_token);
    expect(reused.statusCode).toBe(400);
    expect(reused.json().error).toBe('invalid_grant');
    const badClient = await emu.app.inject({
      method: 'POST',
      url: '/oauth/token/',
      payload: qs.stringify({ grant_type: 'refresh_token', client_id: oauth.clientId, client_secret: 'x', refresh_token: second.refresh_token }),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(badClient.json().error).toBe('invalid_client');
    expect(emu.stats.refreshCount).toBe(1);

    clock.advance(3600 * 1000);
    expect((await call('crm.lead.list', { auth: second.access_token }, { prefix: '/rest' })).body.error).toBe('expired_token');
  });

  it('answers invalid_token for revoked tokens', async () => {
    const { emu, call } = harness();
    const { access_token } = emu.state.oauth.issuePair();
    emu.faults.revokeAccessTokens();
    expect((await call('crm.lead.list', { auth: access_token }, { prefix: '/rest' })).body.error).toBe('invalid_token');
  });
});

describe('bitrix24 emulator: limits', () => {
  it('refuses a burst of 60 instant calls after the 50th with 503 QUERY_LIMIT_EXCEEDED', async () => {
    const { emu, call, clock } = harness();
    const statuses: number[] = [];
    for (let i = 0; i < 60; i++) statuses.push((await call('crm.settings.mode.get')).status);
    expect(statuses.slice(0, 50).every((s) => s === 200)).toBe(true);
    expect(statuses.slice(50).every((s) => s === 503)).toBe(true);
    const refused = await call('crm.settings.mode.get');
    expect(refused.body).toEqual({ error: 'QUERY_LIMIT_EXCEEDED', error_description: 'Too many requests' });
    expect(emu.stats.limitErrors).toBe(11);
    expect(emu.stats.maxBucketFill).toBe(50);

    clock.advance(1000); // drains 2
    expect((await call('crm.settings.mode.get')).status).toBe(200);
    expect((await call('crm.settings.mode.get')).status).toBe(200);
    expect((await call('crm.settings.mode.get')).status).toBe(503);
  });

  it('never refuses a client that keeps to 2 requests per second, and counts a batch once', async () => {
    const { emu, call, clock } = harness();
    for (let i = 0; i < 120; i++) {
      await call('crm.settings.mode.get');
      clock.advance(500);
    }
    const cmd = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`m${i}`, 'crm.settings.mode.get']));
    expect((await call('batch', { cmd })).status).toBe(200);
    expect(emu.stats.limitErrors).toBe(0);
    expect(emu.stats.maxBucketFill).toBeLessThanOrEqual(2);
    expect(emu.stats.maxPerSecond()).toBe(2);
    expect(emu.stats.requestCount()).toBe(121);
    expect(emu.stats.methodCalls.get('crm.settings.mode.get')).toBe(170);
  });

  it('blocks one method after its operating budget is spent, per the 10-minute buckets', async () => {
    const { emu, call, clock } = harness();
    emu.faults.setMethodCost('crm.lead.list', 300);
    const first = await call('crm.lead.list');
    expect(first.body.time.operating).toBe(300);
    expect((await call('crm.lead.list')).status).toBe(200); // 300 ≤ 480 before the call; 600 after
    const blocked = await call('crm.lead.list');
    expect(blocked.status).toBe(429);
    expect(blocked.body).toEqual({ error: 'OPERATION_TIME_LIMIT', error_description: 'Method is blocked due to operation time limit.' });
    expect((await call('crm.deal.list')).status).toBe(200);
    const inBatch = await call('batch', { cmd: { l: 'crm.lead.list' } });
    expect(inBatch.body.result.result_error.l.error).toBe('OPERATION_TIME_LIMIT');
    expect(emu.stats.operationLimitErrors).toBe(2);
    clock.advance(10 * 60_000);
    expect((await call('crm.lead.list')).status).toBe(200);
  });

  it('can force OPERATION_TIME_LIMIT for a method', async () => {
    const { emu, call } = harness();
    emu.faults.forceOperationTimeLimit('crm.lead.add');
    expect((await call('crm.lead.add', { fields: { TITLE: 'x' } })).status).toBe(429);
    expect((await call('crm.contact.add', { fields: { NAME: 'x' } })).status).toBe(200);
  });
});

describe('bitrix24 emulator: batch', () => {
  it('runs the sheet example with $result references in order', async () => {
    const { emu, call } = harness();
    const res = await call('batch', {
      halt: 1,
      cmd: {
        c: 'crm.contact.add?fields[NAME]=Ivan&fields[PHONE][0][VALUE]=%2B79161234567&fields[PHONE][0][VALUE_TYPE]=MOBILE&fields[SOURCE_ID]=WEB',
        l: 'crm.lead.add?fields[TITLE]=Site%20form&fields[CONTACT_ID]=$result[c]&fields[SOURCE_ID]=WEB&fields[UTM_SOURCE]=google',
        g: 'crm.lead.list?filter[ID]=$result[l]&select[0]=ID&select[1]=CONTACT_ID',
        t: 'crm.timeline.comment.add?fields[ENTITY_TYPE]=lead&fields[ENTITY_ID]=$result[g][0][ID]&fields[COMMENT]=From%20form%20%23contact',
      },
    });
    expect(res.status).toBe(200);
    const r = res.body.result;
    expect(Object.keys(r)).toEqual(['result', 'result_error', 'result_total', 'result_next', 'result_time']);
    expect(r.result).toMatchObject({ c: 1, l: 1, g: [{ ID: '1', CONTACT_ID: '1' }], t: expect.any(Number) });
    expect(r.result_error).toEqual([]);
    expect(r.result_total).toEqual({ g: 1 });
    expect(r.result_next).toEqual([]);
    expect(Object.keys(r.result_time)).toEqual(['c', 'l', 'g', 't']);
    expect(emu.state.leads.get(1)).toMatchObject({ CONTACT_ID: '1', IS_RETURN_CUSTOMER: 'Y', UTM_SOURCE: 'google' });
    expect([...emu.state.comments.values()]).toEqual([expect.objectContaining({ ENTITY_TYPE: 'lead', ENTITY_ID: 1, COMMENT: 'From form #contact' })]);
  });

  it('reports per-command errors; halt stops the run, absent keys stay absent', async () => {
    const { call } = harness();
    const cmd = { a: 'crm.lead.get?id=999', b: 'crm.lead.add?fields[TITLE]=after', c: 'crm.lead.get?id=$result[b]' };
    const noHalt = (await call('batch', { halt: 0, cmd })).body.result;
    expect(noHalt.result_error).toEqual({ a: { error: '', error_description: 'Not found' } });
    expect(noHalt.result.b).toBe(1);
    expect(noHalt.result.c.TITLE).toBe('after');
    const halted = (await call('batch', { halt: 1, cmd })).body.result;
    expect(halted.result).toEqual([]);
    expect(halted.result_time).toEqual([]);
    expect(Object.keys(halted.result_error)).toEqual(['a']);
  });

  it('limits batches to 50 commands and forbids nested batch', async () => {
    const { call } = harness();
    const cmd = Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, 'crm.settings.mode.get']));
    const res = (await call('batch', { cmd })).body.result;
    expect(Object.keys(res.result)).toHaveLength(50);
    expect(res.result_error).toEqual({ k50: { error: 'ERROR_BATCH_LENGTH_EXCEEDED', error_description: 'Max batch length exceeded' } });
    const nested = (await call('batch', { cmd: { n: 'batch?cmd[x]=user.current' } })).body.result;
    expect(nested.result_error.n.error).toBe('ERROR_BATCH_METHOD_NOT_ALLOWED');
  });

  it('accepts cmd as a list and as a double-encoded form body', async () => {
    const { call } = harness();
    const list = (await call('batch', { cmd: ['crm.lead.add?fields[TITLE]=a%26b', 'crm.lead.get?id=$result[0]'] })).body.result;
    expect(list.result[0]).toBe(1);
    expect(list.result[1].TITLE).toBe('a&b');
    const form = (await call('batch', { cmd: { x: 'crm.lead.get?id=1' } }, { form: true })).body.result;
    expect(form.result.x.TITLE).toBe('a&b');
  });
});

describe('bitrix24 emulator: duplicate search', () => {
  const seed = async (call: ReturnType<typeof harness>['call']): Promise<void> => {
    await call('crm.contact.add', { fields: { NAME: 'Ivan', PHONE: [{ VALUE: '+7 (916) 123-45-67', VALUE_TYPE: 'MOBILE' }], EMAIL: [{ VALUE: 'Ivan@Example.com', VALUE_TYPE: 'WORK' }] } });
    await call('crm.lead.add', { fields: { TITLE: 'Berlin', PHONE: [{ VALUE: '+49 30 1234567;55', VALUE_TYPE: 'WORK' }] } });
  };

  it('docs mode: whole-number match ignoring only punctuation and the extension', async () => {
    const { call } = harness();
    await seed(call);
    const find = async (values: string[], entity_type?: string) => (await call('crm.duplicate.findbycomm', { type: 'PHONE', values, ...(entity_type ? { entity_type } : {}) })).body.result;
    expect(await find(['+79161234567'])).toEqual({ CONTACT: [1] });
    expect(await find(['89161234567'])).toEqual([]);
    expect(await find(['+49301234567'])).toEqual({ LEAD: [1] });
    expect(await find(['49301234567'])).toEqual([]);
    expect(await find(['+79161234567'], 'LEAD')).toEqual([]);
    const email = (await call('crm.duplicate.findbycomm', { type: 'EMAIL', values: [' ivan@example.COM '] })).body.result;
    expect(email).toEqual({ CONTACT: [1] });
  });

  it('core mode: legacy NormalizePhone rules (8 → 7, 00 stripped)', async () => {
    const { call } = harness({ phoneMatch: 'core' });
    await seed(call);
    const find = async (values: string[]) => (await call('crm.duplicate.findbycomm', { type: 'PHONE', values })).body.result;
    expect(await find(['8 916 123-45-67'])).toEqual({ CONTACT: [1] });
    expect(await find(['9161234567'])).toEqual([]);
    expect(await find(['0049301234567'])).toEqual({ LEAD: [1] });
  });

  it('validates type and the 20-value cap', async () => {
    const { call } = harness();
    const noType = await call('crm.duplicate.findbycomm', { values: ['1'] });
    expect(noType.status).toBe(400);
    expect(noType.body.error).toBe('Communication type is not defined');
    const tooMany = await call('crm.duplicate.findbycomm', { type: 'PHONE', values: Array.from({ length: 21 }, (_, i) => `+7916000000${i}`) });
    expect(tooMany.status).toBe(400);
    expect((await call('crm.duplicate.findbycomm', { type: 'IM', values: ['@x'] })).body.error).toBe("Communication type 'IM' is not supported in current context");
  });
});

describe('bitrix24 emulator: CRM mode', () => {
  it('classic mode keeps the lead a lead', async () => {
    const { emu, call } = harness();
    expect((await call('crm.settings.mode.get')).body.result).toBe(1);
    await call('crm.lead.add', { fields: { TITLE: 'Form', NAME: 'Ivan' } });
    expect((await call('crm.lead.get', { id: 1 })).body.result.STATUS_ID).toBe('NEW');
    expect(emu.state.deals.size).toBe(0);
  });

  it('simple mode converts a named lead into a deal with contact, and leaves a nameless one', async () => {
    const { emu, call } = harness();
    emu.state.setCrmMode('simple');
    expect((await call('crm.settings.mode.get')).body.result).toBe(2);
    const leadId = (await call('crm.lead.add', { fields: { TITLE: 'Form', NAME: 'Ivan', COMPANY_TITLE: 'Acme', SOURCE_ID: 'WEB', PHONE: [{ VALUE: '+79161234567', VALUE_TYPE: 'MOBILE' }] } })).body.result;
    expect((await call('crm.lead.get', { id: leadId })).body.result.STATUS_ID).toBe('CONVERTED');
    const deals = (await call('crm.deal.list', { filter: { LEAD_ID: leadId }, select: ['ID', 'CONTACT_ID', 'COMPANY_ID', 'SOURCE_ID'] })).body;
    expect(deals.result).toEqual([{ ID: '1', CONTACT_ID: '1', COMPANY_ID: '1', SOURCE_ID: 'WEB' }]);
    expect(emu.state.contacts.get(1)).toMatchObject({ NAME: 'Ivan', LEAD_ID: String(leadId) });
    expect(emu.state.companies.get(1)?.TITLE).toBe('Acme');

    const nameless = (await call('crm.lead.add', { fields: { TITLE: 'No name' } })).body.result;
    expect(emu.state.leads.get(nameless)?.STATUS_ID).toBe('NEW');
    expect(emu.state.deals.size).toBe(1);
  });
});

describe('bitrix24 emulator: fields and records', () => {
  it('describes standard and UF_CRM_* fields and ignores unknown fields', async () => {
    const { emu, call } = harness();
    const fields = (await call('crm.lead.fields')).body.result;
    expect(fields.SOURCE_ID).toMatchObject({ type: 'crm_status', statusType: 'SOURCE' });
    expect(fields.PHONE).toMatchObject({ type: 'crm_multifield', isMultiple: true });
    expect(fields.UF_CRM_1704817278).toMatchObject({ type: 'string', isDynamic: true, title: 'UF_CRM_1704817278', listLabel: 'Yandex click id' });
    expect((await call('crm.contact.fields')).body.result.UF_CRM_TELEGRAM_ID).toBeDefined();
    await call('crm.lead.add', { fields: { TITLE: 'x', UF_CRM_UNKNOWN: 'lost', NOT_A_FIELD: 1, ID: 99, UF_CRM_1704817278: 'kept' } });
    const lead = emu.state.leads.get(1);
    expect(lead).toMatchObject({ ID: '1', UF_CRM_1704817278: 'kept' });
    expect(lead).not.toHaveProperty('UF_CRM_UNKNOWN');
  });

  it('applies multifield update semantics and rejects a bad e-mail', async () => {
    const { emu, call } = harness();
    await call('crm.contact.add', { fields: { NAME: 'A', PHONE: [{ VALUE: '+1', VALUE_TYPE: 'WORK' }, { VALUE: '+2', VALUE_TYPE: 'HOME' }] } });
    const [p1, p2] = emu.state.contacts.get(1)?.PHONE as { ID: string }[];
    await call('crm.contact.update', { id: 1, fields: { PHONE: [{ ID: p1!.ID, VALUE: '+11', VALUE_TYPE: 'MOBILE' }, { ID: p2!.ID, DELETE: 'Y' }, { VALUE: '+3', VALUE_TYPE: 'WORK' }] } });
    expect((emu.state.contacts.get(1)?.PHONE as { VALUE: string }[]).map((p) => p.VALUE)).toEqual(['+11', '+3']);
    const bad = await call('crm.contact.add', { fields: { NAME: 'B', EMAIL: [{ VALUE: 'not-an-email', VALUE_TYPE: 'WORK' }] } });
    expect(bad.status).toBe(400);
    expect(bad.body).toEqual({ error: 'ERROR_CORE', error_description: 'The field "Work e-mail" contains an invalid address' });
    const noFields = await call('crm.deal.add', {});
    expect(noFields.body).toEqual({ error: '', error_description: "Parameter 'fields' must be array." });
    expect((await call('crm.lead.get', { id: 'x' })).body).toEqual({ error: '', error_description: 'ID is not defined or invalid.' });
  });

  it('lists sources, deal stages per pipeline and pipelines', async () => {
    const { call } = harness();
    const sources = (await call('crm.status.list', { filter: { ENTITY_ID: 'SOURCE' }, order: { SORT: 'ASC' } })).body.result.map((s: { STATUS_ID: string }) => s.STATUS_ID);
    expect(sources).toEqual(['CALL', 'EMAIL', 'WEB', 'ADVERTISING', 'PARTNER', 'RECOMMENDATION', 'TRADE_SHOW', 'WEBFORM', 'CALLBACK', 'RC_GENERATOR', 'STORE', 'OTHER']);
    const categories = (await call('crm.category.list', { entityTypeId: 2 })).body;
    expect(categories.result.categories).toContainEqual({ id: 0, name: 'General', sort: 300, entityTypeId: 2, isDefault: 'Y' });
    const stages = (await call('crm.status.list', { filter: { ENTITY_ID: 'DEAL_STAGE_1' } })).body.result.map((s: { STATUS_ID: string }) => s.STATUS_ID);
    expect(stages[0]).toBe('C1:NEW');
    const dealId = (await call('crm.deal.add', { fields: { CATEGORY_ID: 1, STAGE_ID: 'NEW', SOURCE_ID: 'CALL' } })).body.result;
    expect((await call('crm.deal.get', { id: dealId })).body.result).toMatchObject({ TITLE: `Deal #${dealId}`, CATEGORY_ID: '1', STAGE_ID: 'C1:NEW' });
  });

  it('adds to-dos (ISO or space-separated deadline), comments and tasks', async () => {
    const { emu, call } = harness();
    await call('crm.lead.add', { fields: { TITLE: 'x' } });
    expect((await call('crm.activity.todo.add', { ownerTypeId: 1, ownerId: 1, deadline: '2026-08-19 15:00:00', title: 'Call back' })).body.result).toEqual({ id: expect.any(Number) });
    expect((await call('crm.activity.todo.add', { ownerTypeId: 2, ownerId: 1, deadline: '2026-08-19T15:00:00+03:00' })).body.error).toBe('OWNER_NOT_FOUND');
    expect((await call('crm.activity.todo.add', { ownerTypeId: 1, ownerId: 1, deadline: 'tomorrow' })).body.error).toBe('WRONG_DATETIME_FORMAT');
    expect((await call('crm.timeline.comment.add', { FIELDS: { ENTITY_TYPE: 'lead', ENTITY_ID: 1, COMMENT: 'x' } })).body.error).toBe('100');
    const task = (await call('tasks.task.add', { fields: { TITLE: 'Process lead', RESPONSIBLE_ID: 7, UF_CRM_TASK: ['L_1'] } })).body.result.task;
    expect(task).toMatchObject({ title: 'Process lead', responsibleId: '7' });
    expect((await call('tasks.task.add', { fields: { TITLE: 'x', RESPONSIBLE_ID: 9 } })).body.error).toBe('ERROR_CORE');
    expect(emu.state.activities.size).toBe(1);
    expect(emu.state.tasks.size).toBe(1);
  });
});

describe('bitrix24 emulator: telephony', () => {
  it('refuses webhooks for register (docs) and runs register → finish → attachRecord over OAuth', async () => {
    const { emu, call } = harness();
    const registerParams = { USER_PHONE_INNER: '107', PHONE_NUMBER: '+79161234567', TYPE: 2, CRM_CREATE: 1, CRM_SOURCE: 'CALL', EXTERNAL_CALL_ID: 'pbx-1' };
    const viaHook = await call('telephony.externalCall.register', registerParams);
    expect(viaHook.status).toBe(403);
    expect(viaHook.body.error).toBe('WRONG_AUTH_TYPE');

    const auth = emu.state.oauth.issuePair().access_token;
    const app = { prefix: '/rest' };
    const reg = (await call('telephony.externalcall.register', { ...registerParams, auth }, app)).body.result;
    expect(reg).toMatchObject({ CRM_CREATED_LEAD: 1, CRM_ENTITY_TYPE: 'LEAD', CRM_ENTITY_ID: 1, CRM_CREATED_ENTITIES: [{ ENTITY_TYPE: 'LEAD', ENTITY_ID: 1 }] });
    expect(emu.state.leads.get(1)).toMatchObject({ SOURCE_ID: 'CALL', ASSIGNED_BY_ID: '7' });
    const again = (await call('telephony.externalcall.register', { ...registerParams, auth }, app)).body.result;
    expect(again.CALL_ID).toBe(reg.CALL_ID);

    const early = await call('telephony.externalcall.attachRecord', { CALL_ID: reg.CALL_ID, FILENAME: 'a.mp3', FILE_CONTENT: 'AAAA', auth }, app);
    expect(early.body.error_description).toBe('Call is not found in the statistic table. It looks like it is not finished yet.');
    const fin = (await call('telephony.externalcall.finish', { CALL_ID: reg.CALL_ID, USER_ID: 7, DURATION: 95, auth }, app)).body.result;
    expect(fin).toMatchObject({ CALL_STATUS: 1, CALL_FAILED_CODE: '200', CRM_ENTITY_TYPE: 'LEAD', CRM_ENTITY_ID: 1, CRM_ACTIVITY_ID: expect.any(Number) });
    expect([...emu.state.activities.values()][0]).toMatchObject({ kind: 'call', OWNER_TYPE_ID: 1, OWNER_ID: 1, DIRECTION: 1 });
    const wrongExt = await call('telephony.externalcall.attachRecord', { CALL_ID: reg.CALL_ID, FILENAME: 'a.ogg', FILE_CONTENT: 'AAAA', auth }, app);
    expect(wrongExt.body.error_description).toBe('Wrong file extension. Only wav and mp3 are allowed');
    const rec = (await call('telephony.externalcall.attachRecord', { CALL_ID: reg.CALL_ID, FILENAME: 'a.mp3', FILE_CONTENT: 'SUQzBA==', auth }, app)).body.result;
    expect(rec).toEqual({ FILE_ID: expect.any(Number) });
    expect(emu.state.externalCalls.get(reg.CALL_ID)?.records).toEqual([expect.objectContaining({ FILENAME: 'a.mp3', bytes: 4 })]);
  });

  it('binds to an existing contact by phone when webhooks are allowed', async () => {
    const { call } = harness({ telephonyWebhookAuth: 'allow' });
    await call('crm.contact.add', { fields: { NAME: 'Known', PHONE: [{ VALUE: '8 (916) 123-45-67', VALUE_TYPE: 'MOBILE' }] } });
    const reg = (await call('telephony.externalcall.register', { USER_ID: 1, PHONE_NUMBER: '79161234567', TYPE: 2, CRM_CREATE: 1 })).body.result;
    expect(reg).toMatchObject({ CRM_ENTITY_TYPE: 'CONTACT', CRM_ENTITY_ID: 1, CRM_CREATED_LEAD: null, CRM_CREATED_ENTITIES: [] });
    expect((await call('telephony.externalcall.register', { USER_ID: 9, PHONE_NUMBER: '1', TYPE: 2 })).body.error_description).toBe('User is not found or is not active');
  });
});

describe('bitrix24 emulator: faults (inject)', () => {
  it('fails the next N matching requests with 5xx and leaves others alone', async () => {
    const { emu, call } = harness();
    emu.faults.failNext(2, 502, { method: 'crm.lead.add' });
    const first = await call('crm.lead.add', { fields: { TITLE: 'x' } });
    expect(first.status).toBe(502);
    expect(first.headers['content-type']).toContain('text/html');
    expect((await call('crm.lead.list')).status).toBe(200);
    expect((await call('crm.lead.add', { fields: { TITLE: 'x' } })).status).toBe(502);
    expect((await call('crm.lead.add', { fields: { TITLE: 'x' } })).status).toBe(200);
    emu.faults.failNext(1, 500);
    expect((await call('crm.lead.list')).body).toEqual(ERROR_BODIES.INTERNAL_SERVER_ERROR);
    emu.faults.queryLimitNext(1, { method: /^crm\.deal\./ });
    expect((await call('crm.deal.list')).body.error).toBe('QUERY_LIMIT_EXCEEDED');
    expect(emu.stats.injectedLimitErrors).toBe(1);
    expect(emu.stats.limitErrors).toBe(0);
    expect(emu.state.leads.size).toBe(1);
  });

  it('can lose the answer after the method ran (the create happened)', async () => {
    const { emu, call } = harness();
    emu.faults.failNext(1, 504, { method: 'crm.lead.add', afterExecution: true });
    const lost = await call('crm.lead.add', { fields: { TITLE: 'x', ORIGINATOR_ID: 'leadgate', ORIGIN_ID: 'uuid-1' } });
    expect(lost.status).toBe(504);
    expect(emu.state.leads.size).toBe(1);
    const found = await call('crm.lead.list', { filter: { ORIGINATOR_ID: 'leadgate', ORIGIN_ID: 'uuid-1' }, select: ['ID'] });
    expect(found.body.result).toEqual([{ ID: '1' }]);
  });

  it('answers a portal-URL mismatch with 302 to the new host', async () => {
    const { emu, call } = harness();
    emu.faults.redirect({ to: 'https://new-portal.bitrix24.ru' });
    const moved = await call('crm.lead.add', { fields: { TITLE: 'x' } }, { host: 'old-portal.bitrix24.ru' });
    expect(moved.status).toBe(302);
    expect(moved.headers.location).toBe(`https://new-portal.bitrix24.ru${HOOK}/crm.lead.add`);
    expect((await call('crm.lead.add', { fields: { TITLE: 'x' } }, { host: 'new-portal.bitrix24.ru' })).status).toBe(200);
    expect(emu.stats.redirects).toBe(1);
  });
});

describe('bitrix24 emulator: over real sockets', () => {
  let oldPortal: RunningBitrixEmulator;
  let newPortal: RunningBitrixEmulator;

  beforeEach(async () => {
    newPortal = await startBitrixEmulator();
    oldPortal = await startBitrixEmulator();
    oldPortal.faults.redirect({ to: newPortal.url });
  });
  afterEach(async () => {
    await oldPortal.close();
    await newPortal.close();
  });

  it('302 trap: a following client turns the POST into a bodiless GET and the lead is lost', async () => {
    const followed = await axios.post(`${oldPortal.webhookUrl}crm.lead.add`, { fields: { TITLE: 'Lost' } }, { validateStatus: () => true });
    expect(followed.status).toBe(400);
    expect(followed.data).toEqual({ error: '', error_description: "Parameter 'fields' must be array." });
    expect(newPortal.state.leads.size).toBe(0);
    expect(newPortal.stats.requests.at(-1)).toMatchObject({ httpMethod: 'GET', method: 'crm.lead.add' });

    const manual = await axios.post(`${oldPortal.webhookUrl}crm.lead.add`, { fields: { TITLE: 'Kept' } }, { maxRedirects: 0, validateStatus: () => true });
    expect(manual.status).toBe(302);
    const location = String(manual.headers.location);
    expect(location).toBe(`${newPortal.webhookUrl}crm.lead.add`);
    const reposted = await axios.post(location, { fields: { TITLE: 'Kept' } });
    expect(reposted.data.result).toBe(1);
    expect(newPortal.state.leads.get(1)?.TITLE).toBe('Kept');
    expect(oldPortal.stats.redirects).toBe(2);
  });

  it('hangs a request until close, resets a connection, adds latency', async () => {
    newPortal.faults.hangNext(1, { method: 'crm.lead.add' });
    const hung = axios.post(`${newPortal.webhookUrl}crm.lead.add`, { fields: { TITLE: 'x' } }, { timeout: 300 });
    await expect(hung).rejects.toMatchObject({ code: 'ECONNABORTED' });
    expect(newPortal.faults.pendingHangs).toBe(1);

    newPortal.faults.resetNext(1);
    await expect(axios.post(`${newPortal.webhookUrl}crm.lead.list`, {})).rejects.toMatchObject({ code: 'ECONNRESET' });
    newPortal.faults.resetNext(1, { method: 'crm.lead.add', afterExecution: true });
    await expect(axios.post(`${newPortal.webhookUrl}crm.lead.add`, { fields: { TITLE: 'ran' } })).rejects.toMatchObject({ code: 'ECONNRESET' });
    expect(newPortal.state.leads.get(1)?.TITLE).toBe('ran');

    newPortal.faults.setLatency(150, { method: 'crm.lead.list' });
    const started = Date.now();
    expect((await axios.post(`${newPortal.webhookUrl}crm.lead.list`, {})).status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    // close() in afterEach releases the hung request.
  });

  it('serves the OAuth token endpoint over HTTP as the connector will call it', async () => {
    const { tokenUrl, clientId, clientSecret, tokens } = newPortal.oauth;
    const res = await axios.get(tokenUrl, { params: { grant_type: 'refresh_token', client_id: clientId, client_secret: clientSecret, refresh_token: tokens.refresh_token } });
    expect(res.data.client_endpoint).toBe(`${newPortal.url}/rest/`);
    const me = await axios.post(`${newPortal.url}/rest/user.current`, { auth: res.data.access_token });
    expect(me.data.result.ID).toBe('1');
    expect(newPortal.stats.refreshCount).toBe(1);
  });
});
