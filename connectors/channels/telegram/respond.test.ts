/**
 * The `respond` and `files` hooks against the Bot API emulator: which failures are retried (and after how long)
 * and which are final, and file downloads that never expose the token.
 */
import { readFileSync } from 'node:fs';
import pino from 'pino';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { parseWith, RespondError, type RawEvent } from '#sdk';
import { DEFAULT_TOKEN, startTelegramEmulator } from '../../../test/emulators/telegram/app.ts';
import { telegram } from './index.ts';
import type { TgUpdate } from './payload.ts';

const emu = await startTelegramEmulator();
afterAll(() => emu.close());
beforeEach(() => emu.reset());

const settings = telegram.settings.parse({ botUsername: 'acme_leads_bot', tokenEnv: 'TG_TEST_TOKEN', apiRoot: emu.url });
const env = { TG_TEST_TOKEN: DEFAULT_TOKEN };
const source = { channel: 'telegram', sourceId: 'unit', name: 'Telegram' };

function fixture(name: string): { update: TgUpdate; raw: RawEvent } {
  const text = readFileSync(new URL(`./fixtures/${name}.http`, import.meta.url), 'utf8');
  const body = Buffer.from(text.slice(text.indexOf('\n\n') + 2));
  const raw: RawEvent = { method: 'POST', subPath: '', headers: { 'content-type': 'application/json' }, query: {}, body, receivedAt: new Date() };
  return { update: parseWith(telegram.payload, telegram.decode(raw)), raw };
}

async function respond(name: string, e: Record<string, string | undefined> = env): Promise<unknown> {
  const { update, raw } = fixture(name);
  return telegram.respond!(update, { source, settings, env: e, log: pino({ level: 'silent' }), outcomes: [], raw, attempt: 1 }).then(
    () => 'ok',
    (err: unknown) => err,
  );
}

describe('telegram respond', () => {
  it('answers /start with the greeting and the phone button, without a getMe call', async () => {
    expect(await respond('start-deeplink')).toBe('ok');
    expect(emu.callsTo('getMe')).toHaveLength(0);
    expect(emu.callsTo('sendMessage')[0]?.params.reply_markup).toMatchObject({ keyboard: [[{ request_contact: true }]] });
  });

  it('429 → retryable, not before Telegram’s retry_after', async () => {
    emu.rateLimit(1, 7, 'sendMessage');
    const err = await respond('start-deeplink');
    expect(err).toBeInstanceOf(RespondError);
    expect(err).toMatchObject({ permanent: false, retryAfterMs: 7_000 });
  });

  it('"bot was blocked by the user" → permanent (never retried)', async () => {
    emu.blockChat(6012345678);
    expect(await respond('start-deeplink')).toMatchObject({ name: 'RespondError', permanent: true });
  });

  it('a missing token is permanent and names the variable', async () => {
    const err = await respond('start-deeplink', {});
    expect(err).toMatchObject({ permanent: true });
    expect((err as Error).message).toContain('TG_TEST_TOKEN');
  });

  it('says nothing in groups', async () => {
    expect(await respond('supergroup-command')).toBe('ok');
    expect(emu.calls).toHaveLength(0);
  });
});

describe('telegram files', () => {
  it('downloads by file_id through getFile; an unknown id is null', async () => {
    emu.addFile('doc-1', { path: 'documents/file_3.pdf', bytes: Buffer.from('%PDF-1.4 test') });
    const f = await telegram.files!.open('doc-1', { source, settings, env });
    expect(f).toMatchObject({ name: 'file_3.pdf', contentType: 'application/pdf', sizeBytes: 13 });
    const chunks: Buffer[] = [];
    for await (const c of f!.body as AsyncIterable<Buffer>) chunks.push(Buffer.from(c));
    expect(Buffer.concat(chunks).toString()).toBe('%PDF-1.4 test');
    expect(await telegram.files!.open('nope', { source, settings, env })).toBeNull();
  });
});
