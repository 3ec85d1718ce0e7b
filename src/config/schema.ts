import { z } from 'zod';

/** Env var names: upper snake case. Secrets are named, never written inline. */
const EnvName = z.string().regex(/^[A-Z][A-Z0-9_]*$/, 'an environment variable name like TILDA_SECRET');
const Id = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'a kebab-case id like site-main');

export const TaskSettingsSchema = z.object({
  /** @defaultValue "Связаться с клиентом" */
  text: z.string().min(1).default('Связаться с клиентом'),
  /** @defaultValue 15 */
  dueInMinutes: z.number().int().positive().max(60 * 24 * 30).default(15),
  /** CRM user id; empty → the lead's responsible user. */
  responsibleUserId: z.string().optional(),
  enabled: z.boolean().default(true),
});

export const SourceSchema = z.object({
  /** The `:sourceId` URL segment: `/hooks/<connector>/<id>`. */
  id: Id,
  /** Channel connector id, e.g. `tilda`, `form`, `mango`, `telegram`, `email`. */
  connector: z.string().min(1),
  /** Human name; becomes the lead's source name in the CRM. */
  name: z.string().min(1),
  /** CRM account id this source delivers to; defaults to the only account. */
  crm: z.string().optional(),
  /** Env var holding this source's secret (generic `X-Leadgate-Secret` header/`?secret=`, or the vendor's signing key). */
  secretEnv: EnvName.optional(),
  /** Connector settings (field maps, bot username, mailbox…); validated by the connector's own schema. */
  settings: z.record(z.string(), z.unknown()).default({}),
  /** A second inquiry from a contact with an open lead: note on it (default) or always a new lead. */
  repeatPolicy: z.enum(['note-on-open-lead', 'always-new']).default('note-on-open-lead'),
  /** Where new leads go: the CRM's incoming stage (default), or the first stage of a named pipeline. */
  pipeline: z.string().optional(),
  task: TaskSettingsSchema.default({ text: 'Связаться с клиентом', dueInMinutes: 15, enabled: true }),
  /**
   * Per-source request budget at the gateway, per client IP and minute. Unset → by the connector's kind: 120 for site
   * forms (public pages: a flood is abuse), 3000 for telephony and messengers (one PBX or Telegram posts every event
   * of a busy line from a few addresses; refusing them would lose calls).
   */
  rateLimitPerMinute: z.number().int().positive().optional(),
});
export type SourceConfig = z.infer<typeof SourceSchema>;

export const CrmAccountSchema = z.object({
  id: Id,
  /** CRM connector id: `amocrm` or `bitrix24`. */
  connector: z.string().min(1),
  /** Mapping file, relative to the config file. @defaultValue mappings/<connector>.yaml */
  mapping: z.string().optional(),
  settings: z.record(z.string(), z.unknown()).default({}),
  /**
   * Coalesce the writes of deliveries running at the same time into the CRM's batch requests (amoCRM array
   * endpoints such as `/leads/complex`, Bitrix24 `batch`): up to 50 leads in one request and one rate-limit slot.
   * A lone lead still goes out at once. `false` → one request per write. @defaultValue true
   */
  batch: z.boolean().optional(),
  /**
   * Assignment rules file (who takes a new lead, reassignment), relative to the config file, e.g.
   * `mappings/assignment.yaml`. Unset → the CRM's default responsible, no reassignment.
   */
  assignment: z.string().optional(),
  /** CRM user id → that manager's PBX extension, for caller-ID answers and call routing: `{ "8801235": "201" }`. */
  extensions: z.record(z.string().regex(/^\d+$/, 'a CRM user id'), z.string().regex(/^\d{1,10}$/, 'an extension like 201')).optional(),
  /**
   * CRM webhooks about contact changes (amoCRM `update_contact`…, Bitrix24 `ONCRMCONTACTUPDATE`…) posted to
   * `/crm-events/<id>?secret=…`: they drop stale caller-ID cache entries. Unset → the route answers 404.
   */
  events: z
    .object({
      /** Env var holding the `?secret=` of the webhook URL. */
      secretEnv: EnvName,
      /** Bitrix24 only: env var holding the outgoing webhook's `auth[application_token]`, checked too when set. */
      applicationTokenEnv: EnvName.optional(),
    })
    .optional(),
});
export type CrmAccountConfig = z.infer<typeof CrmAccountSchema>;

