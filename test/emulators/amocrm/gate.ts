/**
 * The request gate, in the order a request meets it:
 * request id → arrival stats → API block (403 HTML) → injected faults → rate limit (429)
 * → latency → Bearer check on `/api/` (401). Also logs every outcome and releases hung
 * requests when the app closes.
 */
import type { Socket } from 'node:net';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Faults, FaultRule } from './faults.ts';
import { PROBLEM_JSON, problemBody, sendNginxPage, sendProblem } from './http.ts';
import type { RateLimiter } from './limiter.ts';
import type { ResolvedOptions } from './options.ts';
import type { AmoState } from './state.ts';
import type { EmulatorStats } from './stats.ts';

export const ADMIN_PREFIX = '/__emulator/';

const acting = new WeakMap<FastifyRequest, number>();

/** User the request's token acts as (falls back to the account's current user). */
export function actingUser(req: FastifyRequest, state: AmoState): number {
  return acting.get(req) ?? state.meta.account.current_user_id;
}

export function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

interface GateDeps {
  opts: ResolvedOptions;
  state: AmoState;
  stats: EmulatorStats;
  faults: Faults;
  limiter: RateLimiter;
}

const arrivedAt = new WeakMap<FastifyRequest, number>();
const faultOf = new WeakMap<FastifyRequest, FaultRule['kind']>();

export function installGate(app: FastifyInstance, deps: GateDeps): void {
  const { opts, state, stats, faults, limiter } = deps;
  /** Ways to release hung requests on close: destroy the socket, or fail the inject() call. */
  const hung = new Set<() => void>();

  const logHijacked = (req: FastifyRequest, fault: 'timeout' | 'reset'): void => {
    stats.recordResponse({
      method: req.method,
      path: pathOf(req.url),
      url: req.url,
      status: 0,
      at: arrivedAt.get(req) ?? opts.clock(),
      requestId: req.id,
      fault,
    });
  };

  app.addHook('onRequest', async (req, reply) => {
    if (req.url.startsWith(ADMIN_PREFIX)) return;
    const now = opts.clock();
    arrivedAt.set(req, now);
    reply.header('X-Request-Id', req.id);
    stats.recordArrival(now);
    const path = pathOf(req.url);

    if (limiter.isBlocked(now)) return sendNginxPage(reply, 403, 'Forbidden');

    const fault = faults.take(req.method, path);
    if (fault) {
      faultOf.set(req, fault.kind);
      return applyFault(fault, req, reply);
    }

    const admission = limiter.admit(now);
    if (admission === 'blocked') return sendNginxPage(reply, 403, 'Forbidden');
    if (admission === 'limited') return sendTooMany(reply, opts);

    const delay = faults.latencyFor(req.method, path);
    if (delay > 0) await new Promise((r) => setTimeout(r, delay));

    if (path.startsWith('/api/')) {
      const token = bearer(req.headers.authorization);
      const rec = token ? state.auth.verify(token) : null;
      if (!rec) return sendProblem(reply, 401, 'Неверный логин или пароль');
      acting.set(req, rec.userId);
    }
    return undefined;
  });

  function applyFault(rule: FaultRule, req: FastifyRequest, reply: FastifyReply): FastifyReply {
    switch (rule.kind) {
      case 'status': {
        const status = rule.status ?? 500;
        if (status === 500) {
          return reply.code(500).type(PROBLEM_JSON).send({
            title: 'ErrInternalServer',
            status: 500,
            detail: 'Internal server error',
            trace_id: req.id,
          });
        }
        const text = { 502: 'Bad Gateway', 503: 'Service Temporarily Unavailable', 504: 'Gateway Time-out' }[status];
        return sendNginxPage(reply, status, text);
      }
      case 'rate-limit':
        return sendTooMany(reply, opts);
      case 'timeout': {
        reply.hijack();
        const release = (): void => hangUp(req, reply, 'ETIMEDOUT');
        hung.add(release);
        // Forget it once the client gives up (real sockets only; inject() has none).
        const socket: Partial<Socket> | undefined = req.raw.socket;
        if (socket && typeof socket.destroy === 'function') req.raw.socket.once('close', () => hung.delete(release));
        logHijacked(req, 'timeout');
        return reply;
      }
      case 'reset': {
        reply.hijack();
        logHijacked(req, 'reset');
        hangUp(req, reply, 'ECONNRESET');
        return reply;
      }
    }
  }

  app.addHook('onResponse', async (req, reply) => {
    if (req.url.startsWith(ADMIN_PREFIX)) return;
    const fault = faultOf.get(req);
    stats.recordResponse({
      method: req.method,
      path: pathOf(req.url),
      url: req.url,
      status: reply.statusCode,
      at: arrivedAt.get(req) ?? opts.clock(),
      requestId: req.id,
      ...(Array.isArray(req.body) ? { items: req.body.length } : {}),
      ...(fault ? { fault } : {}),
    });
  });

  app.addHook('preClose', async () => {
    for (const release of hung) release();
    hung.clear();
  });
}

/**
 * Drops the connection. Over a real socket the client sees ECONNRESET / "socket hang up";
 * under `app.inject()` (no socket) the inject promise rejects.
 */
function hangUp(req: FastifyRequest, reply: FastifyReply, code: string): void {
  const socket: Partial<Socket> | undefined = req.raw.socket;
  if (socket && typeof socket.destroy === 'function') {
    socket.destroy();
    return;
  }
  reply.raw.destroy(Object.assign(new Error(`amoCRM emulator: connection dropped (${code})`), { code }));
}

function bearer(header: string | undefined): string | null {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return m?.[1] ?? null;
}

function sendTooMany(reply: FastifyReply, opts: ResolvedOptions): FastifyReply {
  const cfg = opts.rateLimit;
  const retryAfter = cfg === false ? 1 : cfg.retryAfterSec;
  if (cfg === false || cfg.retryAfterHeader) reply.header('Retry-After', String(retryAfter));
  if (cfg !== false && cfg.plainTextBody) {
    return reply.code(429).type('text/plain').send('Too Many Requests');
  }
  return reply
    .code(429)
    .type(PROBLEM_JSON)
    .send(
      problemBody(429, 'You have sent too many requests in a given amount of time. Please try again later.', {
        retry_after: retryAfter,
      }),
    );
}
