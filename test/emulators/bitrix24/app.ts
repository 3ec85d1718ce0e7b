/**
 * Bitrix24 REST v2 emulator as a Fastify app that never listens (tests use `app.inject`;
 * `start.ts` listens). Vendor facts: ../../../../shared/reference/bitrix24.md, checked against
 * bitrix24/b24restdocs (https://apidocs.bitrix24.com/).
 *
 * Routes
 * - `/rest/<userId>/<code>/<method>[.json]` — inbound webhook;
 * - `/rest/<method>[.json]` with `auth=<access_token>` in the query or body — OAuth app;
 * - `/oauth/token/` — the OAuth server (`oauth.bitrix.info` on a real install), GET or POST.
 * Parameters: query string merged with a JSON or form-urlencoded body (PHP brackets, parsed with qs).
 *
 * Pipeline of a REST request: portal-moved 302 trap → latency → one-shot faults → leaky bucket
 * (every HTTP request, a batch included, counts once) → auth → dispatcher (scope, auth type,
 * operating budget, method) → envelope `{result, total?, next?, time}` or `{error, error_description}`.
 */
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { setTimeout as sleep } from 'node:timers/promises';
import { Dispatcher } from './dispatch.ts';
import { FaultController, normaliseMethodName, type FaultAction } from './faults.ts';
import { OperatingBudget, RateLimiter } from './limits.ts';
import { resolveOptions, type BitrixEmulatorOptions, type ResolvedOptions } from './options.ts';
import { isRecord, listValues, parseQueryString } from './params.ts';
import { BitrixState } from './state.ts';
import { EmulatorStats, type RequestLogEntry } from './stats.ts';
import type { AuthInfo, Params } from './types.ts';

export interface BitrixEmulator {
  app: FastifyInstance;
  state: BitrixState;
  faults: FaultController;
  stats: EmulatorStats;
  /** Resolved options; `baseUrl` follows `setBaseUrl`. */
  options: ResolvedOptions;
  /** Where the portal is reachable (OAuth `client_endpoint`, upload URLs). */
  setBaseUrl(url: string): void;
  /** `<baseUrl>/rest/<userId>/<code>/` of the first configured webhook. */
  webhookUrl(): string;
  /** Between tests: CRM data, stats, faults, rate bucket and operating budgets back to the start (tokens kept). */
  reset(): void;
}

/** Bodies Bitrix24 answers with; `error_description` texts from docs `_includes/system-errors.md`. */
export const ERROR_BODIES = {
  QUERY_LIMIT_EXCEEDED: { error: 'QUERY_LIMIT_EXCEEDED', error_description: 'Too many requests' },
  NO_AUTH_FOUND: { error: 'NO_AUTH_FOUND', error_description: 'Wrong authorization data' },
  expired_token: { error: 'expired_token', error_description: 'The access token provided has expired.' },
  invalid_token: { error: 'invalid_token', error_description: 'The access token provided is invalid.' },
  INTERNAL_SERVER_ERROR: { error: 'INTERNAL_SERVER_ERROR', error_description: 'Internal server error' },
} as const;

const NGINX_TITLES: Record<number, string> = {
  502: '502 Bad Gateway',
  503: '503 Service Temporarily Unavailable',
  504: '504 Gateway Time-out',
};

function nginxPage(status: number): string {
  const title = NGINX_TITLES[status] ?? `${status} Error`;
  return `<html>\r\n<head><title>${title}</title></head>\r\n<body>\r\n<center><h1>${title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n`;
}

function parseBody(request: FastifyRequest): { params: Params; parseError?: string } {
  const raw = request.body;
  if (typeof raw !== 'string' || raw.trim() === '') return { params: {} };
  const type = String(request.headers['content-type'] ?? '').toLowerCase();
  if (type.includes('json')) {
    try {
      const parsed: unknown = JSON.parse(raw);
      return isRecord(parsed) && !Array.isArray(parsed) ? { params: parsed as Params } : { params: {}, parseError: 'JSON body is not an object' };
    } catch {
      return { params: {}, parseError: 'JSON body does not parse' };
    }
  }
  if (type === '' || type.includes('x-www-form-urlencoded')) return { params: parseQueryString(raw) };
  return { params: {}, parseError: `unsupported content type ${type}` };
}