/** Caller-ID lookups, call recordings and the call sweeper (README "Telephony"). */
export const TelephonySchema = z.object({
  lookup: z
    .object({
      /** Env var holding the bearer token of `GET /lookup/phone/:number`. Unset → the route answers 404. */
      tokenEnv: EnvName.optional(),
      /** How long a found caller is served from Redis. @defaultValue 3600 s */
      cacheTtlSec: z.number().int().min(10).max(7 * 86_400).default(3_600),
      /** How long "unknown number" is remembered (short: a new contact must be found soon). @defaultValue 60 s */
      negativeTtlSec: z.number().int().min(1).max(3_600).default(60),
      /** How long `/lookup` waits for the CRM on a miss before answering 504. @defaultValue 3000 ms */
      timeoutMs: z.number().int().min(100).max(30_000).default(3_000),
    })
    .prefault({}),
  recordings: z
    .object({
      /**
       * The gateway's public address (`https://hub.example.ru`). Cards then link `<it>/recordings/<token>.mp3`,
       * which fetches a fresh provider link on every play; without it only links that do not expire are written.
       */
      publicBaseUrl: z.url({ protocol: /^https?$/ }).optional(),
      /** Env var with the HMAC key signing those links (≥ 16 characters). Required with publicBaseUrl. */
      signingKeyEnv: EnvName.optional(),
      /** Largest recording streamed through the hub. @defaultValue 104 857 600 (100 MiB) */
      maxBytes: z.number().int().positive().default(100 * 1024 * 1024),
      /** How often to ask again while the provider is still saving the file. @defaultValue 15 000 ms */
      retryEveryMs: z.number().int().min(100).max(600_000).default(15_000),
      /** Stop asking after this long since the call ended. @defaultValue 1 800 000 ms (30 min) */
      giveUpAfterMs: z.number().int().min(1_000).default(1_800_000),
      /** Timeout of one request to the provider's API. @defaultValue 10 000 ms */
      timeoutMs: z.number().int().min(100).max(120_000).default(10_000),
    })
    .prefault({}),
  sweeper: z
    .object({
      /** How often one worker (holding a Redis lease) looks for calls whose final event never came. @defaultValue 30 s */
      everySec: z.number().min(0.1).max(3_600).default(30),
      /** A call nobody answered is closed as missed this long after its last event. @defaultValue 900 s */
      ringingTimeoutSec: z.number().min(1).max(86_400).default(900),
      /** An answered call is closed (status unknown) this long after its last event. @defaultValue 14 400 s */
      answeredTimeoutSec: z.number().min(1).max(7 * 86_400).default(14_400),
    })
    .prefault({}),
});
export type TelephonyConfig = z.infer<typeof TelephonySchema>;

/** SMTP for auto-acknowledgements and admin alerts (src/infra/mailer.ts). */
export const MailSchema = z.object({
  smtp: z.object({
    host: z.string().min(1),
    /** @defaultValue 587 */
    port: z.number().int().min(1).max(65535).default(587),
    /** TLS from the first byte (465); `false` → STARTTLS when offered (587). @defaultValue false */
    secure: z.boolean().default(false),
    /** Login; unset → no authentication (a local relay). */
    user: z.string().min(1).optional(),
    /** Env var holding the SMTP password. */
    passwordEnv: EnvName.optional(),
  }),
  /** Sender of everything we send, e.g. `"Acme" <zayavki@acme.ru>`. Add it to the e-mail source's `ownAddresses`. */
  from: z.string().min(3),
  /** Where alerts go (failed deliveries, CRM auth expiring, a mailbox that cannot log in); unset → no alerts. */
  adminTo: z.string().min(3).optional(),
  /** Acknowledge every new e-mail lead to its sender with the lead number (never to robots). @defaultValue false */
  autoAck: z.boolean().default(false),
  /** Subject of the acknowledgement; `{lead}` and `{subject}` are replaced. @defaultValue "Re: {subject} (заявка №{lead})" */
  autoAckSubject: z.string().min(1).default('Re: {subject} (заявка №{lead})'),
  /** Body of the acknowledgement; `{lead}` and `{subject}` are replaced. */
  autoAckText: z
    .string()
    .min(1)
    .default('Здравствуйте!\n\nМы получили ваше письмо «{subject}» и зарегистрировали заявку №{lead}. Менеджер свяжется с вами в ближайшее время.\n\nЭто автоматический ответ.'),
  /** The same alert (by kind and subject) is mailed at most once per this many minutes. @defaultValue 360 */
  alertEveryMinutes: z.number().int().min(1).max(7 * 24 * 60).default(360),
});
export type MailConfig = z.infer<typeof MailSchema>;

/**
 * The lead ledger (src/ledger): every event with its outcome, CRM ids and timings, for `leadgate trace`, the channel
 * report and `/reports`. PostgreSQL when `urlEnv` is set, else an embedded SQLite file. Contact phones and e-mails are
 * stored only as keyed hashes (for lookup) and masked (for reading), see src/ledger/README.md.
 */
