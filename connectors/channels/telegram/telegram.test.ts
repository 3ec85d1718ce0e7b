import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { InputError, parseWith, type RawEvent } from '#sdk';
import { FIXTURE_RECEIVED_AT, fixtureContext, loadHttpFixture } from '../../../test/support/http-fixture.ts';
import { buildStartLink, isAttributionCode, mintAttributionCode, parseStartCommand } from './deeplink.ts';
import { telegram } from './index.ts';
import type { TgUpdate } from './payload.ts';

// Goldens and invalid-* cases run in test/contract/channel-contract.test.ts; these are Telegram specifics.
const DIR = new URL('./fixtures/', import.meta.url);
const RECEIVED_AT = FIXTURE_RECEIVED_AT;
const FIXTURE_SECRET = 'fixture-secret_0123';
const VALID = ['callback-query', 'channel-post', 'contact-foreign', 'contact-own', 'document', 'edited-message', 'group-message', 'my-chat-member-kicked', 'photo', 'service-forum-topic', 'start-custom-payload', 'start-deeplink', 'start-raw-newline', 'supergroup-command', 'text-message'];

function loadFixture(name: string): RawEvent {
  return loadHttpFixture(fileURLToPath(new URL(`${name}.http`, DIR))).event;
}

function settingsFor(name: string) {
  const file = new URL(`${name}.settings.json`, DIR);
  return telegram.settings.parse(existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {});
}

function parse(raw: RawEvent): TgUpdate {
  return parseWith(telegram.payload, telegram.decode(raw));
}

function normalise(u: TgUpdate, name = 'x', raw = loadFixture('text-message')) {
  const file = { event: raw, channel: 'telegram', sourceId: 'test', target: '/hooks/telegram/test' };
  return telegram.normalise(u, fixtureContext(telegram, file, settingsFor(name)));
}

describe('telegram outcomes by kind', () => {
  it.each([
    ['start-deeplink', 'lead'],
    ['start-raw-newline', 'lead'],
    ['start-custom-payload', 'lead'],
    ['text-message', 'message'],
    ['contact-own', 'message'],
    ['contact-foreign', 'message'],
    ['photo', 'message'],
    ['document', 'message'],
    ['group-message', 'telegram:group-chat'],
    ['supergroup-command', 'telegram:group-chat'],
    ['channel-post', 'telegram:channel-post'],
    ['service-forum-topic', 'telegram:service-message'],
    ['my-chat-member-kicked', 'telegram:bot-blocked'],
    ['edited-message', 'telegram:edited-message'],
    ['callback-query', 'telegram:callback-query'],
  ])('%s → %s', (name, expected) => {
    const raw = loadFixture(name);
    expect(telegram.verify?.(raw, { settings: settingsFor(name), secret: FIXTURE_SECRET, now: RECEIVED_AT })).toEqual({ ok: true });
    const outcomes = normalise(parse(raw), name, raw);
    expect(outcomes).toHaveLength(1);
    const [o] = outcomes;
    expect(o?.kind === 'ignored' ? o.reason.code : o?.kind).toBe(expected);
  });

  it.each([
    ['invalid-missing-update-id', 'update_id'],
    ['invalid-message-without-chat', 'message.chat'],
    ['invalid-only-update-id', 'message'],
    ['invalid-not-json', 'body'],
  ])('%s is rejected naming %s', (name, field) => {
    expect(() => parse(loadFixture(name))).toThrow(InputError);
    try {
      parse(loadFixture(name));
    } catch (e) {
      expect((e as InputError).field).toBe(field);
    }
  });
});

describe('telegram verify (X-Telegram-Bot-Api-Secret-Token)', () => {
  const raw = loadFixture('text-message');
  const settings = settingsFor('x');
  const check = (headers: Record<string, string>, secret: string | undefined) => telegram.verify!({ ...raw, headers }, { settings, secret, now: RECEIVED_AT });
  it.each([
    ['the right secret', { 'x-telegram-bot-api-secret-token': FIXTURE_SECRET }, FIXTURE_SECRET, { ok: true }],
    ['a missing header', {}, FIXTURE_SECRET, { ok: false, status: 401 }],
    ['an empty header', { 'x-telegram-bot-api-secret-token': '' }, FIXTURE_SECRET, { ok: false, status: 401 }],
    ['a wrong secret', { 'x-telegram-bot-api-secret-token': 'other-secret' }, FIXTURE_SECRET, { ok: false, status: 403 }],
    ['one flipped character', { 'x-telegram-bot-api-secret-token': 'fixture-secret_0124' }, FIXTURE_SECRET, { ok: false, status: 403 }],
    ['a prefix of the secret', { 'x-telegram-bot-api-secret-token': 'fixture-secret' }, FIXTURE_SECRET, { ok: false, status: 403 }],
    ['no secret configured (fails closed)', { 'x-telegram-bot-api-secret-token': FIXTURE_SECRET }, undefined, { ok: false, status: 401 }],
  ] as const)('%s', (_name, headers, secret, expected) => {
    expect(check(headers, secret)).toMatchObject(expected);
  });

  it('is marked as requiring a secret, so the gateway refuses to start a source without one', () => {
    expect(telegram.requiresSecret).toBe(true);
  });
});

