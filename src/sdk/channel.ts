import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { ZodType } from 'zod';
import type { CountryCode } from '../domain/phone.ts';
import type { Outcome, SourceRef } from './lead.ts';
import type { CallerInfo, HttpClient } from './crm.ts';

/** The exact request as it reached the gateway (or a poller). Never re-serialised. */
export interface RawEvent {
  method: string;
  /** Path below `/hooks/<channel>/<sourceId>`, e.g. `/events/call` for Mango; `''` when none. */
  subPath: string;
  /** Lower-cased header names. */
  headers: Readonly<Record<string, string>>;
  query: Readonly<Record<string, string>>;
  body: Buffer;
  receivedAt: Date;
  /** Client IP as seen by the gateway (behind a trusted proxy: X-Forwarded-For). */
  ip?: string;
}

export type VerifyResult = { ok: true; detail?: string } | { ok: false; reason: string; status?: 401 | 403 };

/** What the sender must get back besides a plain 200. */
export interface IntakeReply {
  status: number;
  contentType?: string;
  /** Extra headers, e.g. `Location` for a 303 back to the site's thank-you page. */
  headers?: Record<string, string>;
  body: string;
}

/**
 * How the gateway treats a decoded, validated request:
 * - `event`: enqueue durably, then answer `reply` (or 200 `{"ok":true}`);
 * - `handshake`: a vendor check (Tilda `test=test`, Zadarma `zd_echo`, Mango `/ping`): answer, enqueue nothing.
 *
 * `respond` is a synchronous answer the sender waits for (Zadarma's "who takes this call" reply to
 * `NOTIFY_START`). The gateway runs it only after the event is durably stored, and sends `reply` (the
 * default scenario) instead when it rejects, resolves null or misses `deadlineMs` (counted from receipt).
 */
export type IntakeDecision =
  | {
      kind: 'event';
      reply?: IntakeReply;
      respond?: () => Promise<IntakeReply | null>;
      /** Budget for `respond`, ms from the moment the request arrived. @defaultValue 1000 */
      deadlineMs?: number;
    }
  | { kind: 'handshake'; reply: IntakeReply }
  /**
   * A synchronous question that is not an event (a PBX asking "who takes this caller" before ringing): nothing is
   * stored; the gateway answers `respond`'s reply, or `reply` when it rejects, resolves null or misses `deadlineMs`.
   */
  | { kind: 'query'; reply: IntakeReply; respond: () => Promise<IntakeReply | null>; deadlineMs?: number };

/** Caller-ID as the hub answers it: the CRM's facts plus the responsible manager's PBX extension (config). */
export interface CallerLookup extends CallerInfo {
  /** Extension of the responsible manager, from `crm[].extensions` in the config. */
  extension?: string;
}

/** What `decide` may use besides the payload. Absent offline (`leadgate normalise`, contract tests). */
export interface DecideContext<Settings> {
  settings: Settings;
  source: SourceRef;
  /** Region for numbers written without a country code. */
  defaultRegion: CountryCode;
  /** Caller-ID through the hub's Redis cache (the CRM on a miss). null = unknown caller; rejects on CRM failure. */
  lookupCaller(phoneE164: string): Promise<CallerLookup | null>;
}

/** A provider's handle on a recording (Mango `recording_id`, Zadarma `call_id_with_rec`). */
export interface RecordingRef {
  recordingId: string;
  providerCallId: string;
}

/** What a connector gets to ask its provider's API for a recording: the hub's client, never its own. */
export interface RecordingIO<Settings> {
  /** Never follows redirects; throws HttpError for non-2xx (a 302's `location` is in `err.headers`). */
  http: HttpClient;
  settings: Settings;
  /** The source's secret (Mango salt, Zadarma API secret). */
  secret: string | undefined;
  /** Reads an environment variable named in the settings (`apiKeyEnv`). */
  env(name: string): string | undefined;
  now(): Date;
}

