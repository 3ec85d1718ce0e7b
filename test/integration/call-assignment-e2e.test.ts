/**
 * Calls follow the assignment rules, end to end for amoCRM and Bitrix24: signed Zadarma events → gateway → Redis/BullMQ
 * → worker (rules in Redis) → the CRM emulator over real HTTP. An unknown caller's missed call opens a lead whose
 * manager — and the call-back task's — is the rule's round-robin pick for the called line; a known contact's missed
 * call goes to the contact's manager (sticky) without taking a round-robin turn; a line no rule names keeps the default.
 */
import { createHmac } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { startAmoEmulator, type RunningAmoEmulator } from '../emulators/amocrm/start.ts';
import { startBitrixEmulator, type RunningBitrixEmulator } from '../emulators/bitrix24/start.ts';
import { startHarness, type Harness } from '../support/harness.ts';
import { writeRules } from '../assignment/support/rules-file.ts';

const ENV = { CA_ZD_SECRET: 'zadarma-secret-0123456789', CA_ZD_KEY: 'zadarma-key-0123' };
const LINE = '+74951234567';
const OTHER_LINE = '+74957654321';

interface CrmUnderTest {
  name: string;
  account: Record<string, unknown>;
  env: Record<string, string>;
  /** Round-robin order of the rule's group; `users[1]` also manages the seeded contact. */
  users: [string, string];
  /** The extension that rang (a known CRM user's); the rules must still decide a missed call. */
  ext: string;
  seedContact(phone: string, responsible: string): Promise<void>;
  leadResponsible(leadId: string): string;
  taskResponsible(taskId: string): string;
  close(): Promise<void>;
}

