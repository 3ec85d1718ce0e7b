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
  /** Per-source request budget at the gateway. @defaultValue 120 per minute per IP */
  rateLimitPerMinute: z.number().int().positive().default(120),
});
export type SourceConfig = z.infer<typeof SourceSchema>;

export const CrmAccountSchema = z.object({
  id: Id,
  /** CRM connector id: `amocrm` or `bitrix24`. */
  connector: z.string().min(1),
  /** Mapping file, relative to the config file. @defaultValue mappings/<connector>.yaml */
  mapping: z.string().optional(),
  settings: z.record(z.string(), z.unknown()).default({}),
});
export type CrmAccountConfig = z.infer<typeof CrmAccountSchema>;

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
      /** Per-IP requests per minute over all hooks. @defaultValue 600 */
      rateLimitPerMinute: z.number().int().positive().default(600),
    })
    .default({ host: '::', port: 3000, bodyLimitBytes: 1024 * 1024, enqueueTimeoutMs: 1_000, trustProxy: false, rateLimitPerMinute: 600 }),
  worker: z
    .object({
      /** Jobs processed at once per worker process. @defaultValue 8 */
      concurrency: z.number().int().positive().max(256).default(8),
      /** Delivery attempts before a lead goes to the failed set. @defaultValue 40 (≈ a day with capped backoff) */
      attempts: z.number().int().positive().max(1000).default(40),
      /** @defaultValue 300 000 ms */
      maxBackoffMs: z.number().int().positive().default(300_000),
    })
    .default({ concurrency: 8, attempts: 40, maxBackoffMs: 300_000 }),
  crm: z.array(CrmAccountSchema).default([]),
  sources: z.array(SourceSchema).default([]),
});
export type Config = z.infer<typeof ConfigSchema>;
