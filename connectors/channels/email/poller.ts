/**
 * The IMAP poller (imapflow), run by the hub's poll runner in a worker process that holds this mailbox's lease.
 * forms-telegram-email.md §C1, rule by rule:
 * - one client per mailbox; a new `ImapFlow` after every close (an instance is single-use); `error` handled;
 * - commands only under `getMailboxLock`, released in `finally`; nothing is sent inside the `fetch` iterator:
 *   the batch is collected first, then stored and marked;
 * - IDLE between rounds (auto-IDLE 1 s after the last command, re-issued every `maxIdleTimeMs`), an `exists` event
 *   starts the next round at once, a timer every `pollEveryMs` is the safety net; reconnect with backoff;
 * - a checkpoint `{uidValidity, lastUid}` per mailbox in Redis: a restart reads nothing twice and skips nothing;
 *   a changed UIDVALIDITY → rescan of the messages without our keyword, deduped by Message-ID (the event id);
 * - per message: RFC 822 bytes → `io.put` (durable, idempotent); only after it succeeds → keyword (+ `\Seen`) or
 *   move to `processedMailbox` (robots to `junkMailbox` when set); then the checkpoint moves past it.
 */
import { ImapFlow, type FetchMessageObject, type ImapFlowOptions } from 'imapflow';
import type { PollIO, RawEvent } from '#sdk';
import { withTimeout } from '#sdk';
import { decodeMail } from './decode.ts';
import { robotVerdict } from './normalise.ts';
import { MailPayloadSchema } from './payload.ts';
import type { EmailSettings, ImapSettings } from './settings.ts';

/** Longest wait for connect + login. @defaultValue 30 000 ms */
const CONNECT_TIMEOUT_MS = 30_000;
/** Longest one round (search, fetch, store, mark) may take before the connection is dropped (imapflow #252). */
const ROUND_TIMEOUT_MS = 5 * 60_000;
/** How long a stop waits for the message in hand to be marked before closing the connection anyway. */
const STOP_GRACE_MS = 10_000;
/** After a failed login: do not hammer the server (and do not get the account locked). */
const LOGIN_RETRY_MS = 5 * 60_000;

export interface Checkpoint {
  /** A BigInt on the wire: kept as a string. */
  uidValidity: string;
  lastUid: number;
  /** A first read or a rescan in progress: only UIDs ≤ `until`, only without our keyword, only unseen if asked. */
  scan?: { until: number; unseenOnly: boolean };
}

export function imapLeaseKey(s: EmailSettings): string | undefined {
  const i = s.imap;
  return i ? `imap://${encodeURIComponent(i.user.toLowerCase())}@${i.host.toLowerCase()}:${i.port}/${i.mailbox}` : undefined;
}

export function parseCheckpoint(v: string | null): Checkpoint | undefined {
  if (!v) return undefined;
  try {
    const c = JSON.parse(v) as Partial<Checkpoint>;
    if (typeof c.uidValidity === 'string' && typeof c.lastUid === 'number') return c as Checkpoint;
  } catch {
    // fall through: an unreadable checkpoint is treated as none (a rescan deduped by Message-ID)
  }
  return undefined;
}

/** A put that failed: nothing was marked, the checkpoint did not move; the round is retried. */
class PutFailedError extends Error {}

export interface ImapPollerDeps {
  /** Builds the client (tests pass options through). */
  createClient?: (o: ImapFlowOptions) => ImapFlow;
  now?: () => Date;
}

