import { describe, expect, it } from 'vitest';
import { parseWith, type CallerLookup, type NormaliseContext, type RawEvent } from '#sdk';
import { zadarmaChannel } from './index.ts';
import { verifyZadarma, zadarmaSignatures } from './verify.ts';
import { ZadarmaSettingsSchema, type ZadarmaSettings } from './settings.ts';
import { multipartToUrlencoded } from './payload.ts';
import { statusOf } from './normalise.ts';
import { routingFor, routingReplyBody } from './routing.ts';
import { phpQuery, resolveZadarmaRecording, zadarmaAuthHeader } from './recordings.ts';
import { createHttpClient } from '../../../src/infra/http.ts';
import { startRecordingServer } from '../../../test/support/recording-server.ts';
import { localToIso } from '#sdk';

const SECRET = 'test_zadarma_secret_0123';
const settings: ZadarmaSettings = parseWith(ZadarmaSettingsSchema, {});
const NOW = new Date('2026-01-15T10:00:00Z');
const START = { event: 'NOTIFY_START', call_start: '2026-01-15 12:55:00', pbx_call_id: 'in_abc', caller_id: '79161234567', called_did: '74951234567' };

function raw(fields: Record<string, string> | string, headers: Record<string, string> = {}, opts: { method?: string; query?: Record<string, string> } = {}): RawEvent {
  const body = typeof fields === 'string' ? fields : new URLSearchParams(fields).toString();
  return {
    method: opts.method ?? 'POST',
    subPath: '',
    headers: body ? { 'content-type': 'application/x-www-form-urlencoded', ...headers } : headers,
    query: opts.query ?? {},
    body: Buffer.from(body, 'utf8'),
    receivedAt: NOW,
  };
}

function without(o: Record<string, string>, key: string): Record<string, string> {
  return Object.fromEntries(Object.entries(o).filter(([k]) => k !== key));
}

function verify(e: RawEvent, over: { secret?: string | undefined; now?: Date } = {}): ReturnType<typeof verifyZadarma> {
  return verifyZadarma(e, { settings, secret: 'secret' in over ? over.secret : SECRET, now: over.now ?? NOW });
}

