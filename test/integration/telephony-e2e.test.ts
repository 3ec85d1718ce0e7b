/**
 * Telephony end to end, for amoCRM and Bitrix24: real HTTP into the gateway with real provider signatures
 * (Mango sign, Zadarma Signature, Sipuni URL secret) → Redis + BullMQ → workers → the CRM emulator over real HTTP;
 * recordings from a loopback stub of the providers' recording APIs (test/support/recording-server.ts).
 */
import { createHash, createHmac } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { startAmoEmulator, type RunningAmoEmulator } from '../emulators/amocrm/start.ts';
import { startBitrixEmulator, type RunningBitrixEmulator } from '../emulators/bitrix24/start.ts';
import { startHarness, type Harness } from '../support/harness.ts';
import { startRecordingServer, type RecordingServer } from '../support/recording-server.ts';

const MANGO_KEY = 'demo_api_key';
const ENV = {
  TEL_MANGO_SALT: 'mango-salt-0123456789',
  TEL_ZD_SECRET: 'zadarma-secret-0123456789',
  TEL_ZD_KEY: 'zadarma-key-0123',
  TEL_SIPUNI_SECRET: 'sipuni-secret-0123456789',
  TEL_LOOKUP_TOKEN: 'lookup-token-0123456789abcdef',
  TEL_EVENTS_SECRET: 'events-secret-0123456789',
  TEL_B24_APP_TOKEN: 'b24-application-token',
  TEL_REC_KEY: 'recording-key-0123456789abcdef',
};
const HUB = 'http://hub.test';
const LINE = '+74951234567';

// ------------------------------------------------------------------------------------------- CRM adapters

interface CrmUnderTest {
  name: 'amocrm' | 'bitrix24';
  account: Record<string, unknown>;
  env: Record<string, string>;
  /** Extension of the seeded manager (config `extensions`) and what the PBX sends for them. */
  managerExt: string;
  /** A contact with this phone, the manager responsible, and an open lead. */
  seedContact(phone: string, name: string): Promise<{ contactId: string; leadId: string }>;
  /** CRM call records written for this call (amoCRM call notes, Bitrix24 finished external calls). */
  callsWritten(callKey: string): number;
  /** Recording links attached to this call. */
  recordingLinks(callKey: string): string[];
  callbackTasks(): number;
  /** Call-back tasks not completed yet. */
  openCallbackTasks(): number;
  /** Requests that wrote a task's completion (amoCRM PATCH /api/v4/tasks, Bitrix24 crm.activity.update). */
  taskCompletionWrites(): number;
  /** A manager closes (`complete`) or deletes (`delete`) every call-back task in the CRM itself. */
  touchCallbackTasks(how: 'complete' | 'delete'): void;
  /** The lead opened for an unknown caller: its source facts as strings. */
  callLeads(): { source: string }[];
  notesContaining(text: string): number;
  requests(): number;
  setLatency(ms: number): void;
  /** A CRM webhook saying this contact changed. */
  contactChanged(contactId: string): { body: string; contentType: string };
  close(): Promise<void>;
}

