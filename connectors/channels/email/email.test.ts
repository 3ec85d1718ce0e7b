import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { RawEvent } from '#sdk';
import { FIXTURE_RECEIVED_AT, fixtureContext, loadHttpFixture } from '../../../test/support/http-fixture.ts';
import { email } from './index.ts';
import type { MailPayload } from './payload.ts';

// Goldens and invalid-* cases run in test/contract/channel-contract.test.ts; these are e-mail specifics.
const DIR = new URL('./fixtures/', import.meta.url);
const RECEIVED_AT = FIXTURE_RECEIVED_AT;

function settingsFor(name: string) {
  const file = new URL(`${name}.settings.json`, DIR);
  return email.settings.parse(existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {});
}

async function run(name: string): Promise<{ payload: MailPayload; raw: RawEvent; outcomes: ReturnType<typeof email.normalise> }> {
  const file = loadHttpFixture(fileURLToPath(new URL(`${name}.http`, DIR)));
  const payload = email.payload.parse(await email.decode(file.event));
  const outcomes = email.normalise(payload, fixtureContext(email, file, settingsFor(name)));
  return { payload, raw: file.event, outcomes };
}

const VALID = ['autoreply-exchange-oof', 'autoreply-rfc3834', 'bounce-dsn', 'bounce-plain-mailru', 'cp1251-inquiry', 'html-only-inquiry', 'koi8r-inquiry', 'mailing-list', 'noreply-sender', 'own-mail', 'plain-inquiry', 'reply-multi-ref', 'reply-single-ref', 'with-attachment'];
const SOURCE = { channel: 'email', sourceId: 'test', name: 'E-mail (fixture)' };

describe('email outcomes by kind', () => {
  it.each([
    ['plain-inquiry', 'lead'],
    ['koi8r-inquiry', 'lead'],
    ['cp1251-inquiry', 'lead'],
    ['html-only-inquiry', 'lead'],
    ['with-attachment', 'lead'],
    ['reply-single-ref', 'message'],
    ['reply-multi-ref', 'message'],
    ['autoreply-rfc3834', 'robot-mail:auto-submitted'],
    ['autoreply-exchange-oof', 'robot-mail:auto-reply-header'],
    ['bounce-dsn', 'robot-mail:delivery-status'],
    ['bounce-plain-mailru', 'robot-mail:auto-submitted'],
    ['mailing-list', 'robot-mail:mailing-list'],
    ['noreply-sender', 'robot-mail:robot-sender'],
    ['own-mail', 'robot-mail:own-mail'],
  ])('%s → %s', async (name, expected) => {
    const { outcomes } = await run(name);
    expect(outcomes).toHaveLength(1);
    const [o] = outcomes;
    expect(o?.kind === 'ignored' ? o.reason.code : o?.kind).toBe(expected);
  });
});

describe('email decode', () => {
  it('refuses a body that is not message/rfc822 with 415', async () => {
    const { raw } = await run('plain-inquiry');
    const err = await Promise.resolve(email.decode({ ...raw, headers: { 'content-type': 'application/json' } })).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'LG_ERR_BAD_CONTENT_TYPE', statusCode: 415, field: 'content-type' });
  });

  it('keeps a plain, JSON-safe object: no Buffers, no Maps, no Dates', async () => {
    const { payload } = await run('bounce-dsn');
    expect(JSON.parse(JSON.stringify(payload))).toEqual(payload);
    expect(payload.headers['content-type']).toEqual({ value: 'multipart/report', params: { 'report-type': 'delivery-status', boundary: 'dsn_b' } });
  });

  it('decodes KOI8-R and windows-1251 bodies and subjects', async () => {
    const koi = await run('koi8r-inquiry');
    expect(koi.payload.subject).toBe('Заявка на замер окон');
    expect(koi.payload.text).toContain('Нужен замер трёх окон');
    const cp = await run('cp1251-inquiry');
    expect(cp.payload.subject).toBe('Вопрос по доставке');
    expect(cp.payload.text).toContain('Доставляете ли вы в Казань?');
  });

  it('turns HTML-only mail into text', async () => {
    const { payload } = await run('html-only-inquiry');
    expect(payload.text).toContain('Хочу заказать торт на 20 человек');
    expect(payload.text).not.toContain('<');
  });

  it('keeps mailparser references as given: string for one id, array for several', async () => {
    expect((await run('reply-single-ref')).payload.references).toBe('<20241105101500.4411@mail.example.org>');
    expect((await run('reply-multi-ref')).payload.references).toEqual(['<20241105101500.4411@mail.example.org>', '<reply.1@mail.example.org>', '<crm-out.77@example.test>']);
  });
});

