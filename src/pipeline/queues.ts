import { isUtf8 } from 'node:buffer';
import crypto, { createHash } from 'node:crypto';
import { z } from 'zod';
import { OutcomeSchema } from '../sdk/lead.ts';
import type { RawEvent } from '../sdk/channel.ts';

/** Queue names. Both live under the hash-tagged prefix, so Redis Cluster keeps each queue in one slot. */
export const QUEUE_INTAKE = 'intake';
export const QUEUE_DELIVER = 'deliver';
/** Delayed checks of new leads' follow-up tasks (src/pipeline/reassign.processor.ts). */
export const QUEUE_REASSIGN = 'reassign';
/** Replies to the sender (Telegram answers, src/pipeline/respond.ts). */
export const QUEUE_RESPOND = 'respond';
/** Every queue an operator sees: the queue board, the queue gauges, `leadgate jobs failed` / `replay`, `doctor`. */
export const OPERATED_QUEUES: readonly string[] = [QUEUE_INTAKE, QUEUE_DELIVER, QUEUE_REASSIGN, QUEUE_RESPOND];

/**
 * A raw event as stored durably by the gateway: its exact bytes, so a fixed normaliser can replay it. The body is
 * kept as text when it is valid UTF-8 (nearly always: smaller, and no base64 work per event), else as base64.
 */
export const StoredEventSchema = z.object({
  sourceId: z.string(),
  connector: z.string(),
  eventId: z.string(),
  eventHash: z.string(),
  raw: z.object({
    method: z.string(),
    subPath: z.string(),
    headers: z.record(z.string(), z.string()),
    query: z.record(z.string(), z.string()),
    /** The body when it is valid UTF-8. */
    body: z.string().optional(),
    /** The body otherwise (and in events stored before text bodies), base64. */
    bodyB64: z.string().optional(),
    receivedAt: z.string(),
    ip: z.string().optional(),
  }),
});
export type StoredEvent = z.infer<typeof StoredEventSchema>;

export const DeliverJobSchema = z.object({
  accountId: z.string(),
  sourceId: z.string(),
  /** `<sourceId>:<eventHash>:<outcome index>`: the key of every step journal and lock for this delivery. */
  deliveryKey: z.string(),
  receivedAt: z.string(),
  outcome: OutcomeSchema,
});
export type DeliverJob = z.infer<typeof DeliverJobSchema>;

/**
 * Headers never stored with the event: the first ones authenticate the sender and are useless after the gateway;
 * the rest describe the hop, not the event (every stored byte is written per event and kept for days).
 */
const DROP_HEADERS = new Set([
  'authorization', 'cookie', 'x-leadgate-secret', 'x-telegram-bot-api-secret-token', 'x-leadgate-signature', 'signature',
  'host', 'connection', 'content-length', 'keep-alive', 'transfer-encoding', 'te', 'upgrade', 'expect', 'accept-encoding', 'proxy-connection',
]);

export function toStoredRaw(e: RawEvent): StoredEvent['raw'] {
  const headers: Record<string, string> = {};
  for (const k in e.headers) if (!DROP_HEADERS.has(k)) headers[k] = e.headers[k]!;
  const query: Record<string, string> = {};
  for (const k in e.query) if (k !== 'secret') query[k] = e.query[k]!;
  return {
    method: e.method,
    subPath: e.subPath,
    headers,
    query,
    ...(isUtf8(e.body) ? { body: e.body.toString('utf8') } : { bodyB64: e.body.toString('base64') }),
    receivedAt: e.receivedAt.toISOString(),
    ...(e.ip ? { ip: e.ip } : {}),
  };
}

export function fromStoredRaw(r: StoredEvent['raw']): RawEvent {
  return {
    method: r.method,
    subPath: r.subPath,
    headers: r.headers,
    query: r.query,
    body: r.body !== undefined ? Buffer.from(r.body, 'utf8') : Buffer.from(r.bodyB64 ?? '', 'base64'),
    receivedAt: new Date(r.receivedAt),
    ...(r.ip ? { ip: r.ip } : {}),
  };
}

/** Short stable hash for keys: event ids can be long or contain `:`. */
export function hashKey(s: string): string {
  // One-shot crypto.hash where Node has it (≥ 20.12): this runs for every request at the gateway.
  return (typeof crypto.hash === 'function' ? crypto.hash('sha256', s, 'base64url') : createHash('sha256').update(s).digest('base64url')).slice(0, 22);
}

export function bodyHash(body: Buffer, subPath: string): string {
  return createHash('sha256').update(subPath).update('\n').update(body).digest('hex');
}