describe('zadarma signature', () => {
  it('both encodings match the fact sheet composed check (§2.4)', () => {
    expect(zadarmaSignatures('demo_secret', '79161234567' + '74951234567' + '2024-05-27 12:00:00')).toEqual({
      hex: 'ZDRmNzI5NmFlZWU1OGFmNmVkYWYwYzhjYzNkOTUwYWQ2NTQ2YTU0MA==',
      raw: '1Pcpau7livbtrwyMw9lQrWVGpUA=',
    });
  });

  const sig = zadarmaSignatures(SECRET, START.caller_id + START.called_did + START.call_start);
  const flipped = (sig.hex[0] === 'A' ? 'B' : 'A') + sig.hex.slice(1);
  const cases: [string, RawEvent, Parameters<typeof verify>[1], boolean, RegExp?][] = [
    ['good (PHP hex form)', raw(START, { signature: sig.hex }), {}, true],
    ['good (TypeScript raw form)', raw(START, { signature: sig.raw }), {}, true],
    ['flipped character in Signature', raw(START, { signature: flipped }), {}, false, /does not match/],
    ['flipped byte in a signed field', raw({ ...START, caller_id: '79161234568' }, { signature: sig.hex }), {}, false, /does not match/],
    ['missing Signature header', raw(START), {}, false, /Signature is missing/],
    ['missing signed field', raw(without(START, 'called_did'), { signature: sig.hex }), {}, false, /signed field called_did is missing/],
    ['wrong secret', raw(START, { signature: zadarmaSignatures('other', START.caller_id + START.called_did + START.call_start).hex }), {}, false, /does not match/],
    ['stale call_start', raw(START, { signature: sig.hex }), { now: new Date('2026-01-16T10:00:00Z') }, false, /replay window/],
    ['unknown event', raw({ ...START, event: 'NOTIFY_SOMETHING' }, { signature: sig.hex }), {}, false, /no known signature rule/],
    ['no secret configured', raw(START, { signature: sig.hex }), { secret: undefined }, false, /no API secret/],
    ['garbled call_start', raw({ ...START, call_start: 'yesterday' }, { signature: zadarmaSignatures(SECRET, START.caller_id + START.called_did + 'yesterday').hex }), {}, false, /not YYYY-MM-DD/],
  ];
  it.each(cases)('%s', (_name, e, over, ok, reason) => {
    const r = verify(e, over);
    expect(r.ok).toBe(ok);
    if (!r.ok && reason) expect(r.reason).toMatch(reason);
  });

  it('says which encoding matched, so the gateway can log it', () => {
    expect(verify(raw(START, { signature: sig.hex }))).toEqual({ ok: true, detail: expect.stringMatching(/hex digest/) });
    expect(verify(raw(START, { signature: sig.raw }))).toEqual({ ok: true, detail: expect.stringMatching(/raw digest/) });
  });

  it('known limitation: unsigned fields (duration, disposition) can be altered without failing', () => {
    const end = { ...START, event: 'NOTIFY_END', disposition: 'answered', duration: '10' };
    expect(verify(raw({ ...end, duration: '9999' }, { signature: sig.hex })).ok).toBe(true);
  });

  it('NOTIFY_RECORD signs pbx_call_id + call_id_with_rec; outbound signs internal + destination + call_start', () => {
    const rec = { event: 'NOTIFY_RECORD', pbx_call_id: 'in_abc', call_id_with_rec: '123.45' };
    expect(verify(raw(rec, { signature: zadarmaSignatures(SECRET, 'in_abc123.45').hex })).ok).toBe(true);
    const out = { event: 'NOTIFY_OUT_START', call_start: START.call_start, pbx_call_id: 'out_1', internal: '101', destination: '84991112233' };
    expect(verify(raw(out, { signature: zadarmaSignatures(SECRET, '101' + '84991112233' + START.call_start).hex })).ok).toBe(true);
  });

  it('multipart bodies are verified on the same fields as urlencoded ones', () => {
    const b = 'XyZ';
    const body = Object.entries(START).map(([k, v]) => `--${b}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`).join('') + `--${b}--\r\n`;
    const e = raw(body, { 'content-type': `multipart/form-data; boundary=${b}`, signature: sig.hex });
    expect(verify(e).ok).toBe(true);
    expect(new URLSearchParams(multipartToUrlencoded(Buffer.from(body), `multipart/form-data; boundary="${b}"`)).get('call_start')).toBe(START.call_start);
  });
});

describe('zadarma intake', () => {
  it('GET ?zd_echo answers exactly the token, unsigned, nothing stored', async () => {
    const e = raw('', {}, { method: 'GET', query: { zd_echo: 'a1B2_c3' } });
    expect(verify(e).ok).toBe(true);
    const p = parseWith(zadarmaChannel.payload, await zadarmaChannel.decode(e));
    expect(zadarmaChannel.decide?.(p, e)).toEqual({ kind: 'handshake', reply: { status: 200, contentType: 'text/plain; charset=utf-8', body: 'a1B2_c3' } });
  });

  it('a zd_echo on a POST is not a handshake: it must be signed', () => {
    expect(verify(raw(START, {}, { query: { zd_echo: 'x' } })).ok).toBe(false);
  });

  it('events get an empty 200: for NOTIFY_START that means "default scenario"', async () => {
    const e = raw(START);
    const p = parseWith(zadarmaChannel.payload, await zadarmaChannel.decode(e));
    expect(zadarmaChannel.decide?.(p, e)).toEqual({ kind: 'event', reply: { status: 200, contentType: 'text/plain; charset=utf-8', body: '' } });
  });

  it('settings: routing is off unless switched on; novofon is a flag', () => {
    expect(settings.routing).toEqual({ enabled: false, returnTimeoutSec: 20, callerName: true, deadlineMs: 800 });
    expect(parseWith(ZadarmaSettingsSchema, { routing: { enabled: true } }).routing.enabled).toBe(true);
    expect(ZadarmaSettingsSchema.safeParse({ routing: { enabled: true, deadlineMs: 10 } }).success).toBe(false);
    expect(parseWith(ZadarmaSettingsSchema, { provider: 'novofon' }).provider).toBe('novofon');
    expect(ZadarmaSettingsSchema.safeParse({ timeZone: 'Mars/Olympus' }).success).toBe(false);
  });
});

