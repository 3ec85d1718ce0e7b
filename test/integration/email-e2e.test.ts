/**
 * E-mail end to end against a real IMAP server (Dovecot from test/support/dovecot.sh on 127.0.0.1:10143):
 * APPEND → the worker's IMAP poller (lease, checkpoint, IDLE) → intake store → worker → the amoCRM emulator (and
 * once Bitrix24), with auto-acknowledgements and alerts going to an in-process smtp-server on 127.0.0.1:0.
 *
 * Every test logs in as a mailbox of its own (a line added to Dovecot's passwd-file, picked up at once), so it
 * never sees another test's mail. Start the server first: bash test/support/dovecot.sh start
 */
import { randomBytes } from 'node:crypto';
import { appendFileSync, existsSync, utimesSync } from 'node:fs';
import { resolve } from 'node:path';
import { ImapFlow } from 'imapflow';
import { simpleParser, type ParsedMail } from 'mailparser';
import pino from 'pino';
import { SMTPServer } from 'smtp-server';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { startAmoEmulator, type RunningAmoEmulator } from '../emulators/amocrm/start.ts';
import { crmAdapters, type EmulatedCrm } from '../support/crm-adapters/index.ts';
import { startHarness, type Harness } from '../support/harness.ts';
import { startWorkers, type RunningWorkers } from '../../src/pipeline/worker.ts';
import { pollKeys, startPollRunner, type PollRunner } from '../../src/pipeline/poll-runner.ts';
import { makeKeys } from '../../src/infra/keys.ts';
import { IntakeUnavailableError } from '../../src/sdk/errors.ts';
import { createIntakeStore, type IntakeStore } from '../../src/pipeline/enqueue.ts';
import { QUEUE_INTAKE } from '../../src/pipeline/queues.ts';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';

const IMAP_PORT = Number(process.env.IMAP_PORT ?? 10143);
const IMAP_DIR = process.env.IMAP_DIR ?? resolve('.tmp/imap');
const DEFAULT_USER = { user: process.env.IMAP_USER ?? 'leads@example.test', pass: process.env.IMAP_PASS ?? 'leads-secret' };
const silent = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

function client(auth: { user: string; pass: string }): ImapFlow {
  const c = new ImapFlow({ host: '127.0.0.1', port: IMAP_PORT, secure: false, auth, logger: false });
  c.on('error', () => undefined);
  return c;
}

async function probe(): Promise<string | undefined> {
  const c = client(DEFAULT_USER);
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
if (unavailable) console.warn(`email-e2e: SKIPPED — no Dovecot on 127.0.0.1:${IMAP_PORT} (${unavailable}). Run: bash test/support/dovecot.sh start`);

/**
 * A fresh mailbox: a passwd-file line of our own. Dovecot re-reads the file when its mtime changes, but looks at
 * most about once a second: a LOGIN right after the write may still miss the user (and a failed LOGIN costs
 * Dovecot's auth_failure_delay, seconds). So: wait a second, then try, touching the file again if needed.
 */
async function newMailbox(): Promise<{ user: string; pass: string }> {
  const users = resolve(IMAP_DIR, 'users');
  const creds = { user: `e2e-${randomBytes(5).toString('hex')}@example.test`, pass: `pw-${randomBytes(6).toString('hex')}` };
  if (!existsSync(users)) throw new Error(`${users} not found: start Dovecot with test/support/dovecot.sh (IMAP_DIR=${IMAP_DIR})`);
  appendFileSync(users, `${creds.user}:{PLAIN}${creds.pass}\n`);
  const until = Date.now() + 15_000;
  for (;;) {
    await new Promise((r) => setTimeout(r, 1_100));
    const c = client(creds);
    try {
      await c.connect();
      await c.logout();
      return creds;
    } catch (err) {
      c.close();
      if (Date.now() > until) throw new Error(`Dovecot does not accept the new test user ${creds.user}: ${(err as Error).message}`);
      const now = new Date();
      utimesSync(users, now, now);
    }
  }
}

async function withImap<T>(auth: { user: string; pass: string }, fn: (c: ImapFlow) => Promise<T>): Promise<T> {
  const c = client(auth);
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.logout().catch(() => c.close());
  }
}

