import { Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { buildApp } from '../app.ts';
import type { RuntimeConfig } from '../config/load.ts';
import { makeKeys } from '../infra/keys.ts';
import { createRedis } from '../infra/redis.ts';
import { createIntakeStore } from '../pipeline/enqueue.ts';
import { OPERATED_QUEUES, QUEUE_INTAKE } from '../pipeline/queues.ts';
import type { Metrics } from '../infra/metrics.ts';
import { metricsPlugin } from '../gateway/metrics.plugin.ts';
import { adminPlugin } from '../gateway/admin.plugin.ts';
import { intakeJobOptions } from '../pipeline/worker.ts';
import { createGatewayTelephony } from './telephony.ts';

export interface RunningGateway {
  app: FastifyInstance;
  url: string;
  close(): Promise<void>;
}

/** The gateway process: producer connections that fail fast, so a dead Redis is an honest 503. */
export async function startGateway(o: {
  config: RuntimeConfig;
  redisUrl: string;
  log: Logger;
  port?: number;
  host?: string;
  /** Counts requests at /hooks and serves `GET /metrics`; omitted → no metrics route. */
  metrics?: Metrics;
  /** Where LEADGATE_ADMIN_USER / LEADGATE_ADMIN_PASSWORD are read. @defaultValue process.env */
  env?: Readonly<Record<string, string | undefined>>;
}): Promise<RunningGateway> {
  const cfg = o.config.raw;
  const producer = createRedis(o.redisUrl, 'producer');
  const limiterRedis = createRedis(o.redisUrl, 'producer');
  const queue = new Queue(QUEUE_INTAKE, { connection: producer, prefix: cfg.redisPrefix, defaultJobOptions: intakeJobOptions(10) });
  queue.on('error', () => {});
  const intakeRedis = createRedis(o.redisUrl, 'intake');
  const intake = createIntakeStore({ queue, redis: producer, addRedis: intakeRedis, log: o.log, keys: makeKeys(cfg.redisPrefix), ttlSec: Math.round(cfg.idempotencyTtlDays * 86400), timeoutMs: cfg.gateway.enqueueTimeoutMs });
  // Caller-ID lookups, CRM change webhooks and recording links: their own connection, CRM calls may be slow.
  const telephonyRedis = createRedis(o.redisUrl, 'plain');
  const telephony = createGatewayTelephony({ config: o.config, redis: telephonyRedis, keys: makeKeys(cfg.redisPrefix), log: o.log, env: o.env ?? process.env });
  // The queue board and the queue gauges: plain commands on a connection of their own.
  const opsRedis = createRedis(o.redisUrl, 'plain');
  const queueNames = OPERATED_QUEUES;
  const metrics = o.metrics;
  metrics?.trackQueues({ connection: opsRedis, prefix: cfg.redisPrefix, names: queueNames });
  const app = await buildApp({
    config: o.config,
    intake,
    rateLimitRedis: limiterRedis,
    logger: o.log,
    telephony,
    ...(metrics ? { onIntake: (e) => metrics.onIntake(e) } : {}),
    extend: async (a) => {
      if (metrics) await a.register(metricsPlugin, { metrics });
      await adminPlugin(a, { connection: opsRedis, prefix: cfg.redisPrefix, queueNames, log: o.log, env: o.env ?? process.env });
    },
  });
  const address = await app.listen({ port: o.port ?? cfg.gateway.port, host: o.host ?? cfg.gateway.host });
  return {
    app,
    url: address.replace('[::]', '127.0.0.1'),
    async close() {
      await app.close();
      await queue.close().catch(() => undefined);
      producer.disconnect();
      intakeRedis.disconnect();
      limiterRedis.disconnect();
      telephonyRedis.disconnect();
      opsRedis.disconnect();
    },
  };
}
