import type { FastifyInstance } from 'fastify';
import type { IntakeStore } from '../pipeline/enqueue.ts';

/** `/healthz`: the process answers. `/readyz`: Redis takes writes, so a 2xx from /hooks will be honest. */
export async function healthPlugin(app: FastifyInstance, o: { intake: IntakeStore; readyDetail?: () => Promise<Record<string, unknown>> }): Promise<void> {
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    const redis = await o.intake.ping();
    const detail = o.readyDetail ? await o.readyDetail() : {};
    return reply.code(redis ? 200 : 503).send({ status: redis ? 'ready' : 'unavailable', redis: redis ? 'ok' : 'unreachable', ...detail });
  });
}
