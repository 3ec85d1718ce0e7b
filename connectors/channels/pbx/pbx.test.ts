import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseWith, type NormaliseContext, type RawEvent } from '#sdk';
import { pbxChannel } from './index.ts';
import { pbxSignature, verifyPbx } from './verify.ts';
import { PbxSettingsSchema, type PbxSettings } from './settings.ts';

const SECRET = 'test_pbx_secret_0123456789';
const NOW = new Date('2026-01-15T10:00:00Z');
const TS = String(NOW.getTime() / 1000 - 5);
const settings: PbxSettings = parseWith(PbxSettingsSchema, {});
const BODY = JSON.stringify({ event_id: 'pbx1-1-end', event: 'call.ended', call_id: '1768470900.41', direction: 'inbound', from: '+79161234567', status: 'answered' });

function req(body: string, headers: Record<string, string | undefined>): RawEvent {
  const h: Record<string, string> = { 'content-type': 'application/json' };
  for (const [k, v] of Object.entries(headers)) if (v !== undefined) h[k] = v;
  return { method: 'POST', subPath: '', headers: h, query: {}, body: Buffer.from(body, 'utf8'), receivedAt: NOW };
}

function signedHeaders(body: string, opts: { ts?: string; secret?: string } = {}): Record<string, string> {
  const ts = opts.ts ?? TS;
  return { 'x-leadgate-timestamp': ts, 'x-leadgate-signature': `sha256=${pbxSignature(opts.secret ?? SECRET, ts, Buffer.from(body))}` };
}

function verify(e: RawEvent, over: { secret?: string | undefined; settings?: PbxSettings } = {}): ReturnType<typeof verifyPbx> {
  return verifyPbx(e, { settings: over.settings ?? settings, secret: 'secret' in over ? over.secret : SECRET, now: NOW });
}

describe('pbx signature: sha256=HMAC-SHA256(secret, "<timestamp>.<raw body>")', () => {
  const good = signedHeaders(BODY);
  const sig = good['x-leadgate-signature']!;
  const flippedSig = sig.slice(0, 7) + (sig[7] === 'a' ? 'b' : 'a') + sig.slice(8);
  // HMAC over the body alone, as telephony.md §9.4 first proposed: must no longer verify.
  const bodyOnly = `sha256=${createHmac('sha256', SECRET).update(BODY).digest('hex')}`;
  const cases: [string, RawEvent, Parameters<typeof verify>[1], boolean, RegExp?][] = [
    ['good', req(BODY, good), {}, true],
    ['good, upper-case hex', req(BODY, { ...good, 'x-leadgate-signature': `sha256=${sig.slice(7).toUpperCase()}` }), {}, true],
    ['good among two (key rotation)', req(BODY, { ...good, 'x-leadgate-signature': `sha256=${'0'.repeat(64)}, ${sig}` }), {}, true],
    ['flipped byte in the body', req(BODY.replace('answered', 'answerEd'), good), {}, false, /does not match/],
    ['flipped character in the signature', req(BODY, { ...good, 'x-leadgate-signature': flippedSig }), {}, false, /does not match/],
    ['missing signature header', req(BODY, { ...good, 'x-leadgate-signature': undefined }), {}, false, /Signature is missing/],
    ['missing timestamp header', req(BODY, { ...good, 'x-leadgate-timestamp': undefined }), {}, false, /Timestamp is missing/],
    ['timestamp changed after signing', req(BODY, { ...good, 'x-leadgate-timestamp': String(Number(TS) + 1) }), {}, false, /does not match/],
    ['signed over the body only (old §9.4 scheme)', req(BODY, { ...good, 'x-leadgate-signature': bodyOnly }), {}, false, /does not match/],
    ['stale timestamp (301 s)', req(BODY, signedHeaders(BODY, { ts: String(NOW.getTime() / 1000 - 301) })), {}, false, /301s away/],
    ['timestamp from the future (301 s)', req(BODY, signedHeaders(BODY, { ts: String(NOW.getTime() / 1000 + 301) })), {}, false, /301s away/],
    ['just inside the window (299 s)', req(BODY, signedHeaders(BODY, { ts: String(NOW.getTime() / 1000 - 299) })), {}, true],
    ['wider window in settings', req(BODY, signedHeaders(BODY, { ts: String(NOW.getTime() / 1000 - 600) })), { settings: { ...settings, maxSkewSec: 900 } }, true],
    ['timestamp in milliseconds', req(BODY, signedHeaders(BODY, { ts: String(NOW.getTime()) })), {}, false, /Unix seconds/],
    ['timestamp not a number', req(BODY, signedHeaders(BODY, { ts: '2026-01-15T10:00:00Z' })), {}, false, /Unix seconds/],
    ['wrong secret', req(BODY, signedHeaders(BODY, { secret: 'another_secret_0123456789' })), {}, false, /does not match/],
    ['no sha256= prefix', req(BODY, { ...good, 'x-leadgate-signature': sig.slice(7) }), {}, false, /sha256=<hex>/],
    ['no secret configured', req(BODY, good), { secret: undefined }, false, /no signing secret/],
  ];
  it.each(cases)('%s', (_name, e, over, ok, reason) => {
    const r = verify(e, over);
    expect(r.ok).toBe(ok);
    if (!r.ok && reason) expect(r.reason).toMatch(reason);
  });

  it('matches the openssl recipe in README.md', () => {
    // printf '%s.%s' 1700000000 '{"event_id":"a"}' | openssl dgst -sha256 -hmac k -hex
    expect(pbxSignature('k', '1700000000', Buffer.from('{"event_id":"a"}'))).toBe('92b1df14597211efa9fa085083f09829fd91653087682c58f6e74fcc699f5722');
  });
});