describe('zadarma normalise', () => {
  it.each([
    ['answered', 'answered'],
    ['busy', 'busy'],
    ['no answer', 'missed'],
    ['cancel', 'missed'],
    ['failed', 'failed'],
    ['no money, no limit', 'failed'],
    ['unallocated number', 'failed'],
  ])('disposition %s → %s', (d, s) => expect(statusOf(d)).toBe(s));

  it('call_start is read in the account zone, across DST too', () => {
    expect(localToIso('2026-01-15 12:55:00', 'Europe/Moscow')).toBe('2026-01-15T09:55:00.000Z');
    expect(localToIso('2026-07-01 12:00:00', 'Europe/Berlin')).toBe('2026-07-01T10:00:00.000Z');
    expect(localToIso('2026-01-01 12:00:00', 'Europe/Berlin')).toBe('2026-01-01T11:00:00.000Z');
    expect(localToIso('2026-01-15 12:55', 'UTC')).toBeUndefined();
  });

  it('an outbound NOTIFY_ANSWER keeps the direction of its out_ id', async () => {
    const e = raw({ event: 'NOTIFY_ANSWER', call_start: START.call_start, pbx_call_id: 'out_1', caller_id: '101', destination: '84991112233', internal: '101' });
    const p = parseWith(zadarmaChannel.payload, await zadarmaChannel.decode(e));
    const ctx: NormaliseContext<ZadarmaSettings> = { source: { channel: 'zadarma', sourceId: 's', name: 'Z' }, settings, receivedAt: NOW, defaultRegion: 'RU', raw: e };
    expect(zadarmaChannel.normalise(p, ctx)).toEqual([{ kind: 'call', call: expect.objectContaining({ direction: 'outbound', toE164: '+74991112233', answeredAt: NOW.toISOString() }) }]);
  });
});

describe('zadarma routing reply', () => {
  const routed = parseWith(ZadarmaSettingsSchema, { routing: { enabled: true } });
  const ctx = (found: CallerLookup | null | Error) => ({
    settings: routed,
    source: { channel: 'zadarma', sourceId: 's', name: 'Z' },
    defaultRegion: 'RU' as const,
    asked: [] as string[],
    lookupCaller(phone: string) {
      this.asked.push(phone);
      return found instanceof Error ? Promise.reject(found) : Promise.resolve(found);
    },
  });

  it('NOTIFY_START with routing on: the event is stored, then the personal manager and the CRM name', async () => {
    const e = raw(START);
    const p = parseWith(zadarmaChannel.payload, await zadarmaChannel.decode(e));
    const c = ctx({ contactId: '5', name: 'Иван Петров', company: 'ООО Ромашка', responsibleUserId: '7', extension: '107' });
    const d = zadarmaChannel.decide?.(p, e, c);
    expect(d).toMatchObject({ kind: 'event', deadlineMs: 800, reply: { status: 200, body: '' } });
    if (d?.kind !== 'event' || !d.respond) throw new Error('no respond');
    const r = await d.respond();
    expect(c.asked).toEqual(['+79161234567']);
    expect(r?.contentType).toMatch(/^application\/json/);
    expect(JSON.parse(r!.body)).toEqual({ redirect: '107', return_timeout: 20, caller_name: 'ООО Ромашка / Иван Петров' });
  });

  it('an unknown caller, or one whose manager has no extension, gets the default scenario (or just the name)', async () => {
    const e = raw(START);
    const p = parseWith(zadarmaChannel.payload, await zadarmaChannel.decode(e));
    const unknown = zadarmaChannel.decide?.(p, e, ctx(null));
    expect(unknown?.kind === 'event' && (await unknown.respond?.())).toEqual({ status: 200, contentType: 'text/plain; charset=utf-8', body: '' });
    const noExt = zadarmaChannel.decide?.(p, e, ctx({ contactId: '5', name: 'Иван' }));
    expect(noExt?.kind === 'event' && JSON.parse((await noExt.respond?.())!.body)).toEqual({ caller_name: 'Иван' });
  });

  it('routing off, offline (no context) or another event: a plain 200 and no lookup', async () => {
    const e = raw(START);
    const p = parseWith(zadarmaChannel.payload, await zadarmaChannel.decode(e));
    const off = { ...ctx(null), settings };
    expect(zadarmaChannel.decide?.(p, e, off)).toEqual({ kind: 'event', reply: { status: 200, contentType: 'text/plain; charset=utf-8', body: '' } });
    expect(off.asked).toEqual([]);
    const internal = raw({ ...START, event: 'NOTIFY_INTERNAL', internal: '101' });
    const pi = parseWith(zadarmaChannel.payload, await zadarmaChannel.decode(internal));
    expect(zadarmaChannel.decide?.(pi, internal, ctx(null))).not.toHaveProperty('respond');
  });

  it('routingFor is pure: extension → redirect with return_timeout; names joined company / person', () => {
    expect(routingFor(null, routed.routing)).toEqual({});
    expect(routingFor({ contactId: '1', extension: '201' }, { ...routed.routing, callerName: false })).toEqual({ redirect: '201', returnTimeoutSec: 20 });
  });

  it('builds the JSON Zadarma reads, or an empty body', () => {
    expect(routingReplyBody({})).toBe('');
    expect(JSON.parse(routingReplyBody({ redirect: '101', returnTimeoutSec: 20, callerName: 'ООО Ромашка\n/ Иванов' }))).toEqual({ redirect: '101', return_timeout: 20, caller_name: 'ООО Ромашка / Иванов' });
    expect(JSON.parse(routingReplyBody({ redirect: '0-main', returnTimeoutSec: 1 }))).toEqual({ redirect: '0-main', return_timeout: 3 });
    expect(routingReplyBody({ redirect: '101"; drop' })).toBe('');
  });
});

