import Fastify, { LogController, type FastifyInstance } from 'fastify';
import rateLimit from '@fastify/rate-limit';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { RuntimeConfig } from './config/load.ts';
import type { IntakeStore } from './pipeline/enqueue.ts';
import { hooksPlugin, type HooksDeps } from './gateway/hooks.plugin.ts';
import { healthPlugin } from './gateway/health.plugin.ts';
import { registerDocs } from './gateway/admin.plugin.ts';
import { lookupPlugin, type LookupPluginOptions } from './gateway/lookup.plugin.ts';
import { crmEventsPlugin, type CrmEventsPluginOptions } from './gateway/crm-events.plugin.ts';
import { recordingsPlugin } from './gateway/recordings.plugin.ts';
import type { Recordings } from './pipeline/recordings.ts';
import { filesPlugin } from './gateway/files.plugin.ts';
import { reportsPlugin } from './gateway/reports.plugin.ts';

export interface AppDeps {
  config: RuntimeConfig;
  intake: IntakeStore;
  /** Shared Redis for the rate limiter; omitted → limiter off (unit tests). */
  rateLimitRedis?: Redis;
  logger?: Logger | false;
  now?: () => Date;
  onIntake?: HooksDeps['onIntake'];
  /** Caller-ID lookups, CRM change webhooks, recording links (built by runtime/gateway.ts); omitted → routes off. */
  telephony?: {
    lookup: LookupPluginOptions;
    lookupCaller: NonNullable<HooksDeps['lookupCaller']>;
    crmEvents: CrmEventsPluginOptions;
    recordings: { recordings: Recordings; timeoutMs: number };
  };
  /** Extra plugins (admin, metrics) mounted by main. */
  extend?: (app: FastifyInstance) => Promise<void>;
  /** OpenAPI document and UI at `/docs`. @defaultValue true */
  docs?: boolean;
}

const reqIdPrefix = `req-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}-`;
let reqSeq = 0;

/** Builds the gateway. Never listens: main listens, tests use `app.inject`. */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const g = deps.config.raw.gateway;
  const app = Fastify({
    ...(deps.logger ? { loggerInstance: deps.logger } : { logger: false }),
    bodyLimit: g.bodyLimitBytes,
    trustProxy: g.trustProxy,
    // Unique across processes (random per process) and restarts (start time), a counter per request: no work per request.
    genReqId: () => `${reqIdPrefix}${(++reqSeq).toString(36)}`,
    // Request lines are not logged: URLs may carry `?secret=`; the hooks log what matters, masked.
    logController: new LogController({ disableRequestLogging: true }),
  }) as unknown as FastifyInstance;

  app.setErrorHandler(async (err: Error & { statusCode?: number; code?: string }, req, reply) => {
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return reply.code(413).send({ error: { code: 'LG_ERR_BODY_TOO_LARGE', field: 'body', expected: `at most ${g.bodyLimitBytes} bytes`, message: 'request body too large' } });
    }
    if (err.statusCode === 429) return reply.code(429).send({ error: { code: 'LG_ERR_RATE_LIMIT', message: err.message } });
    if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
      return reply.code(err.statusCode).send({ error: { code: err.code ?? 'LG_ERR_BAD_REQUEST', message: err.message } });
    }
    req.log.error({ err }, 'unhandled error');
    return reply.code(500).send({ error: { code: 'LG_ERR_INTERNAL', message: 'internal error; the event was not stored, retry later' } });
  });

  if (deps.rateLimitRedis) {
    await app.register(rateLimit, {
      global: false,
      redis: deps.rateLimitRedis,
      nameSpace: `${deps.config.raw.redisPrefix}:rl:`,
      skipOnError: true, // a Redis outage must give the honest 503 from intake, not a 500 from the limiter
    });
  }

  // Before any route: @fastify/swagger collects routes as they are declared.
  if (deps.docs !== false) await registerDocs(app);
  await app.register(healthPlugin, { intake: deps.intake });
  // Signed links to channel files (Telegram photos) written into CRM notes.
  await app.register(filesPlugin, { config: deps.config });
  await app.register(async (scope) => {
    await hooksPlugin(scope, {
      config: deps.config,
      intake: deps.intake,
      rateLimit: Boolean(deps.rateLimitRedis),
      ...(deps.now ? { now: deps.now } : {}),
      ...(deps.onIntake ? { onIntake: deps.onIntake } : {}),
      ...(deps.telephony ? { lookupCaller: deps.telephony.lookupCaller } : {}),
    });
  });
  if (deps.telephony) {
    await app.register(lookupPlugin, deps.telephony.lookup);
    await app.register(crmEventsPlugin, deps.telephony.crmEvents);
    await app.register(recordingsPlugin, deps.telephony.recordings);
  }
  // The channel report from the lead ledger, behind the admin's basic auth (off without LEADGATE_ADMIN_*).
  await app.register(reportsPlugin, { config: deps.config, ...(deps.logger ? { log: deps.logger } : {}), ...(deps.now ? { now: deps.now } : {}) });
  if (deps.extend) await deps.extend(app);
  return app;
}