describe('telegram eventId and purity', () => {
  it('is tg:<update_id>, stable per update and distinct across updates', () => {
    const ids = VALID.map((n) => telegram.eventId(parse(loadFixture(n)), loadFixture(n)));
    expect(new Set(ids).size).toBe(VALID.length);
    expect(telegram.eventId(parse(loadFixture('start-deeplink')), loadFixture('start-deeplink'))).toBe('tg:730114201');
  });

  it('normalise is pure: frozen input, two runs equal', () => {
    const u = deepFreeze(parse(loadFixture('contact-own')));
    expect(normalise(u)).toEqual(normalise(u));
  });

  it('reads the raw webhook body with a newline after "update_id":N,', () => {
    const raw = loadFixture('start-raw-newline');
    expect(raw.body.toString('utf8')).toMatch(/^\{"update_id":730114301,\n"message"/);
    expect(parse(raw).message?.text).toBe('/start');
  });
});

describe('first message → one lead', () => {
  it('/start gives exactly one lead and no message; a later text gives exactly one message and no lead', () => {
    const start = normalise(parse(loadFixture('start-deeplink')), 'start-deeplink');
    const text = normalise(parse(loadFixture('text-message')));
    expect(start.map((o) => o.kind)).toEqual(['lead']);
    expect(text.map((o) => o.kind)).toEqual(['message']);
    const lead = start[0]?.kind === 'lead' ? start[0].lead : undefined;
    const msg = text[0]?.kind === 'message' ? text[0].message : undefined;
    // Same chat → same thread: the pipeline finds the lead /start opened.
    expect(lead?.threadKey).toBe('telegram:test:6012345678');
    expect(msg?.threadKey).toBe(lead?.threadKey);
    expect(msg?.fallbackTitle).toBe(lead?.title);
  });

  it('carries the deep-link code as lead.fields attribution_code', () => {
    const [o] = normalise(parse(loadFixture('start-deeplink')), 'start-deeplink');
    expect(o?.kind === 'lead' && o.lead.fields).toContainEqual({ key: 'attribution_code', label: 'Код источника (ссылка t.me)', value: 'src_Yw3kP9' });
  });

  it('takes a shared contact as the phone only when it is the sender’s own', () => {
    const [own] = normalise(parse(loadFixture('contact-own')));
    const [other] = normalise(parse(loadFixture('contact-foreign')));
    expect(own?.kind === 'message' && own.message.contact.phonesE164).toEqual(['+79123456789']);
    expect(other?.kind === 'message' && other.message.contact.phonesE164).toEqual([]);
    expect(other?.kind === 'message' && other.message.text).toContain('+79031112233');
  });

  it('a service message in a private chat is ignored, not a lead', () => {
    const u = parse({ ...loadFixture('text-message'), body: Buffer.from(JSON.stringify({ update_id: 1, message: { message_id: 1, from: { id: 5, is_bot: false, first_name: 'A' }, chat: { id: 5, type: 'private' }, date: 1, write_access_allowed: { from_request: true } } })) });
    expect(normalise(u)).toEqual([{ kind: 'ignored', reason: { code: 'telegram:service-message', detail: 'write_access_allowed in a private chat' } }]);
  });
});

describe('deep links', () => {
  it('mints src_ + base64url, within Telegram’s 64-char alphabet', () => {
    for (let i = 0; i < 50; i++) {
      const code = mintAttributionCode();
      expect(code).toMatch(/^src_[A-Za-z0-9_-]{16}$/);
      expect(isAttributionCode(code)).toBe(true);
    }
    expect(mintAttributionCode((n) => new Uint8Array(n).fill(0xff), 3)).toBe('src_____');
    expect(mintAttributionCode(undefined, 45)).toHaveLength(64);
    expect(() => mintAttributionCode(undefined, 46)).toThrow(RangeError);
  });

  it('builds https://t.me/<bot>?start=<code> and refuses what Telegram would not accept', () => {
    expect(buildStartLink('@acme_leads_bot', 'src_Yw3kP9')).toBe('https://t.me/acme_leads_bot?start=src_Yw3kP9');
    expect(() => buildStartLink('acme_leads_bot', 'utm_source=ya&x=1')).toThrow(/payload/);
    expect(() => buildStartLink('a b', 'src_x')).toThrow(/botUsername/);
    expect(() => buildStartLink('acme_leads_bot', 'x'.repeat(65))).toThrow(/payload/);
  });

  it('parses /start variants', () => {
    expect(parseStartCommand('/start')).toEqual({ payload: undefined });
    expect(parseStartCommand('/start src_abc')).toEqual({ payload: 'src_abc' });
    expect(parseStartCommand('/start@acme_leads_bot src_abc')).toEqual({ payload: 'src_abc' });
    expect(parseStartCommand('/start не-тот-алфавит')).toEqual({ payload: undefined });
    expect(parseStartCommand('/starter')).toBeUndefined();
    expect(parseStartCommand('hello /start')).toBeUndefined();
  });

  it('round trip: a minted link’s /start reaches the lead as attribution_code', () => {
    const code = mintAttributionCode();
    const payload = new URL(buildStartLink('acme_leads_bot', code)).searchParams.get('start');
    const body = JSON.stringify({ update_id: 9, message: { message_id: 1, from: { id: 5, is_bot: false, first_name: 'A' }, chat: { id: 5, type: 'private' }, date: 1, text: `/start ${payload}` } });
    const [o] = normalise(parse({ ...loadFixture('text-message'), body: Buffer.from(body) }));
    expect(o?.kind === 'lead' && o.lead.fields.find((f) => f.key === 'attribution_code')?.value).toBe(code);
  });
});

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}
