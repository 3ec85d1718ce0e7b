import { readFileSync } from 'node:fs';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import type { Update } from 'telegraf/types';
import { createLeadBot, isTelegramPermanent, registerWebhook, telegramRetryAfterMs } from '../../../connectors/channels/telegram/bot.ts';
import { DEFAULT_TOKEN, startTelegramEmulator } from './app.ts';

const emu = await startTelegramEmulator({ allowInsecureWebhook: false });
afterAll(() => emu.close());
beforeEach(() => emu.reset());

const BOT_INFO = { id: 7000000001, is_bot: true as const, first_name: 'Leads', username: 'acme_leads_bot', can_join_groups: true, can_read_all_group_messages: false, supports_inline_queries: false };

/** The JSON body of a connector fixture: what the worker hands to bot.handleUpdate. */
function fixtureUpdate(name: string): Update {
  const buf = readFileSync(new URL(`../../../connectors/channels/telegram/fixtures/${name}.http`, import.meta.url), 'utf8');
  return JSON.parse(buf.slice(buf.indexOf('\n\n') + 2)) as Update;
}

function bot(withInfo = true) {
  return createLeadBot({ token: DEFAULT_TOKEN, apiRoot: emu.url, ...(withInfo ? { botInfo: BOT_INFO } : {}) });
}

async function api(method: string, params: Record<string, unknown> = {}, token = DEFAULT_TOKEN): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${emu.url}/bot${token}/${method}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(params) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('bot.ts through the emulator (handleUpdate without a response object)', () => {
  it('/start in a private chat: greeting with a request_contact reply keyboard, no getMe', async () => {
    await bot().handleUpdate(fixtureUpdate('start-deeplink'));
    expect(emu.callsTo('getMe')).toHaveLength(0);
    const [send] = emu.callsTo('sendMessage');
    expect(send?.params).toMatchObject({ chat_id: 6012345678, text: expect.stringContaining('Здравствуйте') });
    expect(send?.params.reply_markup).toEqual({
      keyboard: [[{ text: 'Отправить номер телефона', request_contact: true, hide: false }]],
      resize_keyboard: true,
      one_time_keyboard: true,
    });
  });

  it('calls getMe once when botInfo is not preset', async () => {
    const b = bot(false);
    await b.handleUpdate(fixtureUpdate('start-deeplink'));
    await b.handleUpdate(fixtureUpdate('start-raw-newline'));
    expect(emu.callsTo('getMe')).toHaveLength(1);
    expect(emu.callsTo('sendMessage')).toHaveLength(2);
  });

  it('says nothing to /start@bot in a supergroup', async () => {
    await bot().handleUpdate(fixtureUpdate('supergroup-command'));
    expect(emu.calls).toHaveLength(0);
  });

  it('thanks after the user shares their own number and removes the keyboard', async () => {
    await bot().handleUpdate(fixtureUpdate('contact-own'));
    const [send] = emu.callsTo('sendMessage');
    expect(send?.params).toMatchObject({ chat_id: 6012345678, text: expect.stringContaining('Спасибо'), reply_markup: { remove_keyboard: true } });
  });

  it('asks again after somebody else’s card', async () => {
    await bot().handleUpdate(fixtureUpdate('contact-foreign'));
    const [send] = emu.callsTo('sendMessage');
    expect(send?.params).toMatchObject({ text: expect.stringContaining('чужой контакт'), reply_markup: { keyboard: [[{ request_contact: true }]] } });
  });

  it('answers a button press so it stops spinning', async () => {
    await bot().handleUpdate(fixtureUpdate('callback-query'));
    expect(emu.callsTo('answerCallbackQuery')[0]?.params).toMatchObject({ callback_query_id: '4382bfdwdsb323b2d9' });
  });

  it('stays silent on plain text (the pipeline notes it)', async () => {
    await bot().handleUpdate(fixtureUpdate('text-message'));
    expect(emu.calls).toHaveLength(0);
  });

  it('429: the error reaches the caller with retry_after, and a retry succeeds', async () => {
    emu.rateLimit(1, 3, 'sendMessage');
    const b = bot();
    const err = await b.handleUpdate(fixtureUpdate('start-deeplink')).catch((e: unknown) => e);
    expect(telegramRetryAfterMs(err)).toBe(3000);
    expect(isTelegramPermanent(err)).toBe(false);
    await b.handleUpdate(fixtureUpdate('start-deeplink'));
    expect(emu.callsTo('sendMessage').map((c) => c.status)).toEqual([429, 200]);
  });

  it('403 "bot was blocked by the user" is permanent', async () => {
    emu.blockChat(6012345678);
    const err = await bot().handleUpdate(fixtureUpdate('start-deeplink')).catch((e: unknown) => e);
    expect(isTelegramPermanent(err)).toBe(true);
    expect(telegramRetryAfterMs(err)).toBeUndefined();
  });

  it('registerWebhook sends our secret and update list', async () => {
    const b = bot();
    await expect(registerWebhook(b, { url: 'http://127.0.0.1/hooks/telegram/main', secretToken: 's3cret_ok' })).rejects.toThrow(/HTTPS URL/);
    await registerWebhook(b, { url: 'https://leads.example.test/hooks/telegram/main', secretToken: 's3cret_ok' });
    expect(emu.webhook).toEqual({ url: 'https://leads.example.test/hooks/telegram/main', secretToken: 's3cret_ok', maxConnections: 40, allowedUpdates: ['message', 'edited_message', 'callback_query', 'my_chat_member'] });
    await expect(registerWebhook(b, { url: 'https://leads.example.test/x', secretToken: 'bad secret!' })).rejects.toThrow(/unallowed characters/);
  });
});