async function amo(): Promise<CrmUnderTest> {
  const emu: RunningAmoEmulator = await startAmoEmulator();
  const post = async <T,>(path: string, body: unknown): Promise<T> => {
    const res = await fetch(`${emu.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${emu.token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  };
  return {
    name: 'amocrm',
    account: { id: 'crm', connector: 'amocrm', settings: { baseUrl: emu.url, auth: 'long-lived', tokenEnv: 'CA_AMO_TOKEN' }, extensions: { '8801235': '201' } },
    env: { CA_AMO_TOKEN: emu.token },
    // The manager first: the CRM default (the token's user, 8801234) would not tell a pick from no pick.
    users: ['8801235', '8801234'],
    ext: '201',
    async seedContact(phone, responsible) {
      await post('/api/v4/contacts', [{ name: 'Известный клиент', responsible_user_id: Number(responsible), custom_fields_values: [{ field_code: 'PHONE', values: [{ value: phone, enum_code: 'WORK' }] }] }]);
      await new Promise((r) => setTimeout(r, 1_100)); // outside the hub's limiter: let amoCRM's 7/s window pass
    },
    leadResponsible: (id) => String(emu.state.leads.get(Number(id))?.responsible_user_id),
    taskResponsible: (id) => String(emu.state.tasks.get(Number(id))?.responsible_user_id),
    close: () => emu.close(),
  };
}

async function bitrix(): Promise<CrmUnderTest> {
  const emu: RunningBitrixEmulator = await startBitrixEmulator({ telephonyWebhookAuth: 'allow' });
  return {
    name: 'bitrix24',
    account: { id: 'crm', connector: 'bitrix24', settings: { auth: 'webhook', webhookUrlEnv: 'CA_B24_WEBHOOK' }, extensions: { '7': '107' } },
    env: { CA_B24_WEBHOOK: emu.webhookUrl },
    // Without the rules a missed call rung at extension 107 is registered for user 7: the first pick must differ.
    users: ['1', '7'],
    ext: '107',
    async seedContact(phone, responsible) {
      const res = await fetch(`${emu.webhookUrl}crm.contact.add`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ fields: { NAME: 'Известный', PHONE: [{ VALUE: phone, VALUE_TYPE: 'WORK' }], ASSIGNED_BY_ID: Number(responsible) } }) });
      if (!res.ok) throw new Error(`crm.contact.add: ${res.status}`);
    },
    leadResponsible: (id) => String(emu.state.leads.get(Number(id))?.ASSIGNED_BY_ID),
    taskResponsible: (id) => String(emu.state.activities.get(Number(id))?.RESPONSIBLE_ID),
    close: () => emu.close(),
  };
}

function zadarma(fields: Record<string, string>): { body: string; headers: Record<string, string> } {
  // Zadarma signs different fields per event (telephony.md; connectors/channels/zadarma/verify.ts).
  const order: Record<string, string[]> = { NOTIFY_ANSWER: ['caller_id', 'destination', 'call_start'], NOTIFY_END: ['caller_id', 'called_did', 'call_start'] };
  const signed = (order[fields.event ?? ''] ?? ['caller_id', 'called_did', 'call_start']).map((f) => fields[f] ?? '').join('');
  const hex = createHmac('sha1', ENV.CA_ZD_SECRET).update(signed).digest('hex');
  return { body: new URLSearchParams(fields).toString(), headers: { 'content-type': 'application/x-www-form-urlencoded', signature: Buffer.from(hex).toString('base64') } };
}

/** `call_start` in Moscow time, as Zadarma writes it. */
const moscow = (offsetSec: number): string => new Date(Date.now() + offsetSec * 1000 + 3 * 3600_000).toISOString().replace('T', ' ').slice(0, 19);

interface CallReceipt {
  leadId?: string;
  taskId?: string;
  createdLead: boolean;
  responsibleUserId?: string;
}

let n = 0;
/** A missed inbound call from `client` to `line`, rung at `ext`; the final receipt of its delivery. */
async function missedCall(h: Harness, client: string, line: string, ext: string): Promise<CallReceipt> {
  const pbx = `in_${Date.now().toString(16)}_${++n}`;
  const base = { pbx_call_id: pbx, call_start: moscow(-30), caller_id: client.replace('+', ''), called_did: line.replace('+', '') };
  for (const fields of [
    { event: 'NOTIFY_START', ...base },
    { event: 'NOTIFY_END', ...base, internal: ext, duration: '0', disposition: 'no answer', status_code: '19', is_recorded: '0', call_id_with_rec: '' },
  ]) {
    const z = zadarma(fields);
    expect((await h.post('/hooks/zadarma/zd', z.body, z.headers)).status).toBe(200);
  }
  await h.drain();
  const mine = h.delivered.filter((d) => d.kind === 'call' && d.receipt && (d.receipt as CallReceipt).taskId !== undefined);
  const r = mine[mine.length - 1]?.receipt as CallReceipt | undefined;
  expect(r, 'the missed call left a call-back task').toBeDefined();
  return r!;
}

/** An answered inbound call from `client` to `line`, taken at `ext`; the final receipt of its delivery. */
async function answeredCall(h: Harness, client: string, line: string, ext: string): Promise<CallReceipt> {
  const pbx = `in_${Date.now().toString(16)}_${++n}`;
  const base = { pbx_call_id: pbx, call_start: moscow(-60), caller_id: client.replace('+', ''), called_did: line.replace('+', '') };
  for (const fields of [
    { event: 'NOTIFY_START', ...base },
    { event: 'NOTIFY_ANSWER', ...base, destination: ext, internal: ext },
    { event: 'NOTIFY_END', ...base, internal: ext, duration: '42', disposition: 'answered', status_code: '16', is_recorded: '0', call_id_with_rec: '' },
  ]) {
    const z = zadarma(fields);
    expect((await h.post('/hooks/zadarma/zd', z.body, z.headers)).status).toBe(200);
  }
  await h.drain();
  const mine = h.delivered.filter((d) => d.kind === 'call' && d.receipt && (d.receipt as CallReceipt).leadId !== undefined);
  const r = mine[mine.length - 1]?.receipt as CallReceipt | undefined;
  expect(r, 'the answered call opened or found a lead').toBeDefined();
  return r!;
}

describe.each([['amocrm', amo], ['bitrix24', bitrix]] as const)('calls and the assignment rules: %s', (_name, make) => {
  let crm: CrmUnderTest | undefined;
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    await crm?.close();
    h = undefined;
    crm = undefined;
  });

  it('unknown callers\' missed calls → lead and call-back task to the round-robin pick; a known contact → its manager, no turn taken', async () => {
    crm = await make();
    const [u0, u1] = crm.users;
    const rules = writeRules(`timeZone: Europe/Moscow
groups:
  calls: { strategy: round-robin, users: ["${u0}", "${u1}"] }
rules:
  - { name: Линия продаж, when: { line: ["${LINE}"] }, group: calls }
reassign: { enabled: false }
`);
    h = await startHarness({
      env: { ...ENV, ...crm.env },
      config: {
        crm: [{ ...crm.account, assignment: rules }],
        sources: [{ id: 'zd', connector: 'zadarma', name: 'Телефония', secretEnv: 'CA_ZD_SECRET', settings: { apiKeyEnv: 'CA_ZD_KEY' } }],
      },
    });

    const a = await missedCall(h, '+79035550101', LINE, crm.ext);
    expect(a).toMatchObject({ createdLead: true, responsibleUserId: u0 });
    expect(crm.leadResponsible(a.leadId!)).toBe(u0);
    expect(crm.taskResponsible(a.taskId!)).toBe(u0);

    const b = await missedCall(h, '+79035550102', LINE, crm.ext);
    expect(b).toMatchObject({ createdLead: true, responsibleUserId: u1 });
    expect(crm.leadResponsible(b.leadId!)).toBe(u1);
    expect(crm.taskResponsible(b.taskId!)).toBe(u1);

    // Round robin would give u0 now; the known contact's manager u1 keeps the client.
    await crm.seedContact('+79035550199', u1);
    const known = await missedCall(h, '+79035550199', LINE, crm.ext);
    expect(known.createdLead).toBe(false);
    expect(known.responsibleUserId).toBe(u1);
    expect(crm.taskResponsible(known.taskId!)).toBe(u1);

    // The sticky pick took no turn: the next unknown caller is u0's.
    const c = await missedCall(h, '+79035550103', LINE, crm.ext);
    expect(c).toMatchObject({ createdLead: true, responsibleUserId: u0 });
    expect(crm.taskResponsible(c.taskId!)).toBe(u0);

    // A line no rule names: no pick, the connector's default applies.
    const other = await missedCall(h, '+79035550104', OTHER_LINE, crm.ext);
    expect(other.createdLead).toBe(true);
    expect(other.responsibleUserId).toBeUndefined();

    // An unknown caller whom our manager (extension in crm[].extensions) answered: the lead is that manager's, even
    // though round robin would give the other one now (u1), and no turn is taken.
    const answered = await answeredCall(h, '+79035550105', LINE, crm.ext);
    const extOwner = crm.name === 'amocrm' ? u0 : u1; // whose extension crm.ext is (config crm[].extensions)
    expect(crm.leadResponsible(answered.leadId!)).toBe(extOwner);
    const d = await missedCall(h, '+79035550106', LINE, crm.ext);
    expect(d).toMatchObject({ createdLead: true, responsibleUserId: u1 });
  }, 120_000);
});
