/**
 * Smoke test of the throw-away Dovecot from test/support/dovecot.sh with imapflow: LOGIN, APPEND,
 * SEARCH, FETCH, STORE \Seen, MOVE — and the fetched bytes through the e-mail connector.
 * Start the server first:  test/support/dovecot.sh start   (stop: test/support/dovecot.sh stop)
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ImapFlow } from 'imapflow';
import { afterAll, describe, expect, it } from 'vitest';
import { email } from '../../connectors/channels/email/index.ts';

const IMAP = {
  host: '127.0.0.1',
  port: Number(process.env.IMAP_PORT ?? 10143),
  secure: false,
  auth: { user: process.env.IMAP_USER ?? 'leads@example.test', pass: process.env.IMAP_PASS ?? 'leads-secret' },
  logger: false as const,
};

function client(): ImapFlow {
  const c = new ImapFlow(IMAP);
  // An unhandled 'error' event would crash the worker process (§C1).
  c.on('error', () => undefined);
  return c;
}

/** LOGIN works within 2 s, or the reason it does not. */
async function probe(): Promise<string | undefined> {
  const c = client();
  try {
    await Promise.race([c.connect(), new Promise((_, reject) => setTimeout(() => reject(new Error('timeout after 2 s')), 2000))]);
    await c.logout();
    return undefined;
  } catch (err) {
    c.close();
    return (err as Error).message;
  }
}

const unavailable = await probe();
if (unavailable) {
  console.warn(`imap-smoke: skipped, no Dovecot on 127.0.0.1:${IMAP.port} (${unavailable}). Run test/support/dovecot.sh start`);
}

describe.skipIf(unavailable !== undefined)(`IMAP smoke against Dovecot on 127.0.0.1:${IMAP.port}`, () => {
  const c = client();
  afterAll(async () => {
    if (c.usable) await c.logout();
  });

  it('APPEND → SEARCH → FETCH → \\Seen → MOVE, and the message decodes into a lead', async () => {
    await c.connect();
    expect(c.capabilities.has('IDLE')).toBe(true);
    expect(c.capabilities.has('MOVE')).toBe(true);

    const messageId = `<smoke-${randomUUID()}@example.org>`;
    const fixture = readFileSync(new URL('../../connectors/channels/email/fixtures/plain-inquiry.http', import.meta.url));
    const original = fixture.subarray(fixture.indexOf('\n\n') + 2).toString('utf8');
    const raw = Buffer.from(original.replace(/^Message-ID: .*$/m, `Message-ID: ${messageId}`));

    const appended = await c.append('INBOX', raw);
    expect(appended && appended.uid).toBeGreaterThan(0);

    const lock = await c.getMailboxLock('INBOX');
    let uid: number;
    let source: Buffer;
    try {
      const uids = (await c.search({ header: { 'message-id': messageId } }, { uid: true })) || [];
      expect(uids).toHaveLength(1);
      uid = uids[0]!;
      const msg = await c.fetchOne(String(uid), { source: true, envelope: true, flags: true }, { uid: true });
      if (!msg || !msg.source) throw new Error('FETCH returned no source');
      expect(msg.envelope?.messageId).toBe(messageId);
      expect(msg.flags?.has('\\Seen')).toBe(false);
      source = msg.source;
      await c.messageFlagsAdd(String(uid), ['\\Seen'], { uid: true });
      const moved = await c.messageMove(String(uid), 'Processed', { uid: true });
      expect(moved && moved.destination).toBe('Processed');
    } finally {
      lock.release();
    }

    const payload = email.payload.parse(await email.decode({ method: 'POLL', subPath: '', headers: { 'content-type': 'message/rfc822' }, query: {}, body: source, receivedAt: new Date() }));
    expect(email.eventId(payload, { method: 'POLL', subPath: '', headers: {}, query: {}, body: source, receivedAt: new Date() })).toBe(messageId);
    const [outcome] = email.normalise(payload, {
      source: { channel: 'email', sourceId: 'smoke', name: 'Smoke' },
      settings: email.settings.parse({ address: IMAP.auth.user }),
      receivedAt: new Date(),
      defaultRegion: 'RU',
      raw: { method: 'POLL', subPath: '', headers: {}, query: {}, body: source, receivedAt: new Date() },
    });
    expect(outcome?.kind === 'lead' && outcome.lead.contact.phonesE164).toEqual(['+79123456789']);

    // Leave the mailbox as we found it.
    const processed = await c.getMailboxLock('Processed');
    try {
      const left = (await c.search({ header: { 'message-id': messageId } }, { uid: true })) || [];
      expect(left).toHaveLength(1);
      await c.messageDelete(left.map(String).join(','), { uid: true });
    } finally {
      processed.release();
    }
  });
});
