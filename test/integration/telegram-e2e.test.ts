/**
 * Telegram end to end: real HTTP into the gateway with the secret header → Redis + BullMQ → worker → the amoCRM
 * emulator (and once Bitrix24), with the bot's replies going to the Telegram Bot API emulator.
 */
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { startAmoEmulator, type RunningAmoEmulator } from '../emulators/amocrm/start.ts';
import { DEFAULT_TOKEN, startTelegramEmulator, type RunningTelegramEmulator } from '../emulators/telegram/app.ts';
import { crmAdapters, type EmulatedCrm } from '../support/crm-adapters/index.ts';
import { startHarness, type Harness } from '../support/harness.ts';
import { makeKeys } from '../../src/infra/keys.ts';
import { createIntakeStore } from '../../src/pipeline/enqueue.ts';
import { QUEUE_INTAKE } from '../../src/pipeline/queues.ts';
import { QUEUE_RESPOND } from '../../src/pipeline/queues.ts';
import { createTelegramLink, runTelegramPoll, telegramCommand } from '../../src/cli/telegram.command.ts';

const SECRET = 'tg-e2e-secret_0123456789';
const PUBLIC_URL = 'https://hub.example.test';
const CHAT = 6012345678;
const ENV = { E2E_TG_SECRET: SECRET, E2E_TG_TOKEN: DEFAULT_TOKEN };

let nextUpdateId = 730_200_000;
let nextMessageId = 10;
const user = (id = CHAT) => ({ id, is_bot: false, first_name: 'Анна', username: `anna_${id}`, language_code: 'ru' });
function message(content: Record<string, unknown>, chatId = CHAT): Record<string, unknown> {
  return { update_id: ++nextUpdateId, message: { message_id: ++nextMessageId, from: user(chatId), chat: { id: chatId, first_name: 'Анна', type: 'private' }, date: 1_732_262_400 + nextMessageId, ...content } };
}
const start = (payload?: string, chatId = CHAT) => message({ text: payload ? `/start ${payload}` : '/start', entities: [{ offset: 0, length: 6, type: 'bot_command' }] }, chatId);
const text = (t: string, chatId = CHAT) => message({ text: t }, chatId);
const ownContact = (phone: string, chatId = CHAT) => message({ contact: { phone_number: phone, first_name: 'Анна', user_id: chatId } }, chatId);