async function amoUnderTest(): Promise<CrmUnderTest> {
  const emu: RunningAmoEmulator = await startAmoEmulator();
  const api = async <T,>(path: string, body: unknown): Promise<T> => {
    const res = await fetch(`${emu.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${emu.token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  };
  const notes = () => [...emu.state.notes.values()];
  return {
    name: 'amocrm',
    account: { id: 'crm', connector: 'amocrm', settings: { baseUrl: emu.url, auth: 'long-lived', tokenEnv: 'TEL_AMO_TOKEN' }, extensions: { '8801235': '201' }, events: { secretEnv: 'TEL_EVENTS_SECRET' } },
    env: { TEL_AMO_TOKEN: emu.token },
    managerExt: '201',
    async seedContact(phone, name) {
      const c = await api<{ _embedded: { contacts: { id: number }[] } }>('/api/v4/contacts', [{ name, responsible_user_id: 8801235, custom_fields_values: [{ field_code: 'PHONE', values: [{ value: phone, enum_code: 'WORK' }] }] }]);
      const contactId = c._embedded.contacts[0]!.id;
      const l = await api<{ _embedded: { leads: { id: number }[] } }>('/api/v4/leads', [{ name: 'Открытая сделка', responsible_user_id: 8801235, _embedded: { contacts: [{ id: contactId }] } }]);
      // Seeding bypasses the hub's shared limiter: let amoCRM's 7-per-second window pass before the hub calls.
      await new Promise((r) => setTimeout(r, 1_100));
      return { contactId: String(contactId), leadId: String(l._embedded.leads[0]!.id) };
    },
    callsWritten: (callKey) => notes().filter((n) => (n.note_type === 'call_in' || n.note_type === 'call_out') && n.params.uniq === callKey).length,
    recordingLinks: (callKey) => {
      const inCallNotes = notes().filter((n) => n.params.uniq === callKey && typeof n.params.link === 'string').map((n) => String(n.params.link));
      const inText = notes().flatMap((n) => (typeof n.params.text === 'string' ? (n.params.text.match(/https?:\/\/\S+\/recordings\/\S+/g) ?? []) : []));
      return [...inCallNotes, ...inText];
    },
    callbackTasks: () => [...emu.state.tasks.values()].filter((t) => t.text === 'Перезвонить клиенту').length,
    openCallbackTasks: () => [...emu.state.tasks.values()].filter((t) => t.text === 'Перезвонить клиенту' && !t.is_completed).length,
    taskCompletionWrites: () => emu.stats.requests.filter((r) => r.method === 'PATCH' && r.path.startsWith('/api/v4/tasks') && r.status < 300).length,
    touchCallbackTasks: (how) => {
      for (const t of [...emu.state.tasks.values()].filter((x) => x.text === 'Перезвонить клиенту')) {
        if (how === 'delete') emu.state.tasks.delete(t.id);
        else t.is_completed = true;
      }
    },
    callLeads: () => [...emu.state.unsorted.values()].filter((u) => u.category === 'sip').map((u) => ({ source: `${u.source_name} ${String(u.metadata.phone)}` })),
    notesContaining: (text) => notes().filter((n) => typeof n.params.text === 'string' && n.params.text.includes(text)).length,
    requests: () => emu.stats.requests.length,
    setLatency: (ms) => emu.faults.setLatency(ms),
    contactChanged: (id) => ({ body: `contacts%5Bupdate%5D%5B0%5D%5Bid%5D=${id}&contacts%5Bupdate%5D%5B0%5D%5Bname%5D=x&account%5Bid%5D=28805383`, contentType: 'application/x-www-form-urlencoded' }),
    close: () => emu.close(),
  };
}

async function bitrixUnderTest(): Promise<CrmUnderTest> {
  const emu: RunningBitrixEmulator = await startBitrixEmulator({ telephonyWebhookAuth: 'allow' });
  const call = async (method: string, params: unknown): Promise<unknown> => {
    const res = await fetch(`${emu.webhookUrl}${method}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(params) });
    const body = (await res.json()) as { result?: unknown; error?: unknown };
    if (!res.ok || body.error) throw new Error(`${method}: ${JSON.stringify(body)}`);
    return body.result;
  };
  const calls = (callKey: string) => [...emu.state.externalCalls.values()].filter((c) => c.EXTERNAL_CALL_ID === callKey);
  return {
    name: 'bitrix24',
    account: { id: 'crm', connector: 'bitrix24', settings: { auth: 'webhook', webhookUrlEnv: 'TEL_B24_WEBHOOK' }, extensions: { '7': '107' }, events: { secretEnv: 'TEL_EVENTS_SECRET', applicationTokenEnv: 'TEL_B24_APP_TOKEN' } },
    env: { TEL_B24_WEBHOOK: emu.webhookUrl },
    managerExt: '107',
    async seedContact(phone, name) {
      const [first, last] = name.split(' ');
      const contactId = String(await call('crm.contact.add', { fields: { NAME: first, LAST_NAME: last, PHONE: [{ VALUE: phone, VALUE_TYPE: 'WORK' }], ASSIGNED_BY_ID: 7 } }));
      const leadId = String(await call('crm.lead.add', { fields: { TITLE: 'Открытый лид', CONTACT_ID: contactId, ASSIGNED_BY_ID: 7 } }));
      return { contactId, leadId };
    },
    callsWritten: (callKey) => calls(callKey).filter((c) => c.finished !== null).length,
    recordingLinks: (callKey) => calls(callKey).flatMap((c) => c.records.filter((r) => r.source === 'url').map((r) => r.FILENAME)),
    callbackTasks: () => [...emu.state.activities.values()].filter((a) => a.kind === 'todo' && a.SUBJECT === 'Перезвонить клиенту').length,
    openCallbackTasks: () => [...emu.state.activities.values()].filter((a) => a.kind === 'todo' && a.SUBJECT === 'Перезвонить клиенту' && a.COMPLETED !== 'Y').length,
    taskCompletionWrites: () => emu.stats.requests.filter((r) => r.method === 'crm.activity.update' && r.status < 300).length,
    touchCallbackTasks: (how) => {
      for (const a of [...emu.state.activities.values()].filter((x) => x.kind === 'todo' && x.SUBJECT === 'Перезвонить клиенту')) {
        if (how === 'delete') emu.state.activities.delete(a.ID);
        else a.COMPLETED = 'Y';
      }
    },
    callLeads: () => [...emu.state.leads.values()].filter((l) => l.SOURCE_ID === 'CALL').map((l) => ({ source: `${String(l.SOURCE_ID)} ${String(l.SOURCE_DESCRIPTION)}` })),
    notesContaining: (text) => [...emu.state.comments.values()].filter((c) => c.COMMENT.includes(text)).length,
    requests: () => emu.stats.requests.length,
    setLatency: (ms) => emu.faults.setLatency(ms),
    contactChanged: (id) => ({
      body: new URLSearchParams({ event: 'ONCRMCONTACTUPDATE', 'data[FIELDS][ID]': id, ts: '1724697689', 'auth[domain]': '127.0.0.1', 'auth[application_token]': ENV.TEL_B24_APP_TOKEN }).toString(),
      contentType: 'application/x-www-form-urlencoded',
    }),
    close: () => emu.close(),
  };
}