describe('email eventId', () => {
  it('is the Message-ID, stable across decodes and distinct across messages', async () => {
    const ids = await Promise.all(VALID.map(async (n) => (await run(n)).payload.messageId));
    expect(new Set(ids).size).toBe(VALID.length);
    const a = await run('plain-inquiry');
    const b = await run('plain-inquiry');
    expect(email.eventId(a.payload, a.raw)).toBe('<20241105101500.4411@mail.example.org>');
    expect(email.eventId(b.payload, b.raw)).toBe(email.eventId(a.payload, a.raw));
  });

  it('falls back to a hash of the bytes when there is no Message-ID', async () => {
    const raw: RawEvent = { method: 'POST', subPath: '', headers: { 'content-type': 'message/rfc822' }, query: {}, receivedAt: RECEIVED_AT, body: Buffer.from('From: a@example.org\r\nSubject: hi\r\n\r\nhello\r\n') };
    const p = email.payload.parse(await email.decode(raw));
    expect(email.eventId(p, raw)).toMatch(/^sha256:[0-9a-f]{64}$/);
    const other = email.payload.parse(await email.decode({ ...raw, body: Buffer.from('From: a@example.org\r\nSubject: hi\r\n\r\nhello again\r\n') }));
    expect(email.eventId(other, raw)).not.toBe(email.eventId(p, raw));
  });
});

describe('email normalise', () => {
  it('is pure: frozen input, two runs equal', async () => {
    const { payload, raw } = await run('reply-multi-ref');
    const frozen = deepFreeze(structuredClone(payload));
    const ctx = { source: SOURCE, settings: settingsFor('x'), receivedAt: RECEIVED_AT, defaultRegion: 'RU' as const, raw };
    expect(email.normalise(frozen, ctx)).toEqual(email.normalise(frozen, ctx));
  });

  it('threads a reply under the root Message-ID, with quoted history and our quoted text cut', async () => {
    const [o] = (await run('reply-multi-ref')).outcomes;
    expect(o?.kind).toBe('message');
    if (o?.kind !== 'message') return;
    expect(o.message.threadKey).toBe('email:test:<20241105101500.4411@mail.example.org>');
    expect(o.message.text).toBe('Цена устраивает, давайте в четверг. Мой мобильный +7 912 345-67-89.');
    expect(o.message.fallbackTitle).toBe('Запрос цены на монтаж кондиционера');
  });

  it('keys a new inquiry by its own Message-ID, so replies to it find it', async () => {
    const [lead] = (await run('plain-inquiry')).outcomes;
    const [reply] = (await run('reply-single-ref')).outcomes;
    expect(lead?.kind === 'lead' && lead.lead.threadKey).toBe(reply?.kind === 'message' && reply.message.threadKey);
  });

  it('ignores our own company phone in a signature', async () => {
    const { payload, raw } = await run('plain-inquiry');
    const settings = email.settings.parse({ ownPhones: ['8 (912) 345-67-89'] });
    const [o] = email.normalise(payload, { source: SOURCE, settings, receivedAt: RECEIVED_AT, defaultRegion: 'RU', raw });
    expect(o?.kind === 'lead' && o.lead.contact.phonesE164).toEqual([]);
  });

  it('ignores mail we sent ourselves even without the mailbox setting (X-Leadgate loop header)', async () => {
    const { payload, raw } = await run('own-mail');
    const [o] = email.normalise(payload, { source: SOURCE, settings: email.settings.parse({}), receivedAt: RECEIVED_AT, defaultRegion: 'RU', raw });
    expect(o).toEqual({ kind: 'ignored', reason: { code: 'robot-mail:loop', detail: 'x-leadgate-source header: sent by Leadgate' } });
  });
});

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}
