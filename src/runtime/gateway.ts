import { Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { buildApp } from '../app.ts';
import type { RuntimeConfig } from '../config/load.ts';
import { makeKeys } from '../infra/keys.ts';
import { createRedis } from '../infra/redis.ts';
import { createIntakeStore } from '../pipeline/enqueue.ts';
import { QUEUE_INTAKE } from '../pipeline/queues.ts';
import { intakeJobOptions } from '../pipeline/worker.ts';

export interface RunningGateway {
  app: FastifyInstance;
  url: string;
  close(): Promise<void>;
}

/** The gateway process: producer connections that fail fast, so a dead Redis is an honest 503. */
export async function startGateway(o: { config: RuntimeConfig; redisUrl: string; log: Logger; port?: number; host?: string }): Promise<RunningGateway> {
  const cfg = o.config.raw;
  const producer = createRedis(o.redisUrl, 'producer');
  const limiterRedis = createRedis(o.redisUrl, 'producer');
  const queue = new Queue(QUEUE_INTAKE, { connection: producer, prefix: cfg.redisPrefix, defaultJobOptions: intakeJobOptions(10) });
  queue.on('error', () => {});
  const intake = createIntakeStore({ queue, redis: producer, keys: makeKeys(cfg.redisPrefix), ttlSec: Math.round(cfg.idempotencyTtlDays * 86400), timeoutMs: cfg.gateway.enqueueTimeoutMs });
  const app = await buildApp({ config: o.config, intake, rateLimitRedis: limiterRedis, logger: o.log });
  const address = await app.listen({ port: o.port ?? cfg.gateway.port, host: o.host ?? cfg.gateway.host });
  return {
    app,
    url: address.replace('[::]', '127.0.0.1'),
    async close() {
      await app.close();
      await queue.close().catch(() => undefined);
      producer.disconnect();
      limiterRedis.disconnect();
    },
  };
}