// ---------------------------------------------------------------------------------------------- providers

const nowSec = (): number => Math.floor(Date.now() / 1000);

function mangoBody(json: Record<string, unknown>): string {
  const text = JSON.stringify(json);
  const sign = createHash('sha256').update(MANGO_KEY + text + ENV.TEL_MANGO_SALT).digest('hex');
  return new URLSearchParams({ vpbx_api_key: MANGO_KEY, sign, json: text }).toString();
}

/** `call_start` in the account zone (Europe/Moscow, UTC+3), as Zadarma writes it. */
function moscow(offsetSec = 0): string {
  return new Date(Date.now() + offsetSec * 1000 + 3 * 3600_000).toISOString().replace('T', ' ').slice(0, 19);
}

const ZD_SIGNED: Record<string, string[]> = {
  NOTIFY_START: ['caller_id', 'called_did', 'call_start'],
  NOTIFY_INTERNAL: ['caller_id', 'called_did', 'call_start'],
  NOTIFY_END: ['caller_id', 'called_did', 'call_start'],
  NOTIFY_ANSWER: ['caller_id', 'destination', 'call_start'],
  NOTIFY_OUT_START: ['internal', 'destination', 'call_start'],
  NOTIFY_OUT_END: ['internal', 'destination', 'call_start'],
  NOTIFY_RECORD: ['pbx_call_id', 'call_id_with_rec'],
};

function zadarma(fields: Record<string, string>): { body: string; headers: Record<string, string> } {
  const signed = ZD_SIGNED[fields.event!]!.map((f) => fields[f] ?? '').join('');
  const hex = createHmac('sha1', ENV.TEL_ZD_SECRET).update(signed).digest('hex');
  return { body: new URLSearchParams(fields).toString(), headers: { 'content-type': 'application/x-www-form-urlencoded', signature: Buffer.from(hex).toString('base64') } };
}

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