async function append(auth: { user: string; pass: string }, raw: string, folder = 'INBOX'): Promise<void> {
  await withImap(auth, async (c) => {
    await c.append(folder, Buffer.from(raw.replace(/\r?\n/g, '\r\n')));
  });
}

/** Message-IDs and flags in a folder (a missing folder is empty). */
async function folder(auth: { user: string; pass: string }, path: string): Promise<{ uid: number; messageId: string; flags: string[] }[]> {
  return withImap(auth, async (c) => {
    const list = await c.list();
    if (!list.some((m) => m.path === path)) return [];
    const lock = await c.getMailboxLock(path);
    try {
      const out: { uid: number; messageId: string; flags: string[] }[] = [];
      if (!c.mailbox || c.mailbox.exists === 0) return out;
      for await (const m of c.fetch('1:*', { uid: true, envelope: true, flags: true })) out.push({ uid: m.uid, messageId: m.envelope?.messageId ?? '', flags: [...(m.flags ?? [])].sort() });
      return out;
    } finally {
      lock.release();
    }
  });
}

let seq = 0;
const id = (tag: string) => `<${tag}-${Date.now().toString(36)}-${++seq}@mail.example.org>`;
const date = 'Tue, 05 Nov 2024 10:15:00 +0300';

function inquiry(messageId: string, subject = 'Запрос цены на монтаж кондиционера'): string {
  return `From: Ivan Petrov <ivan@example.org>
To: zayavki@example.test
Subject: ${subject}
Date: ${date}
Message-ID: ${messageId}
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Здравствуйте! Сколько стоит монтаж кондиционера в квартире?

-- 
Иван Петров
моб. +7 912 345-67-89
`;
}

function reply(messageId: string, root: string): string {
  return `From: Ivan Petrov <ivan@example.org>
To: zayavki@example.test
Subject: Re: Запрос цены на монтаж кондиционера
Date: ${date}
Message-ID: ${messageId}
In-Reply-To: ${root}
References: ${root}
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Цена устраивает, давайте в четверг.

On Tue, 5 Nov 2024, Acme <zayavki@example.test> wrote:
> Монтаж стоит 9 000 рублей.
`;
}

function autoReply(messageId: string): string {
  return `From: Ivan Petrov <ivan@example.org>
To: zayavki@example.test
Subject: Автоответ: Re: Ваша заявка
Date: ${date}
Message-ID: ${messageId}
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Я в отпуске до 20 ноября. Телефон для срочных вопросов +7 912 000-00-01.
`;
}

function bounce(messageId: string): string {
  return `From: Mail Delivery System <MAILER-DAEMON@mx.example.org>
To: zayavki@example.test
Subject: Undelivered Mail Returned to Sender
Date: ${date}
Message-ID: ${messageId}
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="dsn_b"

--dsn_b
Content-Type: text/plain; charset=us-ascii

I'm sorry to have to inform you that your message could not be delivered.

--dsn_b
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.org

Final-Recipient: rfc822; nobody@example.org
Action: failed
Status: 5.1.1

--dsn_b--
`;
}

interface Received {
  to: string[];
  mail: ParsedMail;
  raw: Buffer;
}

async function startSmtp(): Promise<{ port: number; received: Received[]; close(): Promise<void> }> {
  const received: Received[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, session, cb) {
      // Read the envelope now: smtp-server resets it for the next message once `cb` is called.
      const to = session.envelope.rcptTo.map((r) => r.address);
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks);
        void simpleParser(raw).then((mail) => received.push({ to, mail, raw }));
        cb();
      });
    },
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return { port, received, close: () => new Promise<void>((r) => server.close(() => r())) };
}

