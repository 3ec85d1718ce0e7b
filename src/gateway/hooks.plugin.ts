import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { InputError, IntakeUnavailableError } from '../sdk/errors.ts';
import { parseWith } from '../sdk/decode.ts';
import type { CallerLookup, DecideContext, IntakeDecision, IntakeReply } from '../sdk/channel.ts';
import type { RuntimeConfig } from '../config/load.ts';
import type { IntakeStore } from '../pipeline/enqueue.ts';
import { bodyHash, hashKey, toStoredRaw } from '../pipeline/queues.ts';
import { rawEventFrom } from './raw-event.ts';
import { verifySource } from './verify-source.ts';

export interface HooksDeps {
  config: RuntimeConfig;
  intake: IntakeStore;
  now?: () => Date;
  /** Counts outcomes at the edge (metrics). */
  /** Route-level rate limits (needs @fastify/rate-limit registered on the parent). */
  rateLimit?: boolean;
  onIntake?: (e: { sourceId: string; channel: string; result: 'accepted' | 'duplicate' | 'handshake' | 'rejected' | 'unavailable'; status: number }) => void;
  /** Caller-ID for `decide` (routing replies); absent → connectors see an unknown caller. */
  lookupCaller?: (accountId: string, phoneE164: string) => Promise<CallerLookup | null>;
}

/**
 * `/hooks/:channel/:sourceId[/*]`. Scoped: its content-type parser keeps the exact bytes for every media type
 * (signatures are computed over them), without touching the parsers of other routes.
 */
export async function hooksPlugin(app: FastifyInstance, deps: HooksDeps): Promise<void> {
  const now = deps.now ?? (() => new Date());
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  const handler = async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const params = req.params as { channel: string; sourceId: string; '*'?: string };
    const src = deps.config.sources.get(params.sourceId);
    const count = (result: Parameters<NonNullable<HooksDeps['onIntake']>>[0]['result'], status: number): void =>
      deps.onIntake?.({ sourceId: params.sourceId, channel: params.channel, result, status });
    // Polled channels (IMAP) have no webhook: accepting posts there would let anyone inject "mail".
    if (!src || src.connector.id !== params.channel || src.connector.intake.mode !== 'webhook') {
      count('rejected', 404);
      await reply.code(404).send({ error: { code: 'LG_ERR_UNKNOWN_SOURCE', message: `no source "${params.sourceId}" for channel "${params.channel}": check the webhook URL in the sender's settings` } });
      return;
    }
    const allowed = src.connector.intake.methods ?? ['POST'];
    if (!allowed.includes(req.method as 'GET' | 'POST')) {
      count('rejected', 405);
      await reply.code(405).header('allow', allowed.join(', ')).send({ error: { code: 'LG_ERR_FIELD', field: 'method', expected: allowed.join(' or '), message: `method ${req.method} not accepted here` } });
      return;
    }
    const receivedAt = now();
    const raw = rawEventFrom(req, params['*'] ? `/${params['*']}` : '', receivedAt);
    try {
      verifySource(src, raw, receivedAt);
      const decoded = await src.connector.decode(raw);
      const payload = parseWith(src.connector.payload, decoded);
      const accountId = src.crmAccountId;
      const decideCtx: DecideContext<unknown> = {
        settings: src.settings,
        source: src.ref,
        defaultRegion: deps.config.defaultRegion,
        lookupCaller: (phone) => (deps.lookupCaller && accountId ? deps.lookupCaller(accountId, phone) : Promise.resolve(null)),
      };
      const decision: IntakeDecision = src.connector.decide?.(payload, raw, decideCtx) ?? { kind: 'event' };
      if (decision.kind === 'handshake') {
        count('handshake', decision.reply.status);
        await sendReply(reply, decision.reply);
        return;
      }
      const eventId = src.connector.eventId(payload, raw) ?? `sha256:${bodyHash(raw.body, raw.subPath)}`;
      const eventHash = hashKey(eventId);
      const result = await deps.intake.put({ sourceId: src.config.id, connector: src.connector.id, eventId, eventHash, raw: toStoredRaw(raw) });
      req.log.info({ source: src.config.id, channel: src.connector.id, event: eventHash, result }, 'event stored');
      // A synchronous answer (routing) only once the event is durably stored, within the sender's deadline.
      const answer = decision.respond ? ((await respondWithin(decision.respond, receivedAt, decision.deadlineMs ?? 1_000, now, (e) => req.log.warn({ source: src.config.id, err: e }, 'sync reply failed: default answer sent'))) ?? decision.reply) : decision.reply;
      count(result, answer?.status ?? 200);
      if (answer) await sendReply(reply, answer);
      else await reply.code(200).send({ ok: true, event: eventHash, ...(result === 'duplicate' ? { duplicate: true } : {}) });
    } catch (err) {
      if (err instanceof IntakeUnavailableError) {
        count('unavailable', 503);
        req.log.error({ source: src.config.id, err: err.message }, 'event store unavailable: answering 503');
        await reply.code(503).header('retry-after', '5').send({ error: { code: err.code, message: 'temporarily unable to store the event; retry later' } });
        return;
      }
      if (err instanceof InputError) {
        count('rejected', err.statusCode);
        req.log.warn({ source: src.config.id, code: err.code, field: err.field, status: err.statusCode }, 'request rejected');
        await reply.code(err.statusCode).send(err.toJSON());
        return;
      }
      throw err;
    }
  };

  for (const url of ['/hooks/:channel/:sourceId', '/hooks/:channel/:sourceId/*']) {
    app.route({
      method: ['GET', 'POST'],
      url,
      handler,
      ...(deps.rateLimit
        ? {
            config: {
              rateLimit: {
                // Per IP and per source: one noisy site cannot starve another source's budget.
                keyGenerator: (req: FastifyRequest) => `${req.ip}|${(req.params as { sourceId?: string }).sourceId ?? ''}`,
                max: (_req: FastifyRequest, key: string) => deps.config.sources.get(key.split('|')[1] ?? '')?.config.rateLimitPerMinute ?? 60,
                timeWindow: 60_000,
              },
            },
          }
        : {}),
    });
  }
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
