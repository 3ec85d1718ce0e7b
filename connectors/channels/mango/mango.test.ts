import { describe, expect, it } from 'vitest';
import { parseWith, type NormaliseContext, type RawEvent } from '#sdk';
import { mangoChannel } from './index.ts';
import { mangoSign, verifyMango } from './verify.ts';
import { MangoSettingsSchema, type MangoSettings } from './settings.ts';
import { mangoEventId } from './normalise.ts';
import { resolveMangoRecording } from './recordings.ts';
import { createHttpClient } from '../../../src/infra/http.ts';
import { startRecordingServer } from '../../../test/support/recording-server.ts';

const KEY = 'test_vpbx_key';
const SALT = 'test_vpbx_salt_0123456789';
const settings: MangoSettings = parseWith(MangoSettingsSchema, { apiKey: KEY });
const T = 1768470900;
const NOW = new Date((T + 5) * 1000);

const JSON_CALL = `{"entry_id":"RW50cnk=","call_id":"TGVn","timestamp":${T},"seq":1,"call_state":"Appeared","location":"abonent","from":{"number":"79161234567"},"to":{"extension":"201","number":"sip:201@x.mangosip.ru","line_number":"74951234567"}}`;

function form(fields: Record<string, string>): string {
  return new URLSearchParams(fields).toString();
}

function raw(body: string, opts: { subPath?: string; contentType?: string; method?: string } = {}): RawEvent {
  return {
    method: opts.method ?? 'POST',
    subPath: opts.subPath ?? '/events/call',
    headers: body ? { 'content-type': opts.contentType ?? 'application/x-www-form-urlencoded' } : {},
    query: {},
    body: Buffer.from(body, 'utf8'),
    receivedAt: NOW,
  };
}

function signed(json: string, opts: { key?: string; salt?: string } = {}): Record<string, string> {
  const key = opts.key ?? KEY;
  return { vpbx_api_key: key, sign: mangoSign(key, json, opts.salt ?? SALT), json };
}

function verify(e: RawEvent, over: { secret?: string | undefined; now?: Date; settings?: MangoSettings } = {}): ReturnType<typeof verifyMango> {
  return verifyMango(e, { settings: over.settings ?? settings, secret: 'secret' in over ? over.secret : SALT, now: over.now ?? NOW });
}

