import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { InputError, IntakeUnavailableError } from '../sdk/errors.ts';
import { parseWith } from '../sdk/decode.ts';
import type { CallerLookup, DecideContext, IntakeDecision, IntakeReply } from '../sdk/channel.ts';
import type { ResolvedSource, RuntimeConfig } from '../config/load.ts';
import { RateLimitedError, type IntakeBudget, type IntakeStore } from '../pipeline/enqueue.ts';
import { bodyHash, hashKey, toStoredRaw } from '../pipeline/queues.ts';
import { rawEventFrom } from './raw-event.ts';
import { verifySource } from './verify-source.ts';

export interface HooksDeps {
  config: RuntimeConfig;
  intake: IntakeStore;
  now?: () => Date;
  /**
   * Per IP and source budget (`sources[].rateLimitPerMinute`), counted in Redis by the intake store: for an event in
   * the same round trip as its duplicate check, for anything else (rejected, handshake) on its own.
   */
  rateLimit?: boolean;
  /** Counts outcomes at the edge (metrics). */
  onIntake?: (e: { sourceId: string; channel: string; result: 'accepted' | 'duplicate' | 'handshake' | 'rejected' | 'unavailable'; status: number }) => void;
  /** Caller-ID for `decide` (routing replies); absent → connectors see an unknown caller. */
  lookupCaller?: (accountId: string, phoneE164: string) => Promise<CallerLookup | null>;
}

const EVENT: IntakeDecision = { kind: 'event' };

/** Requests per minute per client IP for a source: its own setting, else by kind (see `sources[].rateLimitPerMinute`). */
export function sourceBudget(src: ResolvedSource | undefined): number {
  if (!src) return 60; // unknown source ids: guessing URLs is counted tightly
  return src.config.rateLimitPerMinute ?? (src.connector.kind === 'form' ? 120 : 3000);
}

/**
 * `/hooks/:channel/:sourceId[/*]`. Scoped: its content-type parser keeps the exact bytes for every media type
 * (signatures are computed over them), without touching the parsers of other routes.
 */
