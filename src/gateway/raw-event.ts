import type { FastifyRequest } from 'fastify';
import type { RawEvent } from '../sdk/channel.ts';

/** Builds the RawEvent from a Fastify request whose body was read as exact bytes. */
export function rawEventFrom(req: FastifyRequest, subPath: string, receivedAt: Date): RawEvent {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) {
    if (v === undefined) continue;
    headers[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : String(v);
  }
  const query: Record<string, string> = {};
  const q = req.query as Record<string, unknown> | undefined;
  for (const [k, v] of Object.entries(q ?? {})) {
    if (typeof v === 'string') query[k] = v;
    else if (Array.isArray(v) && typeof v[0] === 'string') query[k] = v[0];
  }
  const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
  return { method: req.method, subPath, headers, query, body, receivedAt, ip: req.ip };
}
