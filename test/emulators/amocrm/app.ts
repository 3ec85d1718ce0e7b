/**
 * `buildAmoEmulator(options)`: a Fastify app that behaves like one amoCRM account's API v4
 * (reference: /work/shared/reference/amocrm.md). It never listens; tests use `app.inject`
 * or `start.ts`.
 */
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import qs from 'qs';
import { Faults } from './faults.ts';
import { installGate } from './gate.ts';
import { baseUrl, sendProblem } from './http.ts';
import { RateLimiter } from './limiter.ts';
import { resolveOptions, type AmoEmulatorOptions, type ResolvedOptions } from './options.ts';
import { accountRoutes } from './routes/account.ts';
import { adminRoutes } from './routes/admin.ts';
import { callRoutes } from './routes/calls.ts';
import { complexRoutes } from './routes/complex.ts';
import type { RouteDeps } from './routes/deps.ts';
import { entityRoutes } from './routes/entities.ts';
import { linkRoutes } from './routes/links.ts';
import { noteRoutes } from './routes/notes.ts';
import { oauthRoutes } from './routes/oauth.ts';
import { taskRoutes } from './routes/tasks.ts';
import { unsortedRoutes } from './routes/unsorted.ts';
import { AmoState } from './state.ts';
import { EmulatorStats } from './stats.ts';

export interface AmoEmulator {
  app: FastifyInstance;
  state: AmoState;
  faults: Faults;
  stats: EmulatorStats;
  /** The first long-lived token accepted after a reset (use it as `Bearer`). */
  readonly token: string;
  options: ResolvedOptions;
  /** Empty account, fresh sequences and tokens, zeroed stats, no faults, no block. */
  reset(): void;
}

export function buildAmoEmulator(options: AmoEmulatorOptions = {}): AmoEmulator {
  const opts = resolveOptions(options);
  const state = new AmoState(opts);
  const rl = opts.rateLimit;
  const stats = new EmulatorStats(rl === false ? 1000 : rl.windowMs, rl === false ? Infinity : rl.perWindow);
  const limiter = new RateLimiter(rl);
  const faults = new Faults(state, limiter, opts.clock);

  const app = Fastify({
    logger: opts.logger,
    genReqId: () => state.nextRequestId(),
    forceCloseConnections: true,
    routerOptions: {
      // PHP-style nested query keys: filter[entity_id][]=1, order[created_at]=desc.
      querystringParser: (s: string) => qs.parse(s, { depth: 5, arrayLimit: 250 }),
    },
  });

  // The PHP OAuth client (league/oauth2-client) posts the token request form-encoded.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(typeof body === 'string' ? body : body.toString('utf8'))));
  });

  app.setErrorHandler((err: FastifyError, req, reply) => {
    if (err.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') return sendProblem(reply, 400, 'Request data can not be empty');
    if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return sendProblem(reply, 415, `Unsupported Media Type: ${req.headers['content-type'] ?? ''}`);
    if (err.statusCode === 400 || err instanceof SyntaxError) return sendProblem(reply, 400, 'Syntax error');
    req.log.error(err);
    return reply.code(500).type('application/problem+json').send({
      title: 'ErrInternalServer',
      status: 500,
      detail: err.message,
      trace_id: req.id,
    });
  });

  app.setNotFoundHandler((req, reply) => sendProblem(reply, 404, `Cannot ${req.method} ${baseUrl(req)}${req.url}`));

  const reset = (): void => {
    state.reset();
    stats.reset();
    faults.clear();
    limiter.reset();
  };

  const deps: RouteDeps = { opts, state, stats, faults };
  installGate(app, { opts, state, stats, faults, limiter });
  oauthRoutes(app, deps);
  accountRoutes(app, deps);
  entityRoutes(app, deps);
  complexRoutes(app, deps);
  unsortedRoutes(app, deps);
  noteRoutes(app, deps);
  taskRoutes(app, deps);
  callRoutes(app, deps);
  linkRoutes(app, deps);
  adminRoutes(app, deps, reset);

  return {
    app,
    state,
    faults,
    stats,
    options: opts,
    get token(): string {
      const t = state.longLivedTokens[0];
      if (t === undefined) throw new Error('amoCRM emulator: no long-lived token configured (longLivedTokens: [])');
      return t;
    },
    reset,
  };
}