export async function runImapPoller(settings: EmailSettings, io: PollIO, deps: ImapPollerDeps = {}): Promise<void> {
  const imap = settings.imap;
  if (!imap) return;
  const log = io.log.child({ mailbox: imap.mailbox });
  const pass = io.env[imap.passwordEnv];
  if (!pass) {
    log.error(`settings.imap.passwordEnv: ${imap.passwordEnv} is empty; the mailbox is not read until it is set`);
    io.alert('password', 'mailbox password not set', `settings.imap.passwordEnv names ${imap.passwordEnv}, which is empty in the worker's environment. Set it and restart the workers.`);
    await sleep(2 ** 31 - 1, io.signal); // until the process stops; nothing to do without a password
    return;
  }
  const create = deps.createClient ?? ((o: ImapFlowOptions) => new ImapFlow(o));
  let failures = 0;
  while (!io.signal.aborted) {
    const client = create({
      host: imap.host,
      port: imap.port,
      secure: imap.secure,
      auth: { user: imap.user, pass },
      logger: false,
      maxIdleTime: imap.maxIdleTimeMs,
      autoIdleDelay: 1_000,
      connectionTimeout: 20_000,
      greetingTimeout: 15_000,
    });
    const started = Date.now();
    let loginFailed = false;
    try {
      await session(client, settings, imap, io, log, deps.now ?? (() => new Date()));
    } catch (err) {
      const e = err as Error & { authenticationFailed?: boolean; responseText?: string };
      if (e.authenticationFailed) {
        loginFailed = true;
        io.count('login-failed');
        log.error({ err: e.responseText ?? e.message }, 'mailbox login failed');
        io.alert('login', 'mailbox cannot log in', `Login as ${imap.user} at ${imap.host}:${imap.port} failed: ${e.responseText ?? e.message}.\nCheck the password in ${imap.passwordEnv} (an app password for Yandex/Mail.ru/Gmail) and that IMAP is enabled for the mailbox.`);
      } else if (!io.signal.aborted) {
        log.warn({ err: e.message }, 'IMAP session ended');
      }
    } finally {
      client.close();
    }
    if (io.signal.aborted) break;
    io.count('reconnects');
    failures = Date.now() - started > 60_000 ? 1 : failures + 1;
    const waitMs = loginFailed ? LOGIN_RETRY_MS : Math.min(60_000, 500 * 2 ** Math.min(failures, 7)) * (0.75 + Math.random() / 2);
    await sleep(waitMs, io.signal);
  }
}

async function session(client: ImapFlow, settings: EmailSettings, imap: ImapSettings, io: PollIO, log: PollIO['log'], now: () => Date): Promise<void> {
  let due = true;
  let kick: () => void = () => undefined;
  // Attached before connect: an unhandled 'error' event would take the worker process down.
  client.on('error', (err: Error) => log.warn({ err: err.message }, 'IMAP connection error'));
  client.on('close', () => kick());
  client.on('exists', (ev: { path: string }) => {
    if (ev.path !== imap.mailbox) return;
    due = true;
    kick();
  });
  // Stopping waits for a round in progress (bounded by ROUND_TIMEOUT_MS): a message already stored is then also
  // marked handled, so the process that takes the mailbox over does not fetch it again.
  let inRound = false;
  const onAbort = (): void => {
    kick();
    if (!inRound) client.close();
    // A round stuck on a silent server must not hold the shutdown for ROUND_TIMEOUT_MS.
    else setTimeout(() => client.close(), STOP_GRACE_MS).unref();
  };
  io.signal.addEventListener('abort', onAbort, { once: true });
  try {
    await withTimeout(client.connect(), CONNECT_TIMEOUT_MS, 'IMAP connect');
    log.info('IMAP connected');
    await ensureMailboxes(client, imap);
    let retryMs = 0;
    while (!io.signal.aborted && client.usable) {
      if (due) {
        due = false;
        inRound = true;
        try {
          due = await withTimeout(round(client, settings, imap, io, log, now), ROUND_TIMEOUT_MS, 'IMAP round');
          retryMs = 0;
        } catch (err) {
          if (!(err instanceof PutFailedError)) throw err; // IMAP trouble: reconnect with a fresh client
          retryMs = Math.min(60_000, Math.max(1_000, retryMs * 2));
          log.warn({ err: err.message, retryMs }, 'intake store unavailable: nothing marked, trying again');
        } finally {
          inRound = false;
        }
        if (due) continue;
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          due = true;
          done();
        }, retryMs || settings.pollEveryMs);
        function done(): void {
          clearTimeout(timer);
          kick = () => undefined;
          resolve();
        }
        kick = done;
        if (io.signal.aborted || !client.usable) done();
      });
    }
  } finally {
    io.signal.removeEventListener('abort', onAbort);
    if (client.usable) await withTimeout(client.logout(), 5_000, 'IMAP logout').catch(() => undefined);
  }
}

async function ensureMailboxes(client: ImapFlow, imap: ImapSettings): Promise<void> {
  const wanted = [imap.processedMailbox, imap.junkMailbox].filter((m) => m !== '' && m !== imap.mailbox);
  if (!wanted.length) return;
  const existing = new Set((await client.list()).map((m) => m.path));
  for (const m of wanted) if (!existing.has(m)) await client.mailboxCreate(m);
}

