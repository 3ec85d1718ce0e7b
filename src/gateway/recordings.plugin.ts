import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { openRecording, RecordingTooLargeError, type Recordings } from '../pipeline/recordings.ts';

/**
 * `GET /recordings/<token>.mp3`: the link written on CRM cards. The token is an HMAC-signed provider handle;
 * each request asks the provider for a fresh link and streams the file (size-capped) to the player. URLs are
 * never logged: provider links carry keys, and the token itself grants listening.
 */
export async function recordingsPlugin(app: FastifyInstance, o: { recordings: Recordings; timeoutMs: number }): Promise<void> {
  // A wildcard, not `:token`: provider ids make tokens longer than Fastify's 100-character parameter limit.
  // Each play costs a provider API call (Zadarma allows 100 a minute): a leaked link must not burn that budget.
  const config = { rateLimit: { max: 30, timeWindow: 60_000 } };
  app.get('/recordings/*', { config }, async (req: FastifyRequest, reply: FastifyReply) => {
    const token = (req.params as { '*': string })['*'];
    const h = o.recordings.readToken(token);
    if (!h) return reply.code(404).send({ error: { code: 'LG_ERR_FIELD', field: 'token', message: 'unknown recording link' } });
    let loc;
    try {
      loc = await o.recordings.locate(h.sourceId, h.ref);
    } catch (err) {
      req.log.warn({ source: h.sourceId, err: (err as Error).name }, 'recording: provider API failed');
      return reply.code(502).header('retry-after', '30').send({ error: { code: 'LG_ERR_CRM_RETRY', message: 'the telephony provider did not give the recording; try again shortly' } });
    }
    if (!loc) return reply.code(404).send({ error: { code: 'LG_ERR_UNKNOWN_SOURCE', message: 'the source of this recording is no longer configured' } });
    if (loc.kind === 'pending') return reply.code(503).header('retry-after', String(Math.ceil(loc.retryAfterMs / 1000))).send({ error: { code: 'LG_ERR_CRM_RETRY', message: 'the recording is still being saved by the provider; try again in a minute' } });
    if (loc.kind === 'gone') return reply.code(410).send({ error: { code: 'LG_ERR_FIELD', field: 'token', message: 'the provider no longer has this recording' } });
    try {
      const range = typeof req.headers.range === 'string' ? req.headers.range : undefined;
      const file = await openRecording(loc.url, { maxBytes: o.recordings.maxBytes, timeoutMs: o.timeoutMs, ...(range ? { range } : {}) });
      reply.code(file.status === 206 ? 206 : 200);
      reply.header('content-type', file.headers['content-type'] ?? 'audio/mpeg');
      for (const k of ['content-length', 'content-range', 'accept-ranges'] as const) if (file.headers[k]) reply.header(k, file.headers[k]);
      reply.header('cache-control', 'private, no-store');
      reply.header('content-disposition', 'inline; filename="call-recording.mp3"');
      file.body.on('error', (err) => req.log.warn({ source: h.sourceId, err: err.name }, 'recording: stream cut'));
      return reply.send(file.body);
    } catch (err) {
      if (err instanceof RecordingTooLargeError) return reply.code(502).send({ error: { code: 'LG_ERR_BODY_TOO_LARGE', message: `the recording is larger than telephony.recordings.maxBytes (${o.recordings.maxBytes})` } });
      req.log.warn({ source: h.sourceId, err: (err as Error).name }, 'recording: download failed');
      return reply.code(502).send({ error: { code: 'LG_ERR_CRM_RETRY', message: 'the recording could not be downloaded; try again shortly' } });
    }
  });
}
