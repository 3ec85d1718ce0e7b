import { createServer } from 'node:http';
import type { FastifyInstance } from 'fastify';
import type { Metrics } from '../infra/metrics.ts';

/**
 * `GET /metrics` in the Prometheus text format. It holds counts by configured ids only, no personal data;
 * still, keep it on the internal network (the reverse proxy should not route it).
 */
export async function metricsPlugin(app: FastifyInstance, o: { metrics: Metrics }): Promise<void> {
  app.get('/metrics', async (_req, reply) => reply.header('content-type', o.metrics.contentType).send(await o.metrics.render()));
}

/**
 * The metrics endpoint of a process without a gateway (`leadgate worker`): a bare HTTP server answering
 * `GET /metrics`, on `LEADGATE_METRICS_PORT`. Each worker is then one Prometheus scrape target.
 */
export async function startMetricsServer(o: { metrics: Metrics; port: number; host?: string }): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('only GET /metrics here\n');
      return;
    }
    o.metrics.render().then(
      (text) => res.writeHead(200, { 'content-type': o.metrics.contentType }).end(text),
      (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${(err as Error).message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host ?? '0.0.0.0', () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : o.port;
  return {
    url: `http://${o.host && o.host !== '0.0.0.0' ? o.host : '127.0.0.1'}:${port}/metrics`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
