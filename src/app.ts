import Fastify, { LogController, type FastifyInstance } from 'fastify';
import rateLimit from '@fastify/rate-limit';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { RuntimeConfig } from './config/load.ts';
import type { IntakeStore } from './pipeline/enqueue.ts';
import { hooksPlugin, type HooksDeps } from './gateway/hooks.plugin.ts';
import { healthPlugin } from './gateway/health.plugin.ts';

export interface AppDeps {
  config: RuntimeConfig;
  intake: IntakeStore;
  /** Shared Redis for the rate limiter; omitted → limiter off (unit tests). */
  rateLimitRedis?: Redis;
  logger?: Logger | false;
  now?: () => Date;
  onIntake?: HooksDeps['onIntake'];
  /** Extra plugins (admin, metrics) mounted by main. */
  extend?: (app: FastifyInstance) => Promise<void>;
}

/** Builds the gateway. Never listens: main listens, tests use `app.inject`. */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const g = deps.config.raw.gateway;
  const app = Fastify({
    ...(deps.logger ? { loggerInstance: deps.logger } : { logger: false }),
    bodyLimit: g.bodyLimitBytes,
    trustProxy: g.trustProxy,
    genReqId: () => `req-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`,
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

  await app.register(healthPlugin, { intake: deps.intake });
  await app.register(async (scope) => {
    await hooksPlugin(scope, {
      config: deps.config,
      intake: deps.intake,
      rateLimit: Boolean(deps.rateLimitRedis),
      ...(deps.now ? { now: deps.now } : {}),
      ...(deps.onIntake ? { onIntake: deps.onIntake } : {}),
    });
  });
  if (deps.extend) await deps.extend(app);
  return app;
}