describe.skipIf(unavailable !== undefined)(`e-mail → hub → CRM end to end (Dovecot on 127.0.0.1:${IMAP_PORT})`, () => {
  let amo: RunningAmoEmulator | undefined;
  let crm: EmulatedCrm | undefined;
  let smtp: Awaited<ReturnType<typeof startSmtp>>;
  let h: Harness;
  let workers: RunningWorkers | undefined;
  let runners: PollRunner[] = [];
  let box: { user: string; pass: string };

  afterEach(async () => {
    for (const r of runners) await r.close();
    runners = [];
    await workers?.close();
    workers = undefined;
    await h?.close();
    await amo?.close();
    await crm?.close();
    await smtp?.close();
    amo = undefined;
    crm = undefined;
  });

  async function setup(o: { imap?: Record<string, unknown>; crm?: 'bitrix24'; workers?: boolean; password?: string } = {}) {
    box = await newMailbox();
    smtp = await startSmtp();
    let account: Record<string, unknown>;
    let env: Record<string, string> = { E2E_IMAP_PASS: o.password ?? box.pass };
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
      workers: false,
      config: {
        mail: { smtp: { host: '127.0.0.1', port: smtp.port, secure: false }, from: 'Acme <zayavki@example.test>', adminTo: 'admin@example.test', autoAck: true },
        crm: [account],
        sources: [
          {
            id: 'mailbox',
            connector: 'email',
            name: 'Почта zayavki@',
            settings: {
              address: box.user,
              ownAddresses: ['zayavki@example.test'],
              pollEveryMs: 5_000,
              imap: { host: '127.0.0.1', port: IMAP_PORT, secure: false, user: box.user, passwordEnv: 'E2E_IMAP_PASS', ...o.imap },
            },
          },
        ],
      },
      env,
    });
    if (o.workers !== false) workers = await startHarnessWorkers();
  }

  const startHarnessWorkers = () => startWorkers({ config: h.config, redisUrl: h.redisUrl, log: silent, env: { ...process.env } });
  const pollCounts = async (): Promise<Record<string, number>> => {
    const raw = await h.redis.hgetall(pollKeys(makeKeys(h.prefix)).counter);
    return Object.fromEntries(Object.entries(raw).map(([k, v]) => [k.replace(/^mailbox:/, ''), Number(v)]));
  };
  const ignored = async () => h.redis.hgetall(makeKeys(h.prefix).counter('ignored'));
  const commonNotes = () => [...amo!.state.notes.values()].filter((n) => n.note_type === 'common').map((n) => ({ leadId: n.entity_id, text: String(n.params.text ?? '') }));
  const checkpoint = async () => JSON.parse((await h.redis.hget(pollKeys(makeKeys(h.prefix)).state('mailbox'), 'checkpoint:INBOX')) ?? 'null') as { uidValidity: string; lastUid: number } | null;
  const waitFor = (fn: () => unknown | Promise<unknown>, timeout = 20_000) => vi.waitFor(fn, { timeout, interval: 100 });

  it('inquiry → one lead (subject as title, phone from the signature) + auto-ack; a reply → note on it; auto-reply and bounce → no lead, no ack', async () => {
    await setup();
    const root = id('inquiry');
    await append(box, inquiry(root));
    await waitFor(() => expect(amo!.state.counts().leads).toBe(1));
    await h.drain();
    const lead = [...amo!.state.leads.values()][0]!;
    expect(lead.name).toBe('Запрос цены на монтаж кондиционера');
    const contact = [...amo!.state.contacts.values()][0]!;
    expect(JSON.stringify(contact.custom_fields_values)).toContain('+7 (912) 345-67-89');
    expect(JSON.stringify(contact.custom_fields_values)).toContain('ivan@example.org');

    // The acknowledgement: to the sender, with the lead number, threaded, marked as an auto-reply of ours.
    await waitFor(() => expect(smtp.received).toHaveLength(1));
    const ack = smtp.received[0]!;
    expect(ack.to).toEqual(['ivan@example.org']);
    expect(ack.mail.subject).toContain(String(lead.id));
    expect(ack.mail.text).toContain(String(lead.id));
    expect(ack.mail.inReplyTo).toBe(root);
    expect(ack.mail.headers.get('auto-submitted')).toBe('auto-replied');
    expect(ack.mail.headers.get('x-leadgate-loop')).toBe('auto-ack');

    await append(box, reply(id('reply'), root));
    await append(box, autoReply(id('ooo')));
    await append(box, bounce(id('dsn')));
    await waitFor(async () => expect(await pollCounts()).toMatchObject({ stored: 4 }));
    await h.drain();
    await waitFor(async () => expect(await ignored()).toEqual({ 'mailbox:robot-mail:auto-submitted': '1', 'mailbox:robot-mail:delivery-status': '1' }));
    expect(amo!.state.counts().leads).toBe(1);
    const onLead = commonNotes().filter((n) => n.leadId === lead.id);
    expect(onLead.some((n) => n.text.includes('Цена устраивает, давайте в четверг.') && !n.text.includes('9 000'))).toBe(true);
    // Our own acknowledgement coming back into the mailbox (a copy, a forward) is ours: no lead, no second ack.
    await append(box, ack.raw.toString('utf8'));
    await waitFor(async () => expect(await pollCounts()).toMatchObject({ stored: 5 }));
    await h.drain();
    await new Promise((r) => setTimeout(r, 300));
    expect(amo!.state.counts().leads).toBe(1);
    expect(smtp.received).toHaveLength(1); // no acknowledgement to robots, to replies or to ourselves
    // Handled mail left the inbox for Processed, with our keyword.
    expect(await folder(box, 'INBOX')).toEqual([]);
    const processed = await folder(box, 'Processed');
    expect(processed).toHaveLength(5);
    expect(processed.every((m) => m.flags.includes('$LeadgateProcessed'))).toBe(true);
  }, 60_000);

  it('a reply whose References root we never saw finds the lead through another id, and binds that root to it', async () => {
    await setup();
    const root = id('inquiry');
    await append(box, inquiry(root));
    await waitFor(() => expect(amo!.state.counts().leads).toBe(1));
    await h.drain();
    // A manager answered from the CRM's own mailer (we never saw that mail); the customer replies to it, citing both.
    const crmMail = id('crm-out');
    await append(box, reply(id('r1'), crmMail).replace(`References: ${crmMail}`, `References: ${crmMail} ${root}`));
    await waitFor(async () => expect(await pollCounts()).toMatchObject({ stored: 2 }));
    await h.drain();
    // A later reply citing only the CRM mail now lands on the same lead too.
    await append(box, reply(id('r2'), crmMail).replace('Цена устраивает, давайте в четверг.', 'Подтверждаю четверг, 10:00.'));
    await waitFor(async () => expect(await pollCounts()).toMatchObject({ stored: 3 }));
    await h.drain();
    expect(amo!.state.counts().leads).toBe(1);
    const lead = [...amo!.state.leads.values()][0]!;
    const texts = commonNotes().filter((n) => n.leadId === lead.id).map((n) => n.text);
    expect(texts.filter((t) => t.includes('давайте в четверг'))).toHaveLength(1);
    expect(texts.filter((t) => t.includes('Подтверждаю четверг, 10:00.'))).toHaveLength(1);
  }, 60_000);

  it('a poller restart reads nothing twice (UID checkpoint); a changed UIDVALIDITY rescans without duplicates', async () => {
    await setup({ imap: { processedMailbox: '' } }); // flag mode: handled mail stays in INBOX
    await append(box, inquiry(id('a'), 'Первая заявка'));
    await append(box, inquiry(id('b'), 'Вторая заявка').replace('ivan@example.org', 'olga@example.org').replace('+7 912 345-67-89', '+7 913 111-22-33'));
    await waitFor(async () => expect(await pollCounts()).toMatchObject({ fetched: 2, stored: 2 }));
    await h.drain();
    expect(await checkpoint()).toMatchObject({ lastUid: 2 });
    const inbox = await folder(box, 'INBOX');
    expect(inbox.map((m) => m.flags)).toEqual([
      ['$LeadgateProcessed', '\\Seen'],
      ['$LeadgateProcessed', '\\Seen'],
    ]);

    await workers!.close();
    workers = await startHarnessWorkers();
    await append(box, inquiry(id('c'), 'Третья заявка').replace('ivan@example.org', 'petr@example.org').replace('+7 912 345-67-89', '+7 914 222-33-44'));
    await waitFor(async () => expect(await pollCounts()).toMatchObject({ stored: 3 }));
    expect(await pollCounts()).toMatchObject({ fetched: 3, stored: 3 });
    expect((await pollCounts()).duplicate ?? 0).toBe(0);
    await h.drain();
    expect(amo!.state.counts().leads).toBe(3);

    // The server renumbered the mailbox (UIDVALIDITY changed): everything is looked at again, handled mail skipped.
    await workers!.close();
    const cp = (await checkpoint())!;
    await h.redis.hset(pollKeys(makeKeys(h.prefix)).state('mailbox'), 'checkpoint:INBOX', JSON.stringify({ ...cp, uidValidity: '1' }));
    workers = await startHarnessWorkers();
    await waitFor(async () => expect((await checkpoint())?.uidValidity).toBe(cp.uidValidity));
    await waitFor(async () => expect(await checkpoint()).toEqual({ uidValidity: cp.uidValidity, lastUid: 3 }));
    expect(await pollCounts()).toMatchObject({ fetched: 3, stored: 3 });
    await h.drain();
    expect(amo!.state.counts().leads).toBe(3);
    expect(smtp.received.filter((r) => r.to[0] !== 'admin@example.test')).toHaveLength(3);
  }, 60_000);

  it('marks or moves a message only after the intake store has it', async () => {
    await setup({ workers: false });
    let open = false;
    let attempts = 0;
    const conn = new Redis(h.redisUrl, { maxRetriesPerRequest: null });
    const queue = new Queue(QUEUE_INTAKE, { connection: conn, prefix: h.prefix });
    const real = createIntakeStore({ queue, redis: conn, keys: makeKeys(h.prefix), ttlSec: 3600, timeoutMs: 5_000 });
    const gated: IntakeStore = {
      put: async (ev) => {
        attempts++;
        if (!open) throw new IntakeUnavailableError('Redis is down (test)');
        return real.put(ev);
      },
      ping: () => real.ping(),
    };
    const runner = startPollRunner({ config: h.config, redisUrl: h.redisUrl, log: silent, keys: makeKeys(h.prefix), env: { ...process.env }, intake: gated });
    runners.push(runner);
    try {
      const mid = id('gated');
      await append(box, inquiry(mid));
      await waitFor(() => expect(attempts).toBeGreaterThanOrEqual(2));
      // Still in INBOX, untouched, and the checkpoint has not moved past it.
      expect(await folder(box, 'INBOX')).toEqual([{ uid: 1, messageId: mid, flags: [] }]);
      expect(await folder(box, 'Processed')).toEqual([]);
      expect(await checkpoint()).toMatchObject({ lastUid: 0 });
      open = true;
      await waitFor(async () => expect(await folder(box, 'Processed')).toHaveLength(1), 30_000);
      expect(await folder(box, 'INBOX')).toEqual([]);
      expect(await checkpoint()).toMatchObject({ lastUid: 1 });
      expect(await queue.getJobCounts('waiting')).toEqual({ waiting: 1 });
    } finally {
      await runner.close();
      runners = [];
      await queue.close();
      conn.disconnect();
    }
  }, 60_000);

  it('two worker processes never poll one mailbox at once; the other takes over when the holder stops', async () => {
    await setup({ workers: false });
    const mk = () => startPollRunner({ config: h.config, redisUrl: h.redisUrl, log: silent, keys: makeKeys(h.prefix), env: { ...process.env }, leaseMs: 1_500 });
    const a = mk();
    const b = mk();
    runners.push(a, b);
    await waitFor(() => expect([...a.active(), ...b.active()]).toEqual(['mailbox']));
    for (let i = 0; i < 5; i++) {
      await new Promise((r) => setTimeout(r, 200));
      expect(a.active().length + b.active().length).toBe(1);
    }
    const [holder, other] = a.active().length ? [a, b] : [b, a];
    await append(box, inquiry(id('lease-1')));
    await waitFor(async () => expect(await pollCounts()).toMatchObject({ stored: 1 }));
    await holder.close();
    await waitFor(() => expect(other.active()).toEqual(['mailbox']), 10_000);
    await append(box, inquiry(id('lease-2'), 'Ещё одна'));
    await waitFor(async () => expect(await pollCounts()).toMatchObject({ stored: 2 }));
    expect((await pollCounts()).duplicate ?? 0).toBe(0);
    expect((await pollCounts()).fetched).toBe(2);
  }, 60_000);

  it('robots go to Junk when junkMailbox is set (still stored and counted as ignored)', async () => {
    await setup({ imap: { junkMailbox: 'Junk' } });
    const dsn = id('dsn');
    const inq = id('inq');
    await append(box, bounce(dsn));
    await append(box, inquiry(inq));
    await waitFor(async () => expect(await pollCounts()).toMatchObject({ stored: 2, 'moved-to-junk': 1 }));
    await h.drain();
    expect((await folder(box, 'Junk')).map((m) => m.messageId)).toEqual([dsn]);
    expect((await folder(box, 'Processed')).map((m) => m.messageId)).toEqual([inq]);
    await waitFor(async () => expect(await ignored()).toEqual({ 'mailbox:robot-mail:delivery-status': '1' }));
    expect(amo!.state.counts().leads).toBe(1);
  }, 60_000);

  it('an unreadable message is stored all the same (and fails visibly in the worker) without blocking the mailbox', async () => {
    await setup();
    await append(box, 'X-Garbage: yes\n\nnot a mail at all\n');
    const inq = id('after-garbage');
    await append(box, inquiry(inq));
    await waitFor(async () => expect(await pollCounts()).toMatchObject({ stored: 2 }));
    await h.drain();
    expect(amo!.state.counts().leads).toBe(1);
    expect((await h.counts())[QUEUE_INTAKE]).toMatchObject({ failed: 1 });
    expect(await folder(box, 'INBOX')).toEqual([]);
  }, 60_000);

  it('a mailbox that cannot log in is reported to the admin, once', async () => {
    await setup({ password: 'wrong-password' });
    await waitFor(() => expect(smtp.received.filter((r) => r.to.includes('admin@example.test'))).toHaveLength(1), 20_000);
    const alert = smtp.received.find((r) => r.to.includes('admin@example.test'))!;
    expect(alert.mail.subject).toContain('mailbox cannot log in');
    expect(alert.mail.text).toContain('E2E_IMAP_PASS');
    expect(alert.mail.headers.get('auto-submitted')).toBe('auto-generated');
    expect(await pollCounts()).toMatchObject({ 'login-failed': 1 });
  }, 60_000);

  it('into Bitrix24: the inquiry opens a lead, the reply is a timeline comment on it', async () => {
    await setup({ crm: 'bitrix24' });
    const root = id('b24');
    await append(box, inquiry(root));
    await waitFor(() => expect(crm!.counts().leads).toBe(1));
    await h.drain();
    await append(box, reply(id('b24-reply'), root));
    await waitFor(async () => expect(await pollCounts()).toMatchObject({ stored: 2 }));
    await h.drain();
    const c = crm!.counts();
    expect(c.leads).toBe(1);
    expect(c.contacts).toBe(1);
    expect(c.notes).toBeGreaterThanOrEqual(2);
    expect(crm!.leadText()).toContain('Запрос цены на монтаж кондиционера');
  }, 60_000);
});
