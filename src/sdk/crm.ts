import type { ZodType } from 'zod';
import type { Logger } from 'pino';
import type { CrmFailure } from './errors.ts';
import type { Attachment, CallEvent, Contact, Lead } from './lead.ts';
import type { PhoneFormat } from '../domain/phone.ts';

/** What the hub's HTTP client returns; the connector never builds its own client. */
export interface HttpResponse<T = unknown> {
  status: number;
  headers: Record<string, string>;
  data: T;
}
export interface HttpRequest {
  method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
  /** Absolute URL, or a path joined to the account's base URL. */
  url: string;
  params?: Record<string, string | number | boolean | undefined>;
  data?: unknown;
  /** `json` (default) or `form` (application/x-www-form-urlencoded with PHP bracket keys). */
  encoding?: 'json' | 'form';
  headers?: Record<string, string>;
  /** @defaultValue the account's `timeoutMs` (10 000) */
  timeoutMs?: number;
  /** Do not count against the account's rate limit (OAuth token endpoint on another host). */
  unlimited?: boolean;
}
/**
 * Thrown for any non-2xx answer or transport failure. `status` is undefined for network errors,
 * `code` then holds `ETIMEDOUT`, `ECONNRESET`, `ECONNREFUSED`….
 */
export class HttpError extends Error {
  readonly status: number | undefined;
  readonly code: string | undefined;
  readonly headers: Record<string, string>;
  readonly data: unknown;
  readonly request: { method: string; url: string };
  constructor(opts: { message: string; status?: number; code?: string; headers?: Record<string, string>; data?: unknown; request: { method: string; url: string } }) {
    super(opts.message);
    this.name = 'HttpError';
    this.status = opts.status;
    this.code = opts.code;
    this.headers = opts.headers ?? {};
    this.data = opts.data;
    this.request = opts.request;
  }
}
export interface HttpClient {
  request<T = unknown>(req: HttpRequest): Promise<HttpResponse<T>>;
}

/** Tokens stored durably in Redis per account; rotated refresh tokens are saved before use. */
export interface StoredTokens {
  accessToken: string;
  refreshToken?: string;
  /** Unix ms. */
  expiresAt?: number;
  /** Unix ms the refresh token was issued (amoCRM refresh tokens live 3 months). */
  refreshIssuedAt?: number;
  extra?: Record<string, string>;
}
export interface CredentialStore {
  get(): Promise<StoredTokens | null>;
  put(t: StoredTokens): Promise<void>;
  /** Runs `fn` under a Redis lock for this account so only one process refreshes. */
  withLock<T>(fn: () => Promise<T>): Promise<T>;
}

/** Everything a CRM connector may touch: it never creates its own HTTP client, queue or logger. */
export interface CrmIO {
  http: HttpClient;
  log: Logger;
  credentials: CredentialStore;
  now(): Date;
  /** A small Redis-backed key/value cache for this account (field catalogues, user maps). */
  cache: { get(key: string): Promise<string | null>; set(key: string, value: string, ttlSec: number): Promise<void> };
  /**
   * Cross-delivery batching (absent → every write is its own request; use `coalesced()`, which falls back).
   * Concurrent deliveries to this account hand one item each to `lane`; once the account's shared rate-limit slot
   * is free, everything pending (up to `spec.maxWeight`) goes out in ONE request and each caller gets its own
   * outcome. A lone item goes at once. Items live in memory only while their deliveries wait for them: a crash
   * loses nothing, the journal's `recover` finds a write a crashed batch made.
   */
  coalesce?<I, R>(lane: string, spec: BatchLane<I, R>, item: I): Promise<R>;
}

/** One item's answer inside a batch: its own result, or its own error (it fails that delivery only). */
export type BatchItemOutcome<R> = { ok: true; value: R } | { ok: false; error: unknown };

/**
 * How a vendor's batch endpoint is called. `send` must depend on the account only (never on one delivery): the
 * lane keeps the first spec it is given.
 */
export interface BatchLane<I, R> {
  /** Most weight one request may carry (amoCRM `/leads/complex`: 50 items; Bitrix24 `batch`: 50 commands). */
  maxWeight: number;
  /** Weight of one item (Bitrix24: its command count). @defaultValue 1 */
  weight?(item: I): number;
  /**
   * Sends the items in ONE request (the rate-limit slot is already taken for it) and answers one outcome per item,
   * in order. Throwing fails every item with that error (429, 5xx, timeout: each delivery retries on its own).
   */
  send(items: I[]): Promise<BatchItemOutcome<R>[]>;
}

