/**
 * Emulator-only control routes under `/__emulator/` (no auth, no rate limit, not logged),
 * for demo mode and benchmarks that run the emulator in another process.
 * Tests in-process should use `state`, `stats` and `faults` directly.
 */
import type { FastifyInstance } from 'fastify';
import { isRecord } from '../http.ts';
import type { GatewayStatus } from '../faults.ts';
import { ADMIN_PREFIX } from '../gate.ts';
import type { RouteDeps } from './deps.ts';

export function adminRoutes(app: FastifyInstance, deps: RouteDeps, reset: () => void): void {
  const { state, stats, faults } = deps;

  app.get(`${ADMIN_PREFIX}stats`, async () => ({
    counts: state.counts(),
    maxPerWindow: stats.maxPerWindow,
    limitExceeded: stats.limitExceeded,
    perSecond: Object.fromEntries(stats.perSecond),
    count401: stats.count401,
    count403: stats.count403,
    count429: stats.count429,
    count5xx: stats.count5xx,
    refreshes: stats.refreshes,
    codeExchanges: stats.codeExchanges,
    requests: stats.requests.length,
  }));

  app.post(`${ADMIN_PREFIX}reset`, async (_req, reply) => {
    reset();
    return reply.code(204).send();
  });

  app.post(`${ADMIN_PREFIX}auth-code`, async () => ({ code: state.auth.issueAuthCode() }));

  app.post(`${ADMIN_PREFIX}expire-tokens`, async () => ({ expired: faults.expireAccessTokens() }));

  /** Body: `{ "kind": "status"|"rate-limit"|"timeout"|"reset", "count": 1, "status": 503, "method": "POST", "path": "/api/v4/leads" }`. */
  app.post(`${ADMIN_PREFIX}faults`, async (req, reply) => {
    const b = isRecord(req.body) ? req.body : {};
    const count = typeof b.count === 'number' ? b.count : 1;
    const match = {
      ...(typeof b.method === 'string' ? { method: b.method } : {}),
      ...(typeof b.path === 'string' ? { path: b.path } : {}),
    };
    const statuses: GatewayStatus[] = [500, 502, 503, 504];
    const status = statuses.find((s) => s === b.status) ?? 500;
    if (b.kind === 'status') faults.failNext(count, { status, ...match });
    else if (b.kind === 'rate-limit') faults.rateLimitNext(count, match);
    else if (b.kind === 'timeout') faults.timeoutNext(count, match);
    else if (b.kind === 'reset') faults.resetNext(count, match);
    else if (b.kind === 'block') faults.block(typeof b.durationMs === 'number' ? b.durationMs : undefined);
    else if (b.kind === 'unblock') faults.unblock();
    else if (b.kind === 'latency') faults.setLatency(typeof b.ms === 'number' ? b.ms : 0, match);
    else if (b.kind === 'clear') faults.clear();
    else return reply.code(400).send({ error: `unknown fault kind ${JSON.stringify(b.kind)}` });
    return reply.code(204).send();
  });
}