/**
 * Where a recording is right now. `ready.url` is fresh and may be one-shot or short-lived: the hub streams it
 * on demand and never stores it. `pending`: the provider is still saving the file (ask again later).
 */
export type RecordingLocation =
  | { kind: 'ready'; url: string; /** ISO; absent = unknown */ expiresAt?: string; /** true when the link dies after one download (Mango) */ oneShot?: boolean }
  | { kind: 'pending'; retryAfterMs: number; reason: string }
  | { kind: 'gone'; reason: string };

export interface VerifyContext<Settings> {
  settings: Settings;
  /** The source's secret, resolved from env. Undefined only when the source has none configured. */
  secret: string | undefined;
  now: Date;
}

export interface NormaliseContext<Settings> {
  source: SourceRef;
  settings: Settings;
  receivedAt: Date;
  /** Region for numbers written without a country code. */
  defaultRegion: CountryCode;
  /** The request the payload came from (for IP, user agent, sub-path). */
  raw: RawEvent;
}

export type ChannelKind = 'form' | 'telephony' | 'messenger' | 'email';

export interface ChannelConnector<Payload = unknown, Settings = unknown> {
  /** kebab-case; equals the folder name, the URL segment and the log label. */
  id: string;
  kind: ChannelKind;
  /** Human name for logs, docs and the CRM source name. */
  title: string;
  /** Per-source settings (field-name maps, which form ids to accept…). Secrets are named by env var, never inline. */
  settings: ZodType<Settings>;
  /**
   * `webhook`: arrives at `POST|GET /hooks/<id>/<sourceId>[/*]`. `poll`: a poller feeds RawEvents (IMAP).
   * `secret`: where the generic check looks when the connector has no `verify` of its own.
   */
  intake: { mode: 'webhook' | 'poll'; methods?: readonly ('GET' | 'POST')[] };
  /** When true, a source without a secret is a start-up error (signed providers). */
  requiresSecret?: boolean;
  /**
   * Vendor-specific authentication over the raw bytes (Mango sign, Zadarma Signature, Telegram header).
   * Pure; must fail closed when `ctx.secret` is set. Without it the gateway checks the generic
   * `X-Leadgate-Secret` header or `?secret=` query.
   */
  verify?(e: RawEvent, ctx: VerifyContext<Settings>): VerifyResult;
  /** Bytes → JS value (JSON, urlencoded with bracket keys, JSON inside a form field). Throws InputError. */
  decode(e: RawEvent): unknown | Promise<unknown>;
  /** Validates the decoded value; a failure becomes a 4xx naming the field. */
  payload: ZodType<Payload>;
  /** The sender's stable id for this delivery (idempotency key); undefined → hash of the body. */
  eventId(p: Payload, e: RawEvent): string | undefined;
  /** Handshakes and vendor-specific acknowledgements. Default: event + 200 `{"ok":true}`. */
  decide?(p: Payload, e: RawEvent, ctx?: DecideContext<Settings>): IntakeDecision;
  /** Recordings that need the provider's API to fetch (a handle instead of a URL in the call event). */
  recordings?: {
    /** Asks the provider for a fresh link. Throws HttpError on transport failures (the hub retries). */
    resolve(ref: RecordingRef, io: RecordingIO<Settings>): Promise<RecordingLocation>;
  };
  /** Pure: payload → outcomes. Runs in the worker from the stored raw event, so it can be replayed. */
  normalise(p: Payload, ctx: NormaliseContext<Settings>): Outcome[];
  /**
   * Talks back to the sender after the event's outcomes are enqueued (Telegram: greeting and phone button).
   * Runs in the intake worker, never at the gateway; at most once per stored event (a Redis marker), retried
   * on failure. Not to be confused with `IntakeDecision.respond`, the synchronous HTTP answer at the gateway.
   * Throw {@link RespondError} to say whether a retry can help.
   */
  respond?(p: Payload, ctx: RespondContext<Settings>): Promise<void>;
  /** For `intake.mode: 'poll'`: what the worker's poll runner starts, one process per {@link PollerSpec.leaseKey}. */
  poller?: PollerSpec<Settings>;
  /**
   * Files the connector put into attachments as `ref` (Telegram `file_id`): the gateway serves them at
   * `<gateway.publicUrl>/files/<channel>/<sourceId>/<ref>?sig=…`, so a CRM note links them without a vendor secret.
   */
  files?: {
    /** Opens one file; null when the vendor does not know the ref. Throws on transport failures (answered 502). */
    open(ref: string, ctx: FileContext<Settings>): Promise<OpenedFile | null>;
  };
}

