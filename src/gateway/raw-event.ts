import type { FastifyRequest } from 'fastify';
import type { RawEvent } from '../sdk/channel.ts';

/** Builds the RawEvent from a Fastify request whose body was read as exact bytes. */
export function rawEventFrom(req: FastifyRequest, subPath: string, receivedAt: Date): RawEvent {
  const query: Record<string, string> = {};
  const q = req.query as Record<string, unknown> | undefined;
  for (const k in q) {
    const v = q[k];
    if (typeof v === 'string') query[k] = v;
    else if (Array.isArray(v) && typeof v[0] === 'string') query[k] = v[0];
  }
  const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
  return { method: req.method, subPath, headers: stringHeaders(req.headers), query, body, receivedAt, ip: req.ip };
}

/**
 * Node's parser already lower-cases names and joins repeated headers, except a few (set-cookie) it keeps as
 * arrays: the common all-string case is used as is (read-only from here on), no copy per request.
 */
function stringHeaders(h: FastifyRequest['headers']): Readonly<Record<string, string>> {
  for (const k in h) {
    if (typeof h[k] === 'string') continue;
    const out: Record<string, string> = {};
    for (const [name, v] of Object.entries(h)) if (v !== undefined) out[name] = Array.isArray(v) ? v.join(', ') : String(v);
    return out;
  }
  return h as Record<string, string>;
}