export async function hooksPlugin(app: FastifyInstance, deps: HooksDeps): Promise<void> {
  const now = deps.now ?? (() => new Date());
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  type Result = Parameters<NonNullable<HooksDeps['onIntake']>>[0]['result'];
  type Params = { channel: string; sourceId: string; '*'?: string };
  const count = (p: Params, result: Result, status: number): void => deps.onIntake?.({ sourceId: p.sourceId, channel: p.channel, result, status });
  /** For answers that store nothing: true when the budget is spent (429 sent instead). */
  const limited = async (p: Params, budget: IntakeBudget | undefined, reply: FastifyReply): Promise<boolean> => {
    if (!budget || !deps.intake.charge) return false;
    // A Redis outage must not turn a 4xx into a 500: the request is then answered as it would have been.
    const waitMs = await deps.intake.charge(budget).catch(() => 0);
    if (waitMs === 0) return false;
    count(p, 'rejected', 429);
    await sendLimited(reply, waitMs);
    return true;
  };
  // What `decide` sees besides the payload depends on the source only: built once per source, not per request.
  const decideContexts = new Map<string, DecideContext<unknown>>();
  const decideContext = (src: ResolvedSource): DecideContext<unknown> => {
    let ctx = decideContexts.get(src.config.id);
    if (!ctx) {
      const accountId = src.crmAccountId;
      ctx = {
        settings: src.settings,
        source: src.ref,
        defaultRegion: deps.config.defaultRegion,
        lookupCaller: (phone) => (deps.lookupCaller && accountId ? deps.lookupCaller(accountId, phone) : Promise.resolve(null)),
      };
      decideContexts.set(src.config.id, ctx);
    }
    return ctx;
  };

  const handler = async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const params = req.params as Params;
    const src = deps.config.sources.get(params.sourceId);
    // Unknown sources get a small budget too: guessing source ids or secrets is counted like any other request.
    const budget: IntakeBudget | undefined = deps.rateLimit ? { sourceId: params.sourceId, client: req.ip, max: sourceBudget(src), clientMax: deps.config.raw.gateway.rateLimitPerMinute, windowMs: 60_000 } : undefined;
    // Polled channels (IMAP) have no webhook: accepting posts there would let anyone inject "mail".
    if (!src || src.connector.id !== params.channel || src.connector.intake.mode !== 'webhook') {
      if (await limited(params, budget, reply)) return;
      count(params, 'rejected', 404);
      await reply.code(404).send({ error: { code: 'LG_ERR_UNKNOWN_SOURCE', message: `no source "${params.sourceId}" for channel "${params.channel}": check the webhook URL in the sender's settings` } });
      return;
    }
    const allowed = src.connector.intake.methods ?? ['POST'];
    if (!allowed.includes(req.method as 'GET' | 'POST')) {
      if (await limited(params, budget, reply)) return;
      count(params, 'rejected', 405);
      await reply.code(405).header('allow', allowed.join(', ')).send({ error: { code: 'LG_ERR_FIELD', field: 'method', expected: allowed.join(' or '), message: `method ${req.method} not accepted here` } });
      return;
    }
    const receivedAt = now();
    const raw = rawEventFrom(req, params['*'] ? `/${params['*']}` : '', receivedAt);
    try {
      verifySource(src, raw, receivedAt);
      const decoded = await src.connector.decode(raw);
      const payload = parseWith(src.connector.payload, decoded);
      const decision: IntakeDecision = src.connector.decide?.(payload, raw, decideContext(src)) ?? EVENT;
      if (decision.kind === 'handshake') {
        if (await limited(params, budget, reply)) return;
        count(params, 'handshake', decision.reply.status);
        await sendReply(reply, decision.reply);
        return;
      }
      if (decision.kind === 'query') {
        if (await limited(params, budget, reply)) return;
        const answer = (await respondWithin(decision.respond, receivedAt, decision.deadlineMs ?? 1_000, now, (e) => req.log.warn({ source: src.config.id, err: e }, 'sync answer failed: default answer sent'))) ?? decision.reply;
        count(params, 'handshake', answer.status);
        await sendReply(reply, answer);
        return;
      }
      const eventId = src.connector.eventId(payload, raw) ?? `sha256:${bodyHash(raw.body, raw.subPath)}`;
      const eventHash = hashKey(eventId);
      const result = await deps.intake.put({ sourceId: src.config.id, connector: src.connector.id, eventId, eventHash, raw: toStoredRaw(raw) }, budget);
      req.log.info({ source: src.config.id, channel: src.connector.id, event: eventHash, result }, 'event stored');
      // A synchronous answer (routing) only once the event is durably stored, within the sender's deadline.
      const answer = decision.respond ? ((await respondWithin(decision.respond, receivedAt, decision.deadlineMs ?? 1_000, now, (e) => req.log.warn({ source: src.config.id, err: e }, 'sync reply failed: default answer sent'))) ?? decision.reply) : decision.reply;
      count(params, result, answer?.status ?? 200);
      if (answer) await sendReply(reply, answer);
      else await reply.code(200).send(result === 'duplicate' ? { ok: true, event: eventHash, duplicate: true } : { ok: true, event: eventHash });
    } catch (err) {
      if (err instanceof RateLimitedError) {
        count(params, 'rejected', 429);
        await sendLimited(reply, err.retryAfterMs);
        return;
      }
      if (err instanceof IntakeUnavailableError) {
        count(params, 'unavailable', 503);
        req.log.error({ source: src.config.id, err: err.message }, 'event store unavailable: answering 503');
        await reply.code(503).header('retry-after', '5').send({ error: { code: err.code, message: 'temporarily unable to store the event; retry later' } });
        return;
      }
      if (err instanceof InputError) {
        if (await limited(params, budget, reply)) return;
        count(params, 'rejected', err.statusCode);
        req.log.warn({ source: src.config.id, code: err.code, field: err.field, status: err.statusCode }, 'request rejected');
        await reply.code(err.statusCode).send(err.toJSON());
        return;
      }
      throw err;
    }
  };

  // Per IP and per source (one noisy site cannot starve another source's budget), counted by the intake store:
  // @fastify/rate-limit would cost a Redis round trip of its own on every event.
  for (const url of ['/hooks/:channel/:sourceId', '/hooks/:channel/:sourceId/*']) app.route({ method: ['GET', 'POST'], url, handler });
}

/** The same answer @fastify/rate-limit gives elsewhere (app.ts error handler), with Retry-After in seconds. */
async function sendLimited(reply: FastifyReply, waitMs: number): Promise<void> {
  const secs = Math.max(1, Math.ceil(waitMs / 1000));
  await reply.code(429).header('retry-after', String(secs)).send({ error: { code: 'LG_ERR_RATE_LIMIT', message: `Rate limit exceeded, retry in ${secs} s` } });
}

/** Runs `respond` within what is left of `deadlineMs` since receipt; null on timeout or failure. */
async function respondWithin(respond: () => Promise<IntakeReply | null>, receivedAt: Date, deadlineMs: number, now: () => Date, onError: (e: string) => void): Promise<IntakeReply | null> {
  const leftMs = deadlineMs - (now().getTime() - receivedAt.getTime());
  if (leftMs <= 0) return null;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<null>((resolve) => {
    timer = setTimeout(() => {
      onError(`no answer within ${deadlineMs} ms`);
      resolve(null);
    }, leftMs);
  });
  const work = respond().catch((e: unknown) => {
    onError((e as Error).message ?? String(e));
    return null;
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function sendReply(reply: FastifyReply, r: { status: number; contentType?: string; headers?: Record<string, string>; body: string }): Promise<void> {
  reply.code(r.status).header('content-type', r.contentType ?? 'text/plain; charset=utf-8');
  for (const [k, v] of Object.entries(r.headers ?? {})) reply.header(k, v);
  await reply.send(r.body);
}