/** `io.coalesce` when the account batches, else the item alone through the same `send`. */
export async function coalesced<I, R>(io: Pick<CrmIO, 'coalesce'>, lane: string, spec: BatchLane<I, R>, item: I): Promise<R> {
  if (io.coalesce) return io.coalesce(lane, spec, item);
  const [out] = await spec.send([item]);
  if (!out) throw new Error(`batch lane ${lane}: no outcome for the item`);
  if (!out.ok) throw out.error;
  return out.value;
}

/**
 * Runs each write at most once per event. A step's result is saved in Redis before the next step runs,
 * so a retry (or a second worker after a crash) resumes where the first stopped. `recover` is asked
 * when a previous attempt began the step but crashed before saving its result: it looks the write up in
 * the CRM (e.g. a lead created since `intentAt`) instead of writing twice.
 */
export interface StepJournal {
  step<T>(name: string, run: () => Promise<T>, opts?: { recover?: (intentAt: Date) => Promise<T | undefined> }): Promise<T>;
  /** Results saved so far (for receipts and tests). */
  snapshot(): Promise<Record<string, unknown>>;
}

/** A value resolved from a mapping: CRM field target (code, id or name as the catalogue knows it) → value. */
export interface MappedField {
  entity: 'lead' | 'contact';
  target: string;
  value: string;
}

export interface FieldCatalogueEntry {
  /** The key a mapping uses: amoCRM field code or id, Bitrix24 field name (`UTM_SOURCE`, `UF_CRM_…`). */
  key: string;
  entity: 'lead' | 'contact' | 'deal';
  name: string;
  type: string;
  enums?: { id: string; value: string }[];
}

/** Live facts about the CRM account, loaded at start-up and checked against the mapping. */
export interface AccountFacts {
  fields: FieldCatalogueEntry[];
  /** Human problems that must stop start-up (each names the fix). */
  problems: string[];
  /** Warnings for logs and /readyz (token expiring…). */
  warnings: string[];
  /** Free-form facts the connector keeps (pipeline ids, mode, source ids). */
  meta: Record<string, unknown>;
}

export interface FollowUpTask {
  text: string;
  /** ISO time; computed from the event's receive time so a retry produces the same value. */
  dueAt: string;
  /** CRM user id; undefined → the lead's/contact's responsible user. */
  responsibleUserId?: string;
}

/** What the pipeline asks a CRM connector to do with one normalised outcome. */
export type DeliveryTask =
  | {
      kind: 'lead';
      /** Stable key of this delivery (account + event + outcome index). */
      key: string;
      lead: Lead;
      /** What to do when the contact already has an open lead. */
      repeatPolicy: 'note-on-open-lead' | 'always-new';
      /** Where the new lead goes: the CRM's incoming stage (default) or a named pipeline's first stage. */
      placement: { kind: 'incoming' } | { kind: 'pipeline'; pipeline: string };
      fields: MappedField[];
      phoneFormat: PhoneFormat;
      /** The whole inquiry, rendered for a note/comment. */
      noteText: string;
      task: FollowUpTask | null;
      responsibleUserId?: string;
      /**
       * Picks the responsible manager for a NEW lead when `responsibleUserId` is not fixed. The connector calls it
       * once, after its contact search, passing what it found (sticky: a known contact's responsible keeps the lead),
       * and uses the answer for the lead and its follow-up task; undefined → the connector's default. The pipeline
       * makes it idempotent per delivery key, so a retry gets the same manager. Absent → no assignment rules.
       */
      assignResponsible?: (found: { contactResponsibleId?: string; openLeadResponsibleId?: string }) => Promise<string | undefined>;
      /** Lead id already bound to this conversation (Telegram chat, mail thread). */
      threadLeadId?: string;
    }
  | {
      kind: 'message';
      key: string;
      contact: Contact;
      threadLeadId: string;
      noteText: string;
      attachments: Attachment[];
      /**
       * Present → a phone/e-mail of `contact` the lead's CRM contact lacks is added to it (phones in `phoneFormat`),
       * unless another contact already owns it (then the note says so: contacts are never merged). Absent → the
       * message is only noted (the call-back note, which knows only the number it dialled).
       */
      addToContact?: { phoneFormat: PhoneFormat };
    }
  | {
      kind: 'call';
      key: string;
      call: CallRecord;
      /** A missed incoming call leaves this task; null otherwise. */
      callbackTask: FollowUpTask | null;
      phoneFormat: PhoneFormat;
      fields: MappedField[];
      sourceName: string;
      /**
       * Assignment rules for a call (same contract as the lead's hook): the manager of the lead opened for an
       * unknown caller and of the call-back task. The connector calls it once per call, after its contact search,
       * only when the call is not already someone's (Bitrix24: a call answered by a known extension stays that
       * user's); idempotent per call, sticky first. Absent → no rules: the CRM default / fixed responsible.
       */
      assignResponsible?: (found: { contactResponsibleId?: string; openLeadResponsibleId?: string }) => Promise<string | undefined>;
    };