async function until(what: string, check: () => boolean, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// ------------------------------------------------------------------------------------------------- suites

for (const make of [amoUnderTest, bitrixUnderTest]) {
  describe(`telephony → ${make.name.replace('UnderTest', '')} end to end`, () => {
    let crm: CrmUnderTest;
    let rec: RecordingServer;
    let h: Harness;
    afterEach(async () => {
      await h?.close();
      await crm?.close();
      await rec?.close();
    });

    async function setup(o: { sweeper?: Record<string, number> } = {}): Promise<void> {
      crm = await make();
      rec = await startRecordingServer({ mango: { apiKey: MANGO_KEY, salt: ENV.TEL_MANGO_SALT }, zadarma: { key: ENV.TEL_ZD_KEY, secret: ENV.TEL_ZD_SECRET } });
      h = await startHarness({
        env: { ...ENV, ...crm.env },
        config: {
          crm: [crm.account],
          sources: [
            { id: 'mango-main', connector: 'mango', name: 'Телефония Mango', secretEnv: 'TEL_MANGO_SALT', settings: { apiKey: MANGO_KEY, apiBaseUrl: `${rec.url}/vpbx` } },
            { id: 'zd-main', connector: 'zadarma', name: 'Телефония Zadarma', secretEnv: 'TEL_ZD_SECRET', settings: { apiKeyEnv: 'TEL_ZD_KEY', apiBaseUrl: rec.url, routing: { enabled: true, deadlineMs: 800 } } },
            { id: 'sipuni-main', connector: 'sipuni', name: 'Sipuni', secretEnv: 'TEL_SIPUNI_SECRET' },
          ],
          telephony: {
            lookup: { tokenEnv: 'TEL_LOOKUP_TOKEN', timeoutMs: 5_000 },
            recordings: { publicBaseUrl: HUB, signingKeyEnv: 'TEL_REC_KEY', retryEveryMs: 300 },
            sweeper: o.sweeper ?? { everySec: 60, ringingTimeoutSec: 3_600, answeredTimeoutSec: 3_600 },
          },
        },
      });
    }

    const lookup = (number: string, token: string | null = ENV.TEL_LOOKUP_TOKEN) =>
      fetch(`${h.gateway.url}/lookup/phone/${encodeURIComponent(number)}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });

    it('answered Mango call, events out of order and repeated → one call record, the recording linked once and playable', async () => {
      await setup();
      const client = '+79161234567';
      await crm.seedContact(client, 'Ирина Петрова');
      const entry = `entry-${Date.now()}`;
      const t = nowSec() - 120;
      const ext = crm.managerExt;
      const leg = (callId: string, seq: number, state: string, location: string, to: Record<string, string>, at: number) =>
        ({ path: '/events/call', json: { entry_id: entry, call_id: callId, timestamp: at, seq, call_state: state, location, from: { number: client.slice(1) }, to } });
      const ivr = { number: LINE.slice(1), line_number: LINE.slice(1) };
      const mgr = { extension: ext, number: `sip:m${ext}@demo.mangosip.ru`, line_number: LINE.slice(1) };
      const summary = { path: '/events/summary', json: { entry_id: entry, call_direction: 1, from: { number: client.slice(1) }, to: { extension: ext, number: mgr.number }, line_number: LINE.slice(1), create_time: t, forward_time: t + 4, talk_time: t + 11, end_time: t + 95, entry_result: 1, disconnect_reason: 1110 } };
      const recording = { path: '/events/recording', json: { entry_id: entry, call_id: 'leg-2', recording_id: `rec-${entry}`, recording_state: 'Completed', seq: 2, extension: ext, timestamp: t + 96, completion_code: 1000, recipient: 'Cloud' } };
      rec.addRecording(`rec-${entry}`, { savingFor: 2 }); // "still saving" twice: the link comes on a later try
      const events = [
        leg('leg-2', 2, 'Connected', 'abonent', mgr, t + 11),
        summary,
        leg('leg-1', 1, 'Appeared', 'ivr', ivr, t),
        leg('leg-2', 2, 'Connected', 'abonent', mgr, t + 11),
        recording,
        leg('leg-2', 1, 'Appeared', 'abonent', mgr, t + 4),
        leg('leg-1', 3, 'Disconnected', 'ivr', ivr, t + 5),
        summary,
        leg('leg-2', 3, 'Disconnected', 'abonent', mgr, t + 95),
        leg('leg-1', 2, 'Connected', 'ivr', ivr, t + 1),
        recording,
      ];
      const endAt = Date.now();
      for (const e of events) expect((await h.post(`/hooks/mango/mango-main${e.path}`, mangoBody(e.json), FORM)).status).toBe(200);
      const callKey = `mango:mango-main:${entry}`;
      await until('the recording on the card', () => crm.recordingLinks(callKey).length > 0, 60_000);
      expect(Date.now() - endAt).toBeLessThan(60_000);
      await h.drain(30_000);
      expect(crm.callsWritten(callKey)).toBe(1);
      expect(crm.recordingLinks(callKey)).toHaveLength(1);
      expect(crm.callbackTasks()).toBe(0);
      expect(rec.stats.mangoQueries).toBeGreaterThanOrEqual(3);

      // The link on the card is the hub's: every play fetches a fresh one-shot provider link and streams it.
      if (crm.name === 'amocrm') {
        const link = crm.recordingLinks(callKey)[0]!;
        expect(link.startsWith(`${HUB}/recordings/`)).toBe(true);
        for (let i = 0; i < 2; i++) {
          const res = await fetch(link.replace(HUB, h.gateway.url));
          expect(res.status).toBe(200);
          expect(res.headers.get('content-type')).toBe('audio/mpeg');
          expect((await res.arrayBuffer()).byteLength).toBe(64 * 1024);
        }
        expect(rec.stats.deadLinks).toBe(0);
        expect((await fetch(`${h.gateway.url}/recordings/forged.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.mp3`)).status).toBe(404);
      }
    }, 90_000);

    it('answered Zadarma call: NOTIFY_RECORD → a link from the signed API; an expired provider link is fetched afresh on the next play', async () => {
      await setup();
      const client = '+79161230000';
      await crm.seedContact(client, 'Пётр Сидоров');
      const pbx = `in_${Date.now().toString(16)}`;
      const recId = `${nowSec()}.4242-${crm.managerExt}`;
      rec.addRecording(recId, { savingFor: 1 }); // the probe after NOTIFY_END finds it still saving
      const base = { pbx_call_id: pbx, call_start: moscow(-100), caller_id: client.slice(1), called_did: LINE.slice(1) };
      const post = async (fields: Record<string, string>) => {
        const z = zadarma(fields);
        expect((await h.post('/hooks/zadarma/zd-main', z.body, z.headers)).status).toBe(200);
      };
      await post({ event: 'NOTIFY_START', ...base });
      await post({ event: 'NOTIFY_INTERNAL', ...base, internal: crm.managerExt });
      await post({ event: 'NOTIFY_ANSWER', pbx_call_id: pbx, call_start: base.call_start, caller_id: base.caller_id, destination: LINE.slice(1), internal: crm.managerExt });
      await post({ event: 'NOTIFY_END', ...base, internal: crm.managerExt, duration: '95', disposition: 'answered', status_code: '16', is_recorded: '1', call_id_with_rec: recId });
      await post({ event: 'NOTIFY_RECORD', pbx_call_id: pbx, call_id_with_rec: recId });
      const callKey = `zadarma:zd-main:${pbx}`;
      await until('the recording on the card', () => crm.recordingLinks(callKey).length > 0, 60_000);
      await h.drain(30_000);
      expect(crm.callsWritten(callKey)).toBe(1);
      expect(crm.recordingLinks(callKey)).toHaveLength(1);
      expect(rec.stats.authFailures).toBe(0);
      if (crm.name === 'amocrm') {
        const link = crm.recordingLinks(callKey)[0]!.replace(HUB, h.gateway.url);
        expect((await fetch(link)).status).toBe(200);
        rec.expireZadarmaLinks(); // every link handed out so far is dead now
        const again = await fetch(link);
        expect(again.status).toBe(200);
        expect((await again.arrayBuffer()).byteLength).toBe(64 * 1024);
        expect(rec.stats.deadLinks).toBe(0);
      }
    }, 90_000);

    it('unknown caller, missed Zadarma call, end event repeated → one new call lead with the line, exactly one callback task; the call-back notes it and completes the task once', async () => {
      await setup();
      const client = '79035550101';
      const pbx = `in_${Date.now().toString(16)}`;
      const start = moscow(-60);
      const base = { pbx_call_id: pbx, call_start: start, caller_id: client, called_did: LINE.slice(1) };
      const post = async (fields: Record<string, string>) => {
        const z = zadarma(fields);
        const res = await h.post('/hooks/zadarma/zd-main', z.body, z.headers);
        expect(res.status).toBe(200);
        return res;
      };
      const started = await post({ event: 'NOTIFY_START', ...base });
      expect(started.body).toBe(''); // unknown caller: default scenario
      await post({ event: 'NOTIFY_INTERNAL', ...base, internal: crm.managerExt });
      const end = { event: 'NOTIFY_END', ...base, internal: crm.managerExt, duration: '0', disposition: 'no answer', status_code: '19', is_recorded: '0', call_id_with_rec: '' };
      const endAt = Date.now();
      for (let i = 0; i < 3; i++) await post(end);
      await post({ ...end, internal: '101' }); // the other extension that rang ends too: another event, same call
      await until('the callback task', () => crm.callbackTasks() > 0, 10_000);
      expect(Date.now() - endAt).toBeLessThan(5_000);
      await h.drain();
      expect(crm.callbackTasks()).toBe(1);
      const leads = crm.callLeads();
      expect(leads).toHaveLength(1);
      expect(leads[0]!.source).toContain(LINE);
      if (crm.name === 'bitrix24') expect(leads[0]!.source.startsWith('CALL ')).toBe(true); // "Звонок" in the portal's source list

      expect(crm.openCallbackTasks()).toBe(1);

      // The manager calls back but nobody answers: no note, the task stays open.
      const unanswered = { pbx_call_id: `out_na_${Date.now().toString(16)}`, call_start: moscow(-10), internal: crm.managerExt, destination: client, caller_id: LINE.slice(1) };
      await post({ event: 'NOTIFY_OUT_START', ...unanswered });
      await post({ event: 'NOTIFY_OUT_END', ...unanswered, duration: '0', disposition: 'no answer', status_code: '19', is_recorded: '0', call_id_with_rec: '' });
      await h.drain();
      expect(crm.notesContaining('Клиенту перезвонили')).toBe(0);
      expect(crm.openCallbackTasks()).toBe(1);
      expect(crm.taskCompletionWrites()).toBe(0);

      // The manager calls back and talks before the task is due: the lead gets a note saying so and the task is
      // completed, once — the repeated end event and a second answered call-back write nothing more.
      const out = { pbx_call_id: `out_${Date.now().toString(16)}`, call_start: moscow(-5), internal: crm.managerExt, destination: client, caller_id: LINE.slice(1) };
      const outEnd = { event: 'NOTIFY_OUT_END', ...out, duration: '42', disposition: 'answered', status_code: '16', is_recorded: '0', call_id_with_rec: '' };
      await post({ event: 'NOTIFY_OUT_START', ...out });
      await post(outEnd);
      await post(outEnd);
      await h.drain();
      expect(crm.notesContaining('Клиенту перезвонили')).toBe(1);
      expect(crm.notesContaining('Задача «Перезвонить клиенту» закрыта')).toBe(1);
      expect(crm.callbackTasks()).toBe(1);
      expect(crm.openCallbackTasks()).toBe(0);
      expect(crm.taskCompletionWrites()).toBe(1);
      const again = { pbx_call_id: `out2_${Date.now().toString(16)}`, call_start: moscow(-2), internal: crm.managerExt, destination: client, caller_id: LINE.slice(1) };
      await post({ event: 'NOTIFY_OUT_START', ...again });
      await post({ event: 'NOTIFY_OUT_END', ...again, duration: '30', disposition: 'answered', status_code: '16', is_recorded: '0', call_id_with_rec: '' });
      await h.drain();
      expect(crm.notesContaining('Клиенту перезвонили')).toBe(1);
      expect(crm.taskCompletionWrites()).toBe(1);
    }, 60_000);

    it.each(['complete', 'delete'] as const)('call-back task the manager already chose to %s in the CRM → the call-back notes it, writes no completion, fails nothing', async (how) => {
      await setup();
      const client = how === 'complete' ? '79035550111' : '79035550112';
      const post = async (fields: Record<string, string>) => {
        const z = zadarma(fields);
        expect((await h.post('/hooks/zadarma/zd-main', z.body, z.headers)).status).toBe(200);
      };
      const missed = { pbx_call_id: `in_${how}_${Date.now().toString(16)}`, call_start: moscow(-60), caller_id: client, called_did: LINE.slice(1) };
      await post({ event: 'NOTIFY_START', ...missed });
      await post({ event: 'NOTIFY_END', ...missed, internal: crm.managerExt, duration: '0', disposition: 'no answer', status_code: '19', is_recorded: '0', call_id_with_rec: '' });
      await until('the callback task', () => crm.callbackTasks() > 0, 10_000);
      await h.drain();
      crm.touchCallbackTasks(how);
      const out = { pbx_call_id: `out_${how}_${Date.now().toString(16)}`, call_start: moscow(-5), internal: crm.managerExt, destination: client, caller_id: LINE.slice(1) };
      await post({ event: 'NOTIFY_OUT_START', ...out });
      await post({ event: 'NOTIFY_OUT_END', ...out, duration: '42', disposition: 'answered', status_code: '16', is_recorded: '0', call_id_with_rec: '' });
      await h.drain();
      expect(crm.notesContaining('Клиенту перезвонили')).toBe(1);
      expect(crm.taskCompletionWrites()).toBe(0);
      expect(crm.openCallbackTasks()).toBe(0);
      const counts = Object.values(await h.counts());
      expect(counts.reduce((n, c) => n + (c.failed ?? 0) + (c.delayed ?? 0), 0)).toBe(0);
    }, 60_000);

    it('Sipuni call whose end event never comes → closed as missed by the sweeper, one callback task; a late end adds nothing', async () => {
      await setup({ sweeper: { everySec: 0.2, ringingTimeoutSec: 1, answeredTimeoutSec: 60 } });
      const callId = `${nowSec()}.${Math.floor(Math.random() * 1e6)}`;
      const q = new URLSearchParams({ secret: ENV.TEL_SIPUNI_SECRET, event: '1', call_id: callId, timestamp: String(nowSec()), src_num: '79035550202', src_type: '1', dst_num: crm.managerExt, dst_type: '2', short_dst_num: crm.managerExt, pbxdstnum: LINE.slice(1) });
      const res = await fetch(`${h.gateway.url}/hooks/sipuni/sipuni-main?${q}`);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ success: true });
      await until('the sweeper to close the call', () => crm.callbackTasks() > 0, 15_000);
      await h.drain();
      expect(crm.callbackTasks()).toBe(1);
      const late = new URLSearchParams({ secret: ENV.TEL_SIPUNI_SECRET, event: '2', call_id: callId, timestamp: String(nowSec()), src_num: '79035550202', src_type: '1', dst_num: crm.managerExt, dst_type: '2', status: 'NOANSWER', call_start_timestamp: String(nowSec() - 30), pbxdstnum: LINE.slice(1) });
      expect((await fetch(`${h.gateway.url}/hooks/sipuni/sipuni-main?${late}`)).status).toBe(200);
      await h.drain();
      expect(crm.callbackTasks()).toBe(1);
      expect(crm.callLeads()).toHaveLength(1);
    }, 60_000);

    it('caller-ID lookup: CRM asked once, then answered from the cache; a CRM contact webhook invalidates it', async () => {
      await setup();
      const phone = '+79161112233';
      const seeded = await crm.seedContact(phone, 'Ирина Петрова');
      expect((await lookup(phone, null)).status).toBe(401);
      expect((await lookup(phone, 'wrong-token-0123456789')).status).toBe(403);
      expect((await lookup('not-a-phone')).status).toBe(400);

      const before = crm.requests();
      const first = (await (await lookup('8 916 111-22-33')).json()) as Record<string, unknown>;
      expect(first).toMatchObject({ found: true, phone, contactId: seeded.contactId, from: 'crm', responsible: { extension: crm.managerExt }, openLeadId: seeded.leadId });
      expect(String(first.name)).toContain('Ирина');
      const afterMiss = crm.requests();
      expect(afterMiss).toBeGreaterThan(before);
      for (let i = 0; i < 5; i++) expect(await (await lookup(phone)).json()).toMatchObject({ found: true, from: 'cache', contactId: seeded.contactId });
      expect(crm.requests()).toBe(afterMiss); // the CRM was asked once

      // Unknown numbers are cached too (briefly).
      expect(await (await lookup('+79035550303')).json()).toMatchObject({ found: false, from: 'crm' });
      expect(await (await lookup('+79035550303')).json()).toMatchObject({ found: false, from: 'cache' });

      // The CRM says the contact changed: the next lookup asks it again.
      const change = crm.contactChanged(seeded.contactId);
      expect((await h.post('/crm-events/crm?secret=wrong-secret-0123', change.body, { 'content-type': change.contentType })).status).toBe(403);
      const ev = await h.post(`/crm-events/crm?secret=${ENV.TEL_EVENTS_SECRET}`, change.body, { 'content-type': change.contentType });
      expect(ev.status).toBe(200);
      expect(JSON.parse(ev.body)).toMatchObject({ ok: true, invalidated: 1 });
      expect(await (await lookup(phone)).json()).toMatchObject({ found: true, from: 'crm' });
      expect(await (await lookup('+79035550303')).json()).toMatchObject({ from: 'crm' }); // negative entries drop on any change
    }, 60_000);

    it('Zadarma NOTIFY_START: routed to the personal manager with the CRM name, the event still stored; a slow CRM falls back to the default scenario', async () => {
      await setup();
      const phone = '+79161114455';
      await crm.seedContact(phone, 'Ирина Петрова');
      expect(await (await lookup(phone)).json()).toMatchObject({ found: true }); // warm the cache: the routing answer then takes a few ms
      const fields = { event: 'NOTIFY_START', pbx_call_id: `in_${Date.now().toString(16)}`, call_start: moscow(), caller_id: phone.slice(1), called_did: LINE.slice(1) };
      const z = zadarma(fields);
      const res = await h.post('/hooks/zadarma/zd-main', z.body, z.headers);
      expect(res.status).toBe(200);
      expect(JSON.parse(res.body)).toEqual({ redirect: crm.managerExt, return_timeout: 20, caller_name: expect.stringContaining('Ирина') });
      const again = await h.post('/hooks/zadarma/zd-main', z.body, z.headers); // a resend gets the same answer, stored once
      expect(JSON.parse(again.body)).toMatchObject({ redirect: crm.managerExt });
      await h.drain();
      const counts = await h.counts();
      expect(counts.intake!.completed).toBe(1);

      crm.setLatency(3_000);
      const slow = { ...fields, pbx_call_id: `in_${(Date.now() + 1).toString(16)}`, caller_id: '79035550404' };
      const zs = zadarma(slow);
      const t0 = Date.now();
      const fallback = await h.post('/hooks/zadarma/zd-main', zs.body, zs.headers);
      expect(fallback.status).toBe(200);
      expect(fallback.body).toBe('');
      expect(Date.now() - t0).toBeLessThan(1_500);
      crm.setLatency(0);
    }, 60_000);
  });
}