describe('the emulator itself', () => {
  it('401 for an unknown token, 404 for an unknown method', async () => {
    expect(await api('getMe', {}, '1:wrong')).toEqual({ status: 401, body: { ok: false, error_code: 401, description: 'Unauthorized' } });
    expect((await api('sendPigeon')).status).toBe(404);
  });

  it('getUpdates: offset confirms, limit caps, updates come in order', async () => {
    const a = emu.pushUpdate({ message: { text: 'a' } });
    const b = emu.pushUpdate({ message: { text: 'b' } });
    expect(b).toBe(a + 1);
    const first = await api('getUpdates', { limit: 1 });
    expect(first.body.result).toEqual([{ message: { text: 'a' }, update_id: a }]);
    const both = await api('getUpdates', {});
    expect((both.body.result as unknown[]).length).toBe(2);
    const after = await api('getUpdates', { offset: a + 1 });
    expect(after.body.result).toEqual([{ message: { text: 'b' }, update_id: b }]);
    expect((await api('getUpdates', { offset: a })).body.result).toEqual([{ message: { text: 'b' }, update_id: b }]);
    expect((await api('getUpdates', { offset: b + 1 })).body.result).toEqual([]);
    expect((await api('getWebhookInfo')).body.result).toMatchObject({ url: '', pending_update_count: 0 });
  });

  it('getUpdates long-polls until an update arrives', async () => {
    const started = Date.now();
    const poll = api('getUpdates', { timeout: 5 });
    await new Promise((r) => setTimeout(r, 150));
    const id = emu.pushUpdate({ message: { text: 'late' } });
    const res = await poll;
    expect(res.body.result).toEqual([{ message: { text: 'late' }, update_id: id }]);
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('getUpdates returns [] after the timeout, and a second poll ends the first with 409', async () => {
    expect((await api('getUpdates', { timeout: 1 })).body.result).toEqual([]);
    const first = api('getUpdates', { timeout: 5 });
    await new Promise((r) => setTimeout(r, 100));
    const second = api('getUpdates', { timeout: 1 });
    expect((await first).status).toBe(409);
    expect((await second).status).toBe(200);
  });

  it('getUpdates is refused while a webhook is set; deleteWebhook with drop_pending_updates clears the queue', async () => {
    emu.pushUpdate({ message: { text: 'x' } });
    await api('setWebhook', { url: 'https://leads.example.test/h' });
    expect((await api('getUpdates')).status).toBe(409);
    expect((await api('getWebhookInfo')).body.result).toMatchObject({ url: 'https://leads.example.test/h', pending_update_count: 1 });
    await api('deleteWebhook', { drop_pending_updates: true });
    expect((await api('getUpdates')).body).toEqual({ ok: true, result: [] });
  });

  it('getFile describes a file and serves it under /file/bot<token>/<path>', async () => {
    emu.addFile('BQACAgIAAxkBAAMRZ0Ab-doc', { path: 'documents/file_1.pdf', bytes: Buffer.from('%PDF-1.4') });
    const b = bot();
    const link = await b.telegram.getFileLink('BQACAgIAAxkBAAMRZ0Ab-doc');
    expect(link.href).toBe(`${emu.url}/file/bot${DEFAULT_TOKEN}/documents/file_1.pdf`);
    const res = await fetch(link);
    expect(Buffer.from(await res.arrayBuffer()).toString()).toBe('%PDF-1.4');
    expect((await api('getFile', { file_id: 'nope' })).body).toMatchObject({ ok: false, error_code: 400, description: 'Bad Request: invalid file_id' });
  });

  it('429 fault answers the way Telegram does', async () => {
    emu.rateLimit(2, 7);
    expect(await api('getMe')).toEqual({ status: 429, body: { ok: false, error_code: 429, description: 'Too Many Requests: retry after 7', parameters: { retry_after: 7 } } });
    expect((await api('getWebhookInfo')).status).toBe(429);
    expect((await api('getMe')).status).toBe(200);
  });

  it('sendMessage validates like the real API', async () => {
    expect((await api('sendMessage', { chat_id: 1, text: '' })).body.description).toBe('Bad Request: message text is empty');
    expect((await api('sendMessage', { text: 'hi' })).body.description).toBe('Bad Request: chat_id is empty');
  });
});
