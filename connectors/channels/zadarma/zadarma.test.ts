import { describe, expect, it } from 'vitest';
import { parseWith, type NormaliseContext, type RawEvent } from '#sdk';
import { zadarmaChannel } from './index.ts';
import { verifyZadarma, zadarmaSignatures } from './verify.ts';
import { ZadarmaSettingsSchema, type ZadarmaSettings } from './settings.ts';
import { multipartToUrlencoded } from './payload.ts';
import { statusOf } from './normalise.ts';
import { routingReplyBody } from './routing.ts';
import { localToIso } from './time.ts';

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

  it('settings: the routing hook exists but cannot be switched on yet; novofon is a flag', () => {
    expect(ZadarmaSettingsSchema.safeParse({ routing: { enabled: true } }).success).toBe(false);
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

describe('zadarma routing reply (hook, not wired yet)', () => {
  it('builds the JSON Zadarma reads, or an empty body', () => {
    expect(routingReplyBody({})).toBe('');
    expect(JSON.parse(routingReplyBody({ redirect: '101', returnTimeoutSec: 20, callerName: 'ООО Ромашка\n/ Иванов' }))).toEqual({ redirect: '101', return_timeout: 20, caller_name: 'ООО Ромашка / Иванов' });
    expect(JSON.parse(routingReplyBody({ redirect: '0-main', returnTimeoutSec: 1 }))).toEqual({ redirect: '0-main', return_timeout: 3 });
    expect(routingReplyBody({ redirect: '101"; drop' })).toBe('');
  });
});