describe('mango signature', () => {
  it('matches the fact sheet example (§1.1)', () => {
    const json = '{"entry_id":"ZW50cnkx","call_id":"Y2FsbDE=","timestamp":1716800000,"seq":1,"call_state":"Appeared","location":"ivr","from":{"number":"79161234567"},"to":{"number":"74951234567","line_number":"74951234567"}}';
    expect(mangoSign('demo_api_key', json, 'demo_api_salt')).toBe('43001946d392d70eebfe54f7b0bb987d30de1804f6ff09d532c1236d60c008e3');
  });

  const good = signed(JSON_CALL);
  const flipJson = JSON_CALL.replace('"seq":1', '"seq":2');
  const flippedSign = (good.sign![0] === 'a' ? 'b' : 'a') + good.sign!.slice(1);
  const cases: [string, RawEvent, Parameters<typeof verify>[1], boolean, RegExp?][] = [
    ['good', raw(form(good)), {}, true],
    ['good, upper-case hex', raw(form({ ...good, sign: good.sign!.toUpperCase() })), {}, true],
    ['json spacing is signed as sent (no re-serialising)', raw(form(signed(JSON_CALL.replace(/,/g, ', ')))), {}, true],
    ['flipped byte in json', raw(form({ ...good, json: flipJson })), {}, false, /sign does not match/],
    ['flipped character in sign', raw(form({ ...good, sign: flippedSign })), {}, false, /sign does not match/],
    ['missing sign', raw(form({ vpbx_api_key: KEY, json: JSON_CALL })), {}, false, /sign is missing/],
    ['missing json', raw(form({ vpbx_api_key: KEY, sign: good.sign! })), {}, false, /json is missing/],
    ['missing vpbx_api_key', raw(form({ sign: good.sign!, json: JSON_CALL })), {}, false, /vpbx_api_key is missing/],
    ['sign sent twice', raw(`${form(good)}&sign=${good.sign}`), {}, false, /sign is missing/],
    ['wrong api key (another PBX)', raw(form(signed(JSON_CALL, { key: 'other_key' }))), {}, false, /does not match settings.apiKey/],
    ['wrong salt', raw(form(signed(JSON_CALL, { salt: 'wrong_salt' }))), {}, false, /sign does not match/],
    ['stale timestamp', raw(form(good)), { now: new Date((T + 86_401) * 1000) }, false, /replay window/],
    ['timestamp from the future', raw(form(good)), { now: new Date((T - 86_401) * 1000) }, false, /replay window/],
    ['no salt configured', raw(form(good)), { secret: undefined }, false, /no vpbx_api_salt/],
    ['JSON body instead of a form', raw(JSON_CALL, { contentType: 'application/json' }), {}, false, /vpbx_api_key is missing/],
  ];
  it.each(cases)('%s', (_name, e, over, ok, reason) => {
    const r = verify(e, over);
    expect(r.ok).toBe(ok);
    if (!r.ok && reason) expect(r.reason).toMatch(reason);
  });

  it('a stale summary is refused by its end_time', () => {
    const json = `{"entry_id":"RW50cnk=","call_direction":1,"from":{"number":"79161234567"},"to":{"extension":"201"},"create_time":${T - 200000},"talk_time":0,"end_time":${T - 190000}}`;
    const r = verify(raw(form(signed(json)), { subPath: '/events/summary' }));
    expect(r).toMatchObject({ ok: false });
  });

  it('missing fields answer 401, mismatches 403', () => {
    expect(verify(raw(form({ vpbx_api_key: KEY, json: JSON_CALL })))).toMatchObject({ ok: false, status: 401 });
    expect(verify(raw(form(signed(JSON_CALL, { salt: 'x' }))))).not.toHaveProperty('status');
  });
});

describe('mango intake', () => {
  it('/ping passes unsigned and is answered as a handshake, never stored', async () => {
    const e = raw('', { subPath: '/ping', method: 'GET' });
    expect(verify(e)).toMatchObject({ ok: true });
    const p = parseWith(mangoChannel.payload, await mangoChannel.decode(e));
    expect(mangoChannel.decide?.(p, e)).toEqual({ kind: 'handshake', reply: { status: 200, contentType: 'application/json', body: '{"success":true}' } });
  });

  it('events are stored (default 200)', async () => {
    const e = raw(form(signed(JSON_CALL)));
    const p = parseWith(mangoChannel.payload, await mangoChannel.decode(e));
    expect(mangoChannel.decide?.(p, e)).toEqual({ kind: 'event' });
  });

  it('seq and timestamp as strings or numbers give the same event id', async () => {
    const asStrings = JSON_CALL.replace('"seq":1', '"seq":"1"').replace(`"timestamp":${T}`, `"timestamp":"${T}"`);
    const ids = await Promise.all(
      [JSON_CALL, asStrings].map(async (j) => mangoEventId(parseWith(mangoChannel.payload, await mangoChannel.decode(raw(form(signed(j))))))),
    );
    expect(ids[0]).toBe('mango:call:RW50cnk=:TGVn:1');
    expect(ids[1]).toBe(ids[0]);
  });

  it('a missing field is named with its path inside json', async () => {
    const e = raw(form(signed('{"call_id":"x","timestamp":1,"seq":1,"call_state":"Appeared"}')));
    expect(() => parseWith(mangoChannel.payload, mangoChannel.decode(e))).toThrow(/json\.entry_id/);
  });
});