/** One round under the mailbox lock. Returns true when more messages wait (the next round starts at once). */
async function round(client: ImapFlow, settings: EmailSettings, imap: ImapSettings, io: PollIO, log: PollIO['log'], now: () => Date): Promise<boolean> {
  const cpKey = `checkpoint:${imap.mailbox}`;
  const lock = await client.getMailboxLock(imap.mailbox);
  try {
    const mb = client.mailbox;
    if (!mb) throw new Error(`mailbox ${imap.mailbox} is not selected`);
    const uidValidity = String(mb.uidValidity);
    let cp = parseCheckpoint(await io.state.get(cpKey));
    if (!cp || cp.uidValidity !== uidValidity) {
      const until = Math.max(0, (mb.uidNext ?? 1) - 1);
      if (cp) log.warn({ was: cp.uidValidity, now: uidValidity }, 'UIDVALIDITY changed: rescanning the mailbox (messages we handled carry our keyword; Message-IDs dedupe the rest)');
      cp = !cp && imap.initialScan === 'none' ? { uidValidity, lastUid: until } : { uidValidity, lastUid: 0, scan: { until, unseenOnly: !cp && imap.initialScan === 'unseen' } };
      await io.state.set(cpKey, JSON.stringify(cp));
    }

    let uids: number[] = [];
    if (cp.scan) {
      const { until, unseenOnly } = cp.scan;
      if (until > cp.lastUid) {
        const found = await client.search({ uid: `${cp.lastUid + 1}:${until}`, unKeyword: imap.processedKeyword, ...(unseenOnly ? { seen: false } : {}) }, { uid: true });
        uids = (found || []).filter((u) => u > cp!.lastUid && u <= until);
      }
      if (uids.length === 0) {
        cp = { uidValidity, lastUid: Math.max(cp.lastUid, until) };
        await io.state.set(cpKey, JSON.stringify(cp));
      }
    }
    if (!cp.scan) {
      const lastUid = cp.lastUid;
      // `N:*` always includes the highest UID, even when it is ≤ N: filter.
      uids = ((await client.search({ uid: `${lastUid + 1}:*` }, { uid: true })) || []).filter((u) => u > lastUid);
    }
    uids.sort((a, b) => a - b);
    if (uids.length === 0) return false;
    const batch = uids.slice(0, imap.batchSize);

    // Collect first: no command may run inside the fetch iterator (imapflow #110, #159).
    const messages: FetchMessageObject[] = [];
    for await (const m of client.fetch(batch.join(','), { uid: true, source: true }, { uid: true })) messages.push(m);
    messages.sort((a, b) => a.uid - b.uid);
    io.count('fetched', messages.length);

    for (const m of messages) {
      if (io.signal.aborted) break; // stopping: finish the message in hand, leave the rest to the next holder
      if (!m.source) continue;
      const raw: RawEvent = { method: 'POLL', subPath: '', headers: { 'content-type': 'message/rfc822' }, query: {}, body: m.source, receivedAt: now() };
      let result: 'accepted' | 'duplicate';
      try {
        result = await io.put(raw);
      } catch (err) {
        throw new PutFailedError((err as Error).message);
      }
      io.count(result === 'accepted' ? 'stored' : 'duplicate');
      const robot = imap.junkMailbox ? await isRobot(raw, settings) : false;
      await markHandled(client, m.uid, imap, robot);
      if (robot) io.count('moved-to-junk');
      cp = { ...cp, lastUid: m.uid };
      await io.state.set(cpKey, JSON.stringify(cp));
    }
    log.debug({ handled: messages.length }, 'IMAP round');
    return uids.length > batch.length;
  } finally {
    lock.release();
  }
}

/** After the put: our keyword always (a rescan skips it); then `\Seen` in place, or a move to Processed/Junk. */
async function markHandled(client: ImapFlow, uid: number, imap: ImapSettings, robot: boolean): Promise<void> {
  const range = String(uid);
  const dest = robot && imap.junkMailbox ? imap.junkMailbox : imap.processedMailbox;
  const moving = dest !== '' && dest !== imap.mailbox;
  await client.messageFlagsAdd(range, moving ? [imap.processedKeyword] : ['\\Seen', imap.processedKeyword], { uid: true });
  if (moving) await client.messageMove(range, dest, { uid: true });
}

async function isRobot(raw: RawEvent, settings: EmailSettings): Promise<boolean> {
  try {
    return robotVerdict(MailPayloadSchema.parse(await decodeMail(raw)), settings).robot;
  } catch {
    return false; // unreadable mail is not filed as junk: the intake worker reports it
  }
}


function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, Math.min(ms, 2 ** 31 - 1));
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