describe('zadarma recordings (GET /v1/pbx/record/request/)', () => {
  it('signs like the official client: sorted RFC 1738 query + md5, HMAC-SHA1 hex, base64', () => {
    expect(phpQuery({ a: 'x y', b: "it's*~" })).toBe('a=x+y&b=it%27s%2A%7E');
    const { query, authorization } = zadarmaAuthHeader('KEY', 'SECRET', '/v1/pbx/record/request/', { lifetime: '1800', call_id: '1.2-101', format: 'json' });
    expect(query).toBe('call_id=1.2-101&format=json&lifetime=1800');
    expect(authorization).toMatch(/^KEY:[A-Za-z0-9+/]{54}==$/); // base64 of a 40-char hex digest
  });

  it('asks the API (signed), reports "still saving", then a fresh link; no key → gone', async () => {
    const stub = await startRecordingServer({ zadarma: { key: 'zd-key-0123', secret: SECRET } });
    try {
      stub.addRecording('1716800000.123-101', { savingFor: 1 });
      const s = parseWith(ZadarmaSettingsSchema, { apiKeyEnv: 'ZD_KEY', apiBaseUrl: stub.url });
      const io = { http: createHttpClient({ baseUrl: '' }), settings: s, secret: SECRET, env: (n: string) => (n === 'ZD_KEY' ? 'zd-key-0123' : undefined), now: () => NOW };
      const ref = { recordingId: '1716800000.123-101', providerCallId: 'in_abc' };
      expect(await resolveZadarmaRecording(ref, io)).toMatchObject({ kind: 'pending' });
      const ready = await resolveZadarmaRecording(ref, io);
      expect(ready).toMatchObject({ kind: 'ready', url: expect.stringContaining('/v1/pbx/record/download/') });
      expect(ready.kind === 'ready' && ready.expiresAt).toMatch(/^\d{4}-\d{2}-\d{2}T/);
      expect(stub.stats.authFailures).toBe(0);
      expect(await resolveZadarmaRecording(ref, { ...io, env: () => undefined })).toMatchObject({ kind: 'gone' });
      await expect(resolveZadarmaRecording(ref, { ...io, secret: 'wrong-secret-0000' })).rejects.toMatchObject({ status: 401 });
    } finally {
      await stub.close();
    }
  });
});