export function buildBitrixEmulator(options: BitrixEmulatorOptions = {}): BitrixEmulator {
  const opts = resolveOptions(options);
  const state = new BitrixState(opts);
  const stats = new EmulatorStats();
  const faults = new FaultController({
    expireAccessTokens: () => state.oauth.expireAll(),
    revokeAccessTokens: () => state.oauth.revokeAll(),
  });
  const limiter = new RateLimiter(opts.rateLimit);
  const operating = new OperatingBudget(opts.operatingLimitSec);
  const dispatcher = new Dispatcher({ state, opts, faults, stats, operating });

  const app = Fastify({
    logger: false,
    bodyLimit: 64 * 1024 * 1024,
    forceCloseConnections: true,
    routerOptions: { querystringParser: parseQueryString, ignoreTrailingSlash: true },
  });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));
  app.addHook('preClose', (done) => {
    faults.releaseHangs();
    done();
  });

  /** Apply a one-shot fault; returns true when the reply is taken care of. */
  async function applyFault(action: FaultAction, request: FastifyRequest, reply: FastifyReply, entry: RequestLogEntry): Promise<boolean> {
    switch (action.kind) {
      case 'status': {
        entry.status = action.status;
        if (action.body !== undefined) {
          const type = action.contentType ?? (typeof action.body === 'string' ? 'text/html' : 'application/json');
          stats.record(entry);
          reply.code(action.status).type(type).send(action.body);
        } else if (action.status >= 502) {
          stats.record(entry);
          reply.code(action.status).type('text/html').send(nginxPage(action.status));
        } else {
          entry.error = 'INTERNAL_SERVER_ERROR';
          stats.record(entry);
          reply.code(action.status).send(ERROR_BODIES.INTERNAL_SERVER_ERROR);
        }
        return true;
      }
      case 'query-limit':
        stats.injectedLimitErrors += 1;
        Object.assign(entry, { status: 503, error: 'QUERY_LIMIT_EXCEEDED' });
        stats.record(entry);
        reply.code(503).send(ERROR_BODIES.QUERY_LIMIT_EXCEEDED);
        return true;
      case 'hang':
        reply.hijack();
        entry.status = 0;
        stats.record(entry);
        await faults.hang();
        request.raw.socket?.destroy();
        reply.raw.destroy();
        return true;
      case 'reset':
        reply.hijack();
        entry.status = 0;
        stats.record(entry);
        request.raw.socket?.destroy();
        reply.raw.destroy();
        return true;
    }
  }

  async function handleRest(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const arrivedAt = opts.now();
    const [path = ''] = request.url.split('?');
    const segments = ((request.params as Record<string, string>)['*'] ?? '').split('/').filter(Boolean);
    const webhookPath = segments.length === 3 ? { userId: segments[0] ?? '', code: segments[1] ?? '' } : undefined;
    const method = segments.length === 1 || segments.length === 3 ? normaliseMethodName(segments[segments.length - 1] ?? '') : '';
    const entry: RequestLogEntry = {
      at: arrivedAt,
      httpMethod: request.method,
      host: request.headers.host ?? '',
      path,
      method,
      auth: 'none',
      status: 0,
      rateCounted: false,
      bucketLevel: limiter.level(request.ip, arrivedAt),
    };
    let deferredFault: FaultAction | undefined;
    const send = async (status: number, body: Record<string, unknown>): Promise<FastifyReply> => {
      if (deferredFault) {
        // The request ran; now the answer is lost the way the fault says.
        if (typeof body.error === 'string') entry.error = body.error;
        await applyFault(deferredFault, request, reply, entry);
        return reply;
      }
      entry.status = status;
      if (typeof body.error === 'string') entry.error = body.error;
      stats.record(entry);
      return reply.code(status).type('application/json; charset=utf-8').send(body);
    };

    const location = faults.redirectFor(request.headers.host, request.url);
    if (location) {
      stats.redirects += 1;
      entry.status = 302;
      stats.record(entry);
      return reply.code(302).header('location', location).type('text/html').send('');
    }
    const delay = faults.latencyMs(method);
    if (delay > 0) await sleep(delay);
    const fault = faults.take(method);
    if (fault?.afterExecution) deferredFault = fault;
    else if (fault && (await applyFault(fault, request, reply, entry))) return reply;

    const bucket = limiter.take(request.ip, opts.now());
    entry.rateCounted = bucket.allowed;
    entry.bucketLevel = bucket.level;
    if (!bucket.allowed) {
      stats.limitErrors += 1;
      return send(503, { ...ERROR_BODIES.QUERY_LIMIT_EXCEEDED });
    }

    const body = parseBody(request);
    const params: Params = { ...(request.query as Params), ...body.params };
    let auth: AuthInfo;
    if (webhookPath) {
      entry.auth = 'webhook';
      const hook = opts.webhooks.find((w) => String(w.userId) === webhookPath.userId && w.code === webhookPath.code);
      if (!hook) return send(401, { ...ERROR_BODIES.NO_AUTH_FOUND });
      auth = { kind: 'webhook', userId: hook.userId, scopes: hook.scopes, key: `webhook:${hook.userId}:${hook.code}` };
    } else {
      entry.auth = 'oauth';
      const token = typeof params.auth === 'string' ? params.auth : '';
      if (token === '') return send(401, { ...ERROR_BODIES.NO_AUTH_FOUND });
      const check = state.oauth.check(token);
      if (!check.ok) return send(401, { ...ERROR_BODIES[check.error] });
      auth = { kind: 'oauth', userId: check.userId, scopes: check.scopes, key: `app:${opts.oauth.clientId}`, accessToken: token };
    }
    delete params.auth;
    if (method === 'batch') entry.batchCommands = listValues(params.cmd).length;

    const outcome = dispatcher.call(method, params, auth, false);
    if (!outcome.ok) return send(outcome.error.status, { error: outcome.error.code, error_description: outcome.error.description });
    const envelope: Record<string, unknown> = { result: outcome.output.result };
    if (outcome.output.total !== undefined) envelope.total = outcome.output.total;
    if (outcome.output.next !== undefined) envelope.next = outcome.output.next;
    envelope.time = outcome.time;
    return send(200, envelope);
  }

  async function handleToken(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const entry: RequestLogEntry = {
      at: opts.now(),
      httpMethod: request.method,
      host: request.headers.host ?? '',
      path: request.url.split('?')[0] ?? '',
      method: 'oauth.token',
      auth: 'none',
      status: 0,
      rateCounted: false,
      bucketLevel: 0,
    };
    const delay = faults.latencyMs('oauth.token');
    if (delay > 0) await sleep(delay);
    const fault = faults.take('oauth.token');
    if (fault && (await applyFault(fault, request, reply, entry))) return reply;
    const params: Params = { ...(request.query as Params), ...parseBody(request).params };
    const { status, body } = state.oauth.grant(params);
    if (status === 200 && params.grant_type === 'refresh_token') stats.refreshCount += 1;
    entry.status = status;
    if ('error' in body) entry.error = body.error;
    stats.record(entry);
    return reply.code(status).type('application/json; charset=utf-8').send(body);
  }

  app.route({ method: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'], url: '/rest/*', handler: handleRest });
  app.route({ method: ['GET', 'POST'], url: '/oauth/token/', handler: handleToken });

  const emulator: BitrixEmulator = {
    app,
    state,
    faults,
    stats,
    options: opts,
    setBaseUrl(url) {
      opts.baseUrl = url.replace(/\/+$/, '');
    },
    webhookUrl() {
      const hook = opts.webhooks[0];
      if (!hook) throw new Error('bitrix24 emulator: no webhook configured (options.webhooks is empty)');
      return `${opts.baseUrl}/rest/${hook.userId}/${hook.code}/`;
    },
    reset() {
      state.reset();
      stats.reset();
      faults.clear();
      limiter.reset();
      operating.reset();
    },
  };
  return emulator;
}
