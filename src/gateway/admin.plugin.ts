/**
 * Operator tools on the gateway:
 * - `/admin/queues`: bull-board (jobs, failures with their reasons, retry) behind HTTP basic auth, user and password
 *   from `LEADGATE_ADMIN_USER` / `LEADGATE_ADMIN_PASSWORD`; without both it is not mounted and says so once.
 * - `/docs`: the OpenAPI description of the public routes (@fastify/swagger), JSON at `/docs/json`.
 */
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';

import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import { Queue } from 'bullmq';
import { requireAdmin } from './admin-auth.ts';

export const ADMIN_BASE_PATH = '/admin/queues';

export interface AdminOptions {
  /** A connection the board's queues may use (commands only, no blocking reads). */
  connection: Redis;
  prefix: string;
  queueNames: readonly string[];
  log?: Logger;
  env?: Readonly<Record<string, string | undefined>>;
}

/** Mounts bull-board at `/admin/queues` behind basic auth, or logs why it is off. */
export async function adminPlugin(app: FastifyInstance, o: AdminOptions): Promise<void> {
  const env = o.env ?? process.env;
  const user = env.LEADGATE_ADMIN_USER;
  const password = env.LEADGATE_ADMIN_PASSWORD;
  if (!user || !password) {
    o.log?.info(`admin UI ${ADMIN_BASE_PATH} disabled: set LEADGATE_ADMIN_USER and LEADGATE_ADMIN_PASSWORD to enable it`);
    return;
  }
  if (password.length < 12) o.log?.warn('LEADGATE_ADMIN_PASSWORD is shorter than 12 characters: the queue board can retry and delete jobs; use a long random value');
  const queues = o.queueNames.map((name) => new Queue(name, { connection: o.connection, prefix: o.prefix }));
  for (const q of queues) q.on('error', () => undefined); // the board shows Redis errors itself
  const serverAdapter = new FastifyAdapter();
  serverAdapter.setBasePath(ADMIN_BASE_PATH);
  createBullBoard({ queues: queues.map((q) => new BullMQAdapter(q)), serverAdapter, options: { uiConfig: { boardTitle: 'Leadgate queues' } } });
  await app.register(async (scope) => {
    await requireAdmin(scope, { user, password });
    await scope.register(serverAdapter.registerPlugin(), { prefix: ADMIN_BASE_PATH });
  });
  app.addHook('onClose', async () => {
    for (const q of queues) await q.close().catch(() => undefined);
  });
  o.log?.info(`admin UI at ${ADMIN_BASE_PATH} (basic auth, user ${user})`);
}

const ErrorBody = {
  type: 'object',
  properties: {
    error: {
      type: 'object',
      properties: {
        code: { type: 'string', description: 'Stable code, e.g. LG_ERR_FIELD, LG_ERR_SECRET_MISSING, LG_ERR_REDIS_UNAVAILABLE' },
        field: { type: 'string', description: 'The field that was wrong' },
        expected: { type: 'string', description: 'What was expected there' },
        message: { type: 'string' },
      },
      required: ['code', 'message'],
    },
  },
} as const;

const HOOK_DOC = {
  tags: ['intake'],
  summary: 'Receive one event from a sender',
  description:
    'The body is kept byte for byte (JSON, urlencoded with bracket keys, multipart or the vendor\'s own format; signatures are checked over the exact bytes). ' +
    '`200` means the event is durably stored in Redis; the same delivery sent again is answered 200 with `duplicate: true` and creates nothing. ' +
    'A source with a secret fails closed: `X-Leadgate-Secret` header or `?secret=` (signed vendors use their own signature headers). ' +
    'Some vendors get their own acknowledgement (Tilda `test`, Zadarma `zd_echo` echo, a redirect).',
  params: {
    type: 'object',
    properties: {
      channel: { type: 'string', description: 'Channel connector id: form, tilda, elementor, mango, zadarma, sipuni, uis, pbx, telegram' },
      sourceId: { type: 'string', description: 'The source id from `sources:` in leadgate.yaml' },
    },
    required: ['channel', 'sourceId'],
  },
  headers: { type: 'object', properties: { 'x-leadgate-secret': { type: 'string', description: 'The source secret, when the source has `secretEnv`' } } },
  response: {
    200: { description: 'Stored (or a duplicate of a stored event)', type: 'object', properties: { ok: { type: 'boolean' }, event: { type: 'string', description: 'Short hash of the event id' }, duplicate: { type: 'boolean' } } },
    400: { description: 'Bad input: names the field and what was expected', ...ErrorBody },
    401: { description: 'Secret or signature missing', ...ErrorBody },
    403: { description: 'Secret or signature wrong, or the request is stale', ...ErrorBody },
    404: { description: 'No such source for this channel', ...ErrorBody },
    413: { description: 'Body larger than gateway.bodyLimitBytes', ...ErrorBody },
    429: { description: 'Too many requests from this IP for this source (sources[].rateLimitPerMinute)', ...ErrorBody },
    503: { description: 'Redis did not take the event in time: nothing stored, retry (see Retry-After)', ...ErrorBody },
  },
} as const;

const DOCS: Record<string, Record<string, unknown>> = {
  '/hooks/:channel/:sourceId': HOOK_DOC,
  '/hooks/:channel/:sourceId/*': { ...HOOK_DOC, summary: 'Receive one event on a vendor sub-path (Mango `/events/call`, `/ping`…)' },
  '/healthz': { tags: ['operations'], summary: 'The process answers', response: { 200: { type: 'object', properties: { status: { type: 'string', enum: ['ok'] } } } } },
  '/readyz': {
    tags: ['operations'],
    summary: 'Redis takes writes: a 200 from /hooks would be honest',
    response: { 200: { type: 'object', properties: { status: { type: 'string' }, redis: { type: 'string' } } }, 503: { type: 'object', properties: { status: { type: 'string' }, redis: { type: 'string' } } } },
  },
  '/metrics': { tags: ['operations'], summary: 'Prometheus metrics of this process (text format)', produces: ['text/plain'] },
};

/**
 * OpenAPI at `/docs` (UI) and `/docs/json`. Must run before the routes are added: @fastify/swagger collects them
 * as they are declared. The hook routes carry no validation schema (they take raw bytes), so their description
 * is added here, to the document only.
 */
export async function registerDocs(app: FastifyInstance, o: { version?: string } = {}): Promise<void> {
  await app.register(swagger, {
    openapi: {
      info: { title: 'Leadgate', version: o.version ?? '0.1.0', description: 'Webhook gateway: every inquiry into the CRM, once. See README "Sending to the gateway".' },
      tags: [
        { name: 'intake', description: 'Webhooks from forms, PBXs, bots' },
        { name: 'operations', description: 'Health and metrics' },
      ],
    },
    transform: ({ schema, url, route }) => {
      const hide = url.startsWith('/docs') || url.startsWith(ADMIN_BASE_PATH) || route.method === 'HEAD';
      const doc = DOCS[url];
      // Routes with their own schema (lookups, CRM events…) are documented from it; the board and the UI are hidden.
      return { schema: { ...(schema ?? {}), ...(doc ?? {}), ...(hide ? { hide: true } : {}) } as typeof schema, url };
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
}