describe('Telegram → hub → CRM end to end', () => {
  let tg: RunningTelegramEmulator;
  let amo: RunningAmoEmulator | undefined;
  let crm: EmulatedCrm | undefined;
  let h: Harness;
  let respondQueue: Queue;

  afterEach(async () => {
    await respondQueue?.close();
    await h?.close();
    await amo?.close();
    await crm?.close();
    await tg?.close();
    amo = undefined;
    crm = undefined;
  });

  async function setup(o: { crm?: 'amocrm' | 'bitrix24'; workers?: boolean } = {}) {
    tg = await startTelegramEmulator();
    let account: Record<string, unknown>;
    let env: Record<string, string> = { ...ENV };
    if (o.crm === 'bitrix24') {
      crm = await crmAdapters.bitrix24!();
      account = crm.account;
      env = { ...env, ...crm.env };
    } else {
      amo = await startAmoEmulator();
      account = { id: 'amo', connector: 'amocrm', settings: { baseUrl: amo.url, auth: 'long-lived', tokenEnv: 'E2E_AMO_TOKEN' } };
      env.E2E_AMO_TOKEN = amo.token;
    }
    h = await startHarness({
      config: {
        gateway: { publicUrl: PUBLIC_URL },
        crm: [account],
        sources: [{ id: 'tg', connector: 'telegram', name: 'Telegram', secretEnv: 'E2E_TG_SECRET', settings: { botUsername: 'acme_leads_bot', tokenEnv: 'E2E_TG_TOKEN', apiRoot: tg.url } }],
      },
      env,
      ...(o.workers === false ? { workers: false } : {}),
    });
    respondQueue = new Queue(QUEUE_RESPOND, { connection: new Redis(h.redisUrl, { maxRetriesPerRequest: null }), prefix: h.prefix });
  }

  const post = (update: Record<string, unknown>, secret = SECRET) =>
    h.post('/hooks/telegram/tg', JSON.stringify(update), { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': secret });

  /** Intake, delivery and the bot's replies all done. */
  async function settle(timeoutMs = 20_000) {
    const until = Date.now() + timeoutMs;
    for (;;) {
      await h.drain(timeoutMs);
      const c = await respondQueue.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
      if (Object.values(c).every((n) => n === 0)) {
        await h.drain(timeoutMs);
        return;
      }
      if (Date.now() > until) throw new Error(`respond queue not drained: ${JSON.stringify(c)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  const keyboardReplies = () => tg.callsTo('sendMessage').filter((c) => c.status === 200 && JSON.stringify(c.params.reply_markup ?? {}).includes('request_contact'));
  const commonNotes = () => [...amo!.state.notes.values()].filter((n) => n.note_type === 'common');
  const noteTexts = () => commonNotes().map((n) => String(n.params.text ?? ''));

  it('first message opens one lead with source "Telegram"; later messages are notes on it', async () => {
    await setup();
    expect((await post(start())).status).toBe(200);
    await settle();
    expect((await post(text('Сколько стоит доставка в Казань?'))).status).toBe(200);
    await settle();
    expect((await post(text('И ещё вопрос про оплату'))).status).toBe(200);
    await settle();

    const c = amo!.state.counts();
    expect(c.leads).toBe(1);
    expect(c.contacts).toBe(1);
    const lead = [...amo!.state.leads.values()][0]!;
    const unsorted = [...amo!.state.unsorted.values()];
    expect(unsorted.map((u) => u.source_name)).toEqual(['Telegram']);
    const notes = commonNotes();
    expect(notes.every((n) => n.entity_id === lead.id)).toBe(true);
    expect(noteTexts().some((t) => t.includes('Сколько стоит доставка в Казань?'))).toBe(true);
    expect(noteTexts().some((t) => t.includes('И ещё вопрос про оплату'))).toBe(true);
    expect(c.tasks).toBe(1); // one "call back" task for the lead, none per message
  });

  it('/start with a `telegram link` code carries the stored UTM into the lead', async () => {
    await setup();
    const { code, link } = await createTelegramLink({ redis: h.redis, keys: makeKeys(h.prefix), botUsername: 'acme_leads_bot', attribution: { utm: { source: 'yandex', medium: 'cpc', campaign: 'tg-brand' }, tracking: { yclid: '777' } }, ttlDays: 90 });
    expect(link).toBe(`https://t.me/acme_leads_bot?start=${code}`);
    expect(await h.redis.ttl(makeKeys(h.prefix).attribution(code))).toBeGreaterThan(89 * 86_400);
    await post(start(code));
    await settle();
    const lead = [...amo!.state.leads.values()][0]!;
    const fields = JSON.stringify(lead.custom_fields_values);
    expect(fields).toContain('UTM_SOURCE');
    expect(fields).toContain('yandex');
    expect(fields).toContain('tg-brand');
  });

  it('the user’s own shared contact gives the phone: on the contact when it opens the chat, added to the lead’s contact later', async () => {
    await setup();
    // A chat whose first message is the shared number (the user pressed the button of an earlier /start).
    await post(ownContact('79123456789', 6012345001));
    await settle();
    const contact = [...amo!.state.contacts.values()][0]!;
    expect(JSON.stringify(contact.custom_fields_values)).toContain('+7 (912) 345-67-89');
    // A chat with a lead already: the number joins that lead's contact (once, however often it is shared) and the note says so.
    await post(start(undefined, 6012345002));
    await settle();
    const lead2 = [...amo!.state.leads.values()].find((l) => l.id !== [...amo!.state.leads.values()][0]!.id)!;
    const contact2 = amo!.state.contacts.get(lead2.contacts[0]!.id)!;
    expect(JSON.stringify(contact2.custom_fields_values ?? [])).not.toContain('345-00-02');
    await post(ownContact('+79123450002', 6012345002));
    await settle();
    await post(ownContact('+79123450002', 6012345002));
    await settle();
    expect(amo!.state.counts()).toMatchObject({ leads: 2, contacts: 2 });
    expect(contact2.custom_fields_values.filter((f) => f.field_code === 'PHONE').flatMap((f) => f.values.map((v) => v.value))).toEqual(['+7 (912) 345-00-02']);
    expect(noteTexts().some((t) => t.includes('Поделился своим номером: +79123450002') && t.includes('Добавлено в контакт: +7 (912) 345-00-02'))).toBe(true);
    // And the bot thanked the user and removed the keyboard, both times.
    const thanks = tg.callsTo('sendMessage').filter((c) => JSON.stringify(c.params.reply_markup ?? {}).includes('remove_keyboard'));
    expect(thanks).toHaveLength(3);
  });

  it('the keyboard reply goes out exactly once when Telegram delivers the same update three times', async () => {
    await setup();
    const u = start();
    const answers = [];
    for (let i = 0; i < 3; i++) answers.push(await post(u));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
    expect(answers.slice(1).every((a) => a.body.includes('"duplicate":true'))).toBe(true);
    await settle();
    expect(keyboardReplies()).toHaveLength(1);
    expect(keyboardReplies()[0]!.params).toMatchObject({ chat_id: CHAT, text: expect.stringContaining('Здравствуйте') });
    expect(amo!.state.counts().leads).toBe(1);
  });

  it('a reply Telegram rate-limits is retried after retry_after, still sent once; a blocked user is not retried', async () => {
    await setup();
    tg.rateLimit(1, 1, 'sendMessage');
    await post(start());
    await settle(30_000);
    const sends = tg.callsTo('sendMessage');
    expect(sends.map((c) => c.status)).toEqual([429, 200]);

    tg.blockChat(6012345003);
    await post(start(undefined, 6012345003));
    await settle();
    expect(tg.callsTo('sendMessage').filter((c) => c.params.chat_id === 6012345003).map((c) => c.status)).toEqual([403]);
    expect(amo!.state.counts().leads).toBe(2); // the lead does not depend on the reply
  });

  it('a wrong or missing secret header is refused and stores nothing', async () => {
    await setup();
    expect((await post(start(), 'wrong-secret')).status).toBe(403);
    const res = await h.post('/hooks/telegram/tg', JSON.stringify(start()), { 'content-type': 'application/json' });
    expect(res.status).toBe(401);
    const counts = await h.counts();
    expect(counts[QUEUE_INTAKE]?.waiting ?? 0).toBe(0);
    expect(counts[QUEUE_INTAKE]?.completed ?? 0).toBe(0);
  });

  it('a photo is linked through a signed hub URL (never the token URL) that serves the file', async () => {
    await setup();
    const bytes = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 4]);
    tg.addFile('AgACAgIAAxkBAAM-photo-large', { path: 'photos/file_7.jpg', bytes });
    await post(start());
    await settle();
    await post(message({ caption: 'Вот такая плитка', photo: [{ file_id: 'AgACAgIAAxkBAAM-photo-small', file_unique_id: 's', width: 90, height: 90, file_size: 10 }, { file_id: 'AgACAgIAAxkBAAM-photo-large', file_unique_id: 'l', width: 800, height: 800, file_size: 8 }] }));
    await settle();
    const note = noteTexts().find((t) => t.includes('Вот такая плитка'));
    expect(note).toBeDefined();
    expect(note).not.toContain(DEFAULT_TOKEN);
    expect(note).not.toContain(DEFAULT_TOKEN.split(':')[1]);
    const url = /https:\/\/hub\.example\.test\/files\/telegram\/tg\/\S+/.exec(note!)?.[0];
    expect(url).toBeDefined();
    const local = url!.replace(PUBLIC_URL, h.gateway.url);
    const res = await fetch(local);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/jpeg');
    expect(Buffer.from(await res.arrayBuffer())).toEqual(bytes);
    expect((await fetch(local.replace(/sig=[^&]+/, 'sig=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'))).status).toBe(403);
    expect((await fetch(local.replace('photo-large', 'photo-small'))).status).toBe(403); // the signature covers the id
  });

  it('`telegram poll` (getUpdates) feeds the same intake store: same lead, same single reply', async () => {
    await setup();
    const conn = new Redis(h.redisUrl, { maxRetriesPerRequest: null });
    const queue = new Queue(QUEUE_INTAKE, { connection: conn, prefix: h.prefix });
    const intake = createIntakeStore({ queue, redis: conn, keys: makeKeys(h.prefix), ttlSec: 3600, timeoutMs: 5_000 });
    const stop = new AbortController();
    const src = h.config.sources.get('tg')!;
    const polling = runTelegramPoll({ src, intake, token: DEFAULT_TOKEN, signal: stop.signal, log: pino({ level: 'silent' }), timeoutSec: 1 });
    try {
      const { update_id: _drop, ...first } = start();
      tg.pushUpdate(first);
      const { update_id: _drop2, ...second } = text('Пишу через long polling');
      tg.pushUpdate(second);
      await vi.waitFor(() => expect(amo!.state.counts().leads).toBe(1), { timeout: 15_000, interval: 100 });
      await vi.waitFor(() => expect(noteTexts().some((t) => t.includes('Пишу через long polling'))).toBe(true), { timeout: 15_000, interval: 100 });
      await settle();
      expect(keyboardReplies()).toHaveLength(1);
    } finally {
      stop.abort();
      const counts = await polling;
      expect(counts).toEqual({ stored: 2, duplicates: 0 });
      await queue.close();
      conn.disconnect();
    }
  });

  it('into Bitrix24: the chat opens one lead, the next message is a timeline comment on it', async () => {
    await setup({ crm: 'bitrix24' });
    await post(start());
    await settle();
    await post(text('Нужна консультация'));
    await settle();
    const c = crm!.counts();
    expect(c.leads).toBe(1);
    expect(c.contacts).toBe(1);
    expect(c.notes).toBeGreaterThanOrEqual(2); // the inquiry and the later message
    expect(keyboardReplies()).toHaveLength(1);
  });
});

describe('leadgate telegram set-webhook / delete-webhook / link (CLI)', () => {
  let tg: RunningTelegramEmulator;
  let dir: string;
  const added = ['E2E_TG_SECRET', 'E2E_TG_TOKEN', 'LEADGATE_CONFIG', 'REDIS_URL'].filter((k) => process.env[k] === undefined);
  afterEach(async () => {
    for (const k of added) delete process.env[k];
    rmSync(dir, { recursive: true, force: true });
    await tg?.close();
  });

  it('registers the webhook with our secret and update list, deletes it, and prints a t.me link', async () => {
    tg = await startTelegramEmulator();
    dir = mkdtempSync(join(tmpdir(), 'lg-tg-cli-'));
    const prefix = `{lgtest-cli-${Date.now().toString(36)}}`;
    const file = join(dir, 'leadgate.yaml');
    writeFileSync(
      file,
      [
        `redisPrefix: "${prefix}"`,
        'gateway:',
        `  publicUrl: ${PUBLIC_URL}`,
        'sources:',
        '  - id: tg',
        '    connector: telegram',
        '    name: Telegram',
        '    secretEnv: E2E_TG_SECRET',
        '    settings:',
        '      botUsername: acme_leads_bot',
        '      tokenEnv: E2E_TG_TOKEN',
        `      apiRoot: ${tg.url}`,
      ].join('\n'),
    );
    Object.assign(process.env, ENV, { LEADGATE_CONFIG: file, REDIS_URL: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379' });
    const out: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => {
      out.push(String(s));
      return true;
    });
    const errSpy = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(await telegramCommand(['set-webhook', 'tg'])).toBe(0);
      expect(tg.webhook).toMatchObject({ url: `${PUBLIC_URL}/hooks/telegram/tg`, secretToken: SECRET, allowedUpdates: ['message', 'edited_message', 'callback_query', 'my_chat_member'] });
      expect(await telegramCommand(['delete-webhook', 'tg'])).toBe(0);
      expect(tg.webhook).toBeUndefined();
      expect(await telegramCommand(['link', 'tg', '--utm-source', 'vk', '--utm-campaign', 'spring', '--ttl-days', '30'])).toBe(0);
      expect(await telegramCommand(['set-webhook', 'nope'])).toBe(2);
    } finally {
      spy.mockRestore();
      errSpy.mockRestore();
    }
    const link = out.join('').match(/https:\/\/t\.me\/acme_leads_bot\?start=(src_[A-Za-z0-9_-]+)/);
    expect(link).not.toBeNull();
    const r = new Redis(process.env.REDIS_URL!);
    try {
      const key = makeKeys(prefix).attribution(link![1]!);
      expect(JSON.parse((await r.get(key))!)).toEqual({ utm: { source: 'vk', campaign: 'spring' }, tracking: {} });
      expect(await r.ttl(key)).toBeGreaterThan(29 * 86_400);
      await r.del(key);
    } finally {
      r.disconnect();
    }
  });
});