/** A call merged from all its events (see src/domain/call-merge.ts). */
export interface CallRecord extends Omit<CallEvent, 'kind' | 'seq' | 'externalId'> {
  state: 'ringing' | 'answered' | 'missed' | 'ended' | 'recorded';
  eventIds: string[];
}

export interface DeliveryReceipt {
  contactId?: string;
  leadId?: string;
  /** true when a new lead was opened; false when the inquiry went as a note on an existing one. */
  createdLead: boolean;
  noteId?: string;
  taskId?: string;
  url?: string;
  /** The manager the assignment rules gave a new lead (absent without rules, or when the CRM default applied). */
  responsibleUserId?: string;
}

export interface CallerInfo {
  contactId: string;
  name?: string;
  company?: string;
  responsibleUserId?: string;
  responsibleName?: string;
  openLeadId?: string;
  /**
   * No contact has this number (`contactId` is ''): `responsibleUserId` is the manager the assignment rules would
   * give a new lead now (a preview, src/assignment), for PBX routing of unknown callers.
   */
  unknownCaller?: true;
}

export interface CrmConnector<Settings = unknown> {
  id: string;
  title: string;
  /** Per-account settings (base URL, auth kind, env var names of secrets). */
  settings: ZodType<Settings>;
  /** The account's API base URL (amoCRM subdomain, Bitrix24 portal or webhook URL). */
  baseUrl(s: Settings): string;
  /** Per-account request budget shared in Redis by every process. */
  limits(s: Settings): { perSecond: number; burst: number };
  /** Turns any thrown error (HttpError, vendor error body) into what the worker should do. */
  classify(err: unknown): CrmFailure;
  /** Adds auth to a request (and refreshes tokens through io.credentials when needed). */
  authorize(io: CrmIO, s: Settings, req: HttpRequest): Promise<HttpRequest>;
  /**
   * Called once after a 401: refresh the token (under the lock) or throw a config CrmError. `failed` is the 401
   * answer when the HTTP client passes it (a vendor code such as Bitrix24 `METHOD_CONFIRM_WAITING` is no token problem).
   */
  onUnauthorized(io: CrmIO, s: Settings, failed?: HttpResponse): Promise<void>;
  /** Start-up: check credentials and load the live field catalogue, pipelines, sources. */
  inspect(io: CrmIO, s: Settings): Promise<AccountFacts>;
  /**
   * Resolve field targets of a mapping against the catalogue; returns problems naming the fix. `value` is the
   * mapping's literal value when it has one (not `from`/`env`), so a directory id that does not exist (Bitrix24
   * `SOURCE_ID`, an enum item) stops start-up too.
   */
  checkMapping(facts: AccountFacts, fields: { entity: 'lead' | 'contact'; target: string; value?: string }[]): string[];
  deliver(io: CrmIO, s: Settings, task: DeliveryTask, journal: StepJournal, facts: AccountFacts): Promise<DeliveryReceipt>;
  /** Caller-ID lookup by phone. */
  lookupPhone?(io: CrmIO, s: Settings, phoneE164: string): Promise<CallerInfo | null>;
  /** Assignment rules: the account's users (checked at start-up; inactive = blocked, never assigned). */
  listUsers?(io: CrmIO, s: Settings): Promise<CrmUser[]>;
  /** Reassignment: is the follow-up task still open (polled at the deadline when no webhook said it was done)? */
  taskState?(io: CrmIO, s: Settings, taskId: string): Promise<'open' | 'done' | 'missing'>;
  /**
   * Reassignment: the lead (and its follow-up task) move to `toUserId`, with a note on the lead. Each write runs
   * in `journal` so a retry never writes the note twice.
   */
  reassign?(io: CrmIO, s: Settings, r: ReassignRequest, journal: StepJournal): Promise<void>;
  /**
   * Call-back: the missed call's follow-up task is completed with `resultText` (amoCRM keeps it as the result;
   * Bitrix24 to-dos have no result field). The write runs in `journal` so a retry never writes twice; a task
   * already completed or deleted in the CRM is success, not an error.
   */
  completeTask?(io: CrmIO, s: Settings, c: CompleteTaskRequest, journal: StepJournal): Promise<void>;
}

export interface CompleteTaskRequest {
  /** As the receipt gave it. */
  taskId: string;
  resultText: string;
}

export interface CrmUser {
  id: string;
  name: string;
  active: boolean;
}

export interface ReassignRequest {
  /** As the receipt gave it (`123`, Bitrix24 `D_123` for a deal). */
  leadId: string;
  taskId?: string;
  fromUserId?: string;
  toUserId: string;
  note: string;
}

export function defineCrm<Settings>(c: CrmConnector<Settings>): CrmConnector<Settings> {
  return c;
}