export const LedgerSchema = z.object({
  /** @defaultValue true */
  enabled: z.boolean().default(true),
  /** Env var holding a `postgres://…` URL; unset → the embedded SQLite file. */
  urlEnv: EnvName.optional(),
  /** PostgreSQL schema of the ledger tables (created when missing). @defaultValue public */
  schema: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'a lower-case SQL identifier like leadgate').optional(),
  /** SQLite file, relative to the working directory. @defaultValue var/ledger.sqlite */
  file: z.string().min(1).default('var/ledger.sqlite'),
  /**
   * Env var with the key of the contact hashes (≥ 16 characters). Unset → a random key kept in the ledger itself:
   * then a stolen database can be searched for a known number by anyone who takes the key with it.
   */
  hashKeyEnv: EnvName.optional(),
  /** Rows older than this are deleted by the workers (once at start, then daily). @defaultValue 400 days */
  retentionDays: z.number().int().min(1).max(3_650).default(400),
  /** A ledger write that takes longer is given up (logged, counted): a delivery never waits for the ledger. @defaultValue 5000 ms */
  writeTimeoutMs: z.number().int().min(100).max(60_000).default(5_000),
});
export type LedgerConfig = z.infer<typeof LedgerSchema>;

export const ConfigSchema = z.object({
  /** Region for numbers written without a country code. @defaultValue RU */
  defaultRegion: z.string().regex(/^[A-Z]{2}$/, 'an ISO country code like RU').default('RU'),
  /** Redis key prefix; keep the `{…}` hash tag for Redis Cluster. @defaultValue {leadgate} */
  redisPrefix: z.string().regex(/^\{[^{}]+\}/, 'a prefix starting with a {hash-tag}, e.g. {leadgate}').default('{leadgate}'),
  /** How long a sender's event id is remembered for dedupe. @defaultValue 7 days */
  idempotencyTtlDays: z.number().positive().max(90).default(7),
  gateway: z
    .object({
      host: z.string().default('::'),
      port: z.number().int().min(0).max(65535).default(3000),
      /** @defaultValue 1 MiB */
      bodyLimitBytes: z.number().int().positive().max(50 * 1024 * 1024).default(1024 * 1024),
      /** How long the gateway waits for Redis before answering 503. @defaultValue 1000 ms */
      enqueueTimeoutMs: z.number().int().positive().max(10_000).default(1_000),
      trustProxy: z.boolean().default(false),
      /** Per-IP requests per minute over all hooks together (a client spreading a flood over sources). @defaultValue 6000 */
      rateLimitPerMinute: z.number().int().positive().default(6000),
      /**
       * The hub's public HTTPS origin as Telegram and managers reach it, e.g. `https://hub.example.ru`. Used by
       * `leadgate telegram set-webhook` as the default URL and for signed file links in CRM notes
       * (`<publicUrl>/files/<channel>/<sourceId>/<ref>?sig=…`); unset → notes keep the vendor's file id.
       */
      publicUrl: z.url({ protocol: /^https?$/ }).optional(),
    })
    .default({ host: '::', port: 3000, bodyLimitBytes: 1024 * 1024, enqueueTimeoutMs: 1_000, trustProxy: false, rateLimitPerMinute: 6000 }),
  worker: z
    .object({
      /** Jobs processed at once per worker process. @defaultValue 8 */
      concurrency: z.number().int().positive().max(256).default(8),
      /**
       * Delivery jobs processed at once per worker process. Batching accounts (`crm[].batch`) fill one request from
       * the deliveries active together, so more active deliveries mean fuller batches under load; they mostly wait
       * for the account's rate-limit slot, which costs little. @defaultValue 32 when a CRM account batches, else `concurrency`
       */
      deliverConcurrency: z.number().int().positive().max(256).optional(),
      /** Delivery attempts before a lead goes to the failed set. @defaultValue 40 (≈ a day with capped backoff) */
      attempts: z.number().int().positive().max(1000).default(40),
      /** @defaultValue 300 000 ms */
      maxBackoffMs: z.number().int().positive().default(300_000),
      /**
       * How long a job stays locked to a worker without renewal; a killed worker's job is taken over after this
       * (plus the stalled check). Renewed automatically while the worker lives. @defaultValue 30 000 ms
       */
      lockDurationMs: z.number().int().min(1_000).default(30_000),
      /** How often workers look for jobs of dead workers. @defaultValue 30 000 ms */
      stalledIntervalMs: z.number().int().min(500).default(30_000),
    })
    .default({ concurrency: 8, attempts: 40, maxBackoffMs: 300_000, lockDurationMs: 30_000, stalledIntervalMs: 30_000 }),
  crm: z.array(CrmAccountSchema).default([]),
  sources: z.array(SourceSchema).default([]),
  telephony: TelephonySchema.prefault({}),
  /** Outgoing mail: auto-acknowledgements to e-mail senders and alerts to the admin. Unset → nothing is sent. */
  mail: MailSchema.optional(),
  /** The lead ledger: PostgreSQL (`urlEnv`) or the embedded SQLite default. */
  ledger: LedgerSchema.prefault({}),
});
export type Config = z.infer<typeof ConfigSchema>;