describe('pbx payload and normalise', () => {
  const ctx = (e: RawEvent): NormaliseContext<PbxSettings> => ({ source: { channel: 'pbx', sourceId: 'asterisk-main', name: 'PBX' }, settings, receivedAt: NOW, defaultRegion: 'RU', raw: e });
  async function run(body: unknown): Promise<ReturnType<typeof pbxChannel.normalise>> {
    const e = req(JSON.stringify(body), {});
    return pbxChannel.normalise(parseWith(pbxChannel.payload, await pbxChannel.decode(e)), ctx(e));
  }

  it('event_id is the event id (retries repeat it)', async () => {
    const e = req(BODY, {});
    const p = parseWith(pbxChannel.payload, await pbxChannel.decode(e));
    expect(pbxChannel.eventId(p, e)).toBe('pbx1-1-end');
  });

  it('call.ended closes the whole call: no leg id even when the sender names the channel', async () => {
    const [o] = await run({ event_id: 'x', event: 'call.ended', call_id: 'L1', leg_id: 'U2', status: 'missed' });
    expect(o).toMatchObject({ kind: 'call', call: { kind: 'ended', status: 'missed' } });
    expect(o?.kind === 'call' ? o.call.providerLegId : 'x').toBeUndefined();
  });

  it('an event a newer agent invents is ignored, not refused (no endless retries)', async () => {
    expect(await run({ event_id: 'x', event: 'call.transferred', call_id: 'L1' })).toEqual([{ kind: 'ignored', reason: { code: 'pbx:unknown-event', detail: 'event call.transferred' } }]);
  });

  it.each([
    [{ event_id: 'x', event: 'call.ended', call_id: 'L1', status: 'hung' }, 'status'],
    [{ event_id: 'x', event: 'call.ended', call_id: 'L1', started_at: '27.05.2024' }, 'started_at'],
    [{ event_id: 'x', event: 'call.recording_ready', call_id: 'L1', recording_url: 'file:///var/spool/x.wav' }, 'recording_url'],
    [{ event: 'call.ended', call_id: 'L1' }, 'event_id'],
  ])('%o is refused naming %s', async (body, field) => {
    const e = req(JSON.stringify(body), {});
    await expect(async () => parseWith(pbxChannel.payload, await pbxChannel.decode(e))).rejects.toMatchObject({ field });
  });
});