describe('mango normalise', () => {
  const ctx = (subPath: string): NormaliseContext<MangoSettings> => ({
    source: { channel: 'mango', sourceId: 'office', name: 'Mango' },
    settings,
    receivedAt: NOW,
    defaultRegion: 'RU',
    raw: raw('', { subPath }),
  });
  async function run(subPath: string, json: string): Promise<ReturnType<typeof mangoChannel.normalise>> {
    const p = parseWith(mangoChannel.payload, await mangoChannel.decode(raw(form(signed(json)), { subPath })));
    return mangoChannel.normalise(p, ctx(subPath));
  }

  it.each([
    ['OnHold', 'mango:on-hold'],
    ['Transferring', 'mango:unknown-call-state'],
  ])('call_state %s is ignored with a reason', async (state, code) => {
    expect(await run('/events/call', JSON_CALL.replace('Appeared', state))).toEqual([{ kind: 'ignored', reason: expect.objectContaining({ code }) }]);
  });

  it('a leg between two employees is an internal call: ignored', async () => {
    const json = `{"entry_id":"E","call_id":"L","timestamp":${T},"seq":1,"call_state":"Appeared","location":"abonent","from":{"extension":"201","number":"sip:201@x"},"to":{"extension":"202","number":"sip:202@x"}}`;
    expect(await run('/events/call', json)).toEqual([{ kind: 'ignored', reason: expect.objectContaining({ code: 'mango:internal-call' }) }]);
  });

  it('the voice menu picking up is not an answer', async () => {
    const [o] = await run('/events/call', JSON_CALL.replace('Appeared', 'Connected').replace('abonent', 'ivr'));
    expect(o).toMatchObject({ kind: 'call', call: { kind: 'started' } });
  });

  it.each([
    ['"recording_state":"Completed","completion_code":4002,"recipient":"Cloud"', 'mango:recording-not-saved'],
    ['"recording_state":"Completed","completion_code":1000,"recipient":"Mail"', 'mango:recording-not-in-cloud'],
    ['"recording_state":"Continued"', 'mango:recording-in-progress'],
  ])('recording %s is ignored', async (fields, code) => {
    const json = `{"entry_id":"E","call_id":"L","recording_id":"R","timestamp":${T},${fields}}`;
    expect(await run('/events/recording', json)).toEqual([{ kind: 'ignored', reason: expect.objectContaining({ code }) }]);
  });

  it('summary: talk_time decides answered even when entry_result says otherwise (PDF contradiction)', async () => {
    const json = `{"entry_id":"E","call_direction":1,"from":{"number":"79161234567"},"to":{"extension":"201"},"line_number":"74951234567","create_time":${T},"talk_time":0,"end_time":${T + 30},"entry_result":1,"disconnect_reason":1110}`;
    const [o] = await run('/events/summary', json);
    expect(o).toMatchObject({ kind: 'call', call: { status: 'missed', talkSec: 0, durationSec: 30 } });
  });
});

describe('mango recordings (POST /queries/recording/post)', () => {
  it('"still saving" until the file is stored, then a one-shot link (never stored); a wrong salt throws', async () => {
    const stub = await startRecordingServer({ mango: { apiKey: KEY, salt: SALT } });
    try {
      stub.addRecording('rec-1', { savingFor: 1 });
      const s = parseWith(MangoSettingsSchema, { apiKey: KEY, apiBaseUrl: `${stub.url}/vpbx` });
      const io = { http: createHttpClient({ baseUrl: '' }), settings: s, secret: SALT, env: () => undefined, now: () => NOW };
      const ref = { recordingId: 'rec-1', providerCallId: 'RW50cnk=' };
      expect(await resolveMangoRecording(ref, io)).toMatchObject({ kind: 'pending' });
      const ready = await resolveMangoRecording(ref, io);
      expect(ready).toMatchObject({ kind: 'ready', oneShot: true, url: expect.stringContaining(`${stub.url}/files/`) });
      const url = ready.kind === 'ready' ? ready.url : '';
      expect((await fetch(url)).status).toBe(200);
      expect((await fetch(url)).status).toBe(404); // dies after its first use
      expect(await resolveMangoRecording({ ...ref, recordingId: 'unknown' }, io)).toMatchObject({ kind: 'pending' });
      await expect(resolveMangoRecording(ref, { ...io, secret: 'wrong-salt' })).rejects.toMatchObject({ status: 420 });
      expect(await resolveMangoRecording(ref, { ...io, secret: undefined })).toMatchObject({ kind: 'gone' });
    } finally {
      await stub.close();
    }
  });
});
