/**
 * `POST /hooks/pbx/<sourceId>/lookup`: the PBX agent asks who takes a caller before ringing (telephony.md §9.4).
 * Signed like events, answered from the caller-ID cache / the CRM (amoCRM emulator here), never stored.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue } from 'bullmq';
import { startAmoEmulator, type RunningAmoEmulator } from '../emulators/amocrm/start.ts';
import { startHarness, type Harness } from '../support/harness.ts';
import { pbxSignature } from '../../connectors/channels/pbx/verify.ts';
import { QUEUE_INTAKE } from '../../src/pipeline/queues.ts';

const SECRET = 'pbx-lookup-secret-0123456789';

describe('PBX caller lookup through the gateway', () => {
  let emu: RunningAmoEmulator;
  let h: Harness;
  let intake: Queue;
  let contactId = '';
  beforeAll(async () => {
    emu = await startAmoEmulator();
    const res = await fetch(`${emu.url}/api/v4/contacts`, {
      method: 'POST',
      headers: { authorization: `Bearer ${emu.token}`, 'content-type': 'application/json' },
      body: JSON.stringify([{ name: 'Ирина Петрова', responsible_user_id: 8801235, custom_fields_values: [{ field_code: 'PHONE', values: [{ value: '+79161234567', enum_code: 'WORK' }] }] }]),
    });
    contactId = String(((await res.json()) as { _embedded: { contacts: { id: number }[] } })._embedded.contacts[0]!.id);
    await new Promise((r) => setTimeout(r, 1_100)); // seeding bypassed the hub's limiter: let amoCRM's window pass
    h = await startHarness({
      workers: false,
      env: { PL_AMO_TOKEN: emu.token, PL_PBX_SECRET: SECRET, PL_LOOKUP_TOKEN: 'lookup-token-0123456789abcdef' },
      config: {
        crm: [{ id: 'crm', connector: 'amocrm', settings: { baseUrl: emu.url, auth: 'long-lived', tokenEnv: 'PL_AMO_TOKEN' }, extensions: { '8801235': '201' } }],
        sources: [{ id: 'asterisk', connector: 'pbx', name: 'Asterisk', secretEnv: 'PL_PBX_SECRET' }],
        telephony: { lookup: { tokenEnv: 'PL_LOOKUP_TOKEN', timeoutMs: 5_000 } },
      },
    });
    intake = new Queue(QUEUE_INTAKE, { connection: h.redis, prefix: h.prefix });
  });
  afterAll(async () => {
    await intake?.close();
    await h?.close();
    await emu?.close();
  });

  const ask = async (body: unknown, secret = SECRET) => {
    const raw = Buffer.from(JSON.stringify(body));
    const ts = String(Math.floor(Date.now() / 1000));
    const res = await h.post('/hooks/pbx/asterisk/lookup', raw, { 'content-type': 'application/json', 'x-leadgate-timestamp': ts, 'x-leadgate-signature': `sha256=${pbxSignature(secret, ts, raw)}` });
    return { status: res.status, json: JSON.parse(res.body) as Record<string, unknown> };
  };
  const stored = async () => intake.getJobCountByTypes('waiting', 'active', 'delayed', 'completed', 'failed');

  it('a known caller: the responsible manager\'s extension and the CRM name; nothing is stored', async () => {
    const before = await stored();
    const r = await ask({ from: '89161234567', did: '+74951234567', call_id: '1768470900.41' });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ extension: '201', display_name: 'Ирина Петрова', contact_id: contactId });
    expect(await stored()).toBe(before);
  });

  it('an unknown caller gets {} (the PBX\'s default route)', async () => {
    expect(await ask({ from: '+79990000000' })).toEqual({ status: 200, json: {} });
  });

  it('unsigned or wrongly signed lookups are refused like events', async () => {
    expect((await ask({ from: '+79161234567' }, 'wrong-secret-0123456789')).status).toBe(403);
    const res = await h.post('/hooks/pbx/asterisk/lookup', JSON.stringify({ from: '+79161234567' }), { 'content-type': 'application/json' });
    expect(res.status).toBe(401);
  });

  it('a lookup without the caller\'s number is a 422 naming the field', async () => {
    const r = await ask({ did: '+74951234567' });
    expect(r.status).toBe(422);
    expect(r.json).toMatchObject({ error: { field: 'from' } });
  });
});