/** Identity helper that keeps literal types and checks the object against the contract. */
export function defineChannel<Payload, Settings>(c: ChannelConnector<Payload, Settings>): ChannelConnector<Payload, Settings> {
  return c;
}

/** What a connector's `respond` may use. */
export interface RespondContext<Settings> {
  source: SourceRef;
  settings: Settings;
  /** The process environment: tokens are named in the settings (`tokenEnv`), read here. */
  env: Readonly<Record<string, string | undefined>>;
  /** Child logger carrying source, event and job. */
  log: Logger;
  /** What `normalise` made of this event (already enqueued for delivery). */
  outcomes: readonly Outcome[];
  raw: RawEvent;
  /** 1 on the first try. */
  attempt: number;
}

/**
 * A failed reply. `permanent` (the user blocked the bot, chat gone): never retried, logged. Otherwise retried
 * with backoff, never sooner than `retryAfterMs` (the vendor's 429 hint).
 */
export class RespondError extends Error {
  readonly permanent: boolean;
  readonly retryAfterMs: number | undefined;
  constructor(message: string, opts: { permanent: boolean; retryAfterMs?: number; cause?: unknown }) {
    super(message, opts.cause !== undefined ? { cause: opts.cause } : undefined);
    this.name = 'RespondError';
    this.permanent = opts.permanent;
    this.retryAfterMs = opts.retryAfterMs;
  }
}

/** What a poller gets from the hub's poll runner: it never opens Redis or a queue itself. */
export interface PollIO {
  log: Logger;
  /** Aborted when the process stops or this process lost the lease: close connections and return. */
  signal: AbortSignal;
  env: Readonly<Record<string, string | undefined>>;
  /**
   * Stores one fetched item durably and once (decode → eventId → the same intake store as the gateway).
   * Resolves only when Redis has it; throws otherwise: then do not mark the item processed at the source.
   */
  put(e: RawEvent): Promise<'accepted' | 'duplicate'>;
  /** Small durable state of this source (checkpoints), kept in Redis. */
  state: { get(key: string): Promise<string | null>; set(key: string, value: string): Promise<void> };
  /** Counters in Redis (`count:poll` hash, `<sourceId>:<name>`). */
  count(name: string, n?: number): void;
  /** Tells the admin (alert mail, at most one per `key` per few hours). Never throws. */
  alert(key: string, subject: string, text: string): void;
}

export interface PollerSpec<Settings> {
  /**
   * What is polled, e.g. `imap://user@host:993/INBOX`: one lease per key across all worker processes, so two
   * workers never poll the same mailbox. undefined → nothing to poll (settings without a mailbox).
   */
  leaseKey(s: Settings): string | undefined;
  /** Runs until `io.signal` aborts, reconnecting by itself; resolves after cleaning up. */
  run(s: Settings, io: PollIO): Promise<void>;
}

export interface FileContext<Settings> {
  source: SourceRef;
  settings: Settings;
  env: Readonly<Record<string, string | undefined>>;
}

export interface OpenedFile {
  body: Readable | Buffer;
  contentType?: string;
  sizeBytes?: number;
  name?: string;
}
