import { createHmac } from 'node:crypto';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { ConfigError } from '../sdk/errors.ts';
import type { HttpClient } from '../sdk/crm.ts';
import type { RecordingLocation, RecordingRef } from '../sdk/channel.ts';
import type { RuntimeConfig } from '../config/load.ts';
import { createHttpClient } from '../infra/http.ts';
import { safeEqual } from '../gateway/verify-source.ts';

/**
 * Call recordings. The CRM card gets a link to the hub, `<publicBaseUrl>/recordings/<token>.mp3`, never the
 * provider's link: Mango's file links die after one download and Zadarma's after `lifetime`. The token is the
 * HMAC-signed provider handle (source + recording id); every play asks the provider for a fresh link and streams
 * the file through, size-capped. Nothing here logs a URL: provider links carry keys.
 */
export interface Recordings {
  /** Asks the source's connector for a fresh location; undefined when the connector has no resolver. */
  locate(sourceId: string, ref: RecordingRef): Promise<RecordingLocation | undefined>;
  /** The stable hub link for a recording; null when `telephony.recordings.publicBaseUrl` is not set. */
  hubLink(sourceId: string, ref: RecordingRef): string | null;
  /** The handle inside a hub link's token; null when the token is malformed or not ours. */
  readToken(token: string): { sourceId: string; ref: RecordingRef } | null;
  maxBytes: number;
}

const TOKEN_VERSION = 1;

export function createRecordings(o: { config: RuntimeConfig; env: Readonly<Record<string, string | undefined>>; http?: HttpClient }): Recordings {
  const cfg = o.config.raw.telephony.recordings;
  let key: string | undefined;
  if (cfg.publicBaseUrl !== undefined) {
    if (!cfg.signingKeyEnv) {
      throw new ConfigError({ file: o.config.file, key: 'telephony.recordings.signingKeyEnv', problem: 'publicBaseUrl is set but no signing key is named', fix: 'add signingKeyEnv: LEADGATE_RECORDING_KEY and set it to a long random value (openssl rand -hex 32)' });
    }
    key = o.env[cfg.signingKeyEnv];
    if (!key || key.length < 16) {
      throw new ConfigError({ file: o.config.file, key: 'telephony.recordings.signingKeyEnv', problem: `${cfg.signingKeyEnv} is ${key ? 'shorter than 16 characters' : 'empty'}`, fix: `set ${cfg.signingKeyEnv} to a long random value (openssl rand -hex 32)` });
    }
  }
  const base = cfg.publicBaseUrl?.replace(/\/+$/, '');
  const http = o.http ?? createHttpClient({ baseUrl: '', timeoutMs: cfg.timeoutMs });
  const mac = (payload: string): string => createHmac('sha256', key ?? '').update(payload).digest('base64url').slice(0, 32);

  return {
    maxBytes: cfg.maxBytes,
    async locate(sourceId, ref) {
      const src = o.config.sources.get(sourceId);
      const resolver = src?.connector.recordings;
      if (!src || !resolver) return undefined;
      return resolver.resolve(ref, { http, settings: src.settings, secret: src.secret, env: (name) => o.env[name], now: () => new Date() });
    },
    hubLink(sourceId, ref) {
      if (!base || !key) return null;
      const payload = Buffer.from(JSON.stringify([TOKEN_VERSION, sourceId, ref.providerCallId, ref.recordingId]), 'utf8').toString('base64url');
      return `${base}/recordings/${payload}.${mac(payload)}.mp3`;
    },
    readToken(token) {
      if (!key) return null;
      const m = /^([A-Za-z0-9_-]{1,2048})\.([A-Za-z0-9_-]{32})(?:\.mp3)?$/.exec(token);
      if (!m || !safeEqual(m[2]!, mac(m[1]!))) return null;
      try {
        const v = JSON.parse(Buffer.from(m[1]!, 'base64url').toString('utf8')) as unknown;
        if (!Array.isArray(v) || v[0] !== TOKEN_VERSION || !v.slice(1).every((x) => typeof x === 'string')) return null;
        const [, sourceId, providerCallId, recordingId] = v as [number, string, string, string];
        return { sourceId, ref: { providerCallId, recordingId } };
      } catch {
        return null;
      }
    },
  };
}

/** Thrown by the stream when a recording is larger than the cap. */
export class RecordingTooLargeError extends Error {
  constructor(maxBytes: number) {
    super(`recording larger than ${maxBytes} bytes`);
    this.name = 'RecordingTooLargeError';
  }
}

/** Passes bytes through until `maxBytes`, then fails the stream (the client sees a cut download, never more). */
export function byteCap(maxBytes: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      seen += chunk.length;
      if (seen > maxBytes) cb(new RecordingTooLargeError(maxBytes));
      else cb(null, chunk);
    },
  });
}

export interface FetchedRecording {
  status: number;
  headers: Record<string, string>;
  body: Readable;
}

/**
 * Opens a fresh provider link as a stream (redirects followed: Mango's query answers 302 to the file host).
 * A declared length over the cap is refused before any byte is read. `range` is passed on so players can seek.
 */
export async function openRecording(url: string, o: { maxBytes: number; timeoutMs: number; range?: string }): Promise<FetchedRecording> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), o.timeoutMs);
  let res: Response;
  try {
    res = await fetch(url, { redirect: 'follow', signal: ac.signal, headers: o.range ? { range: o.range } : {} });
  } finally {
    clearTimeout(timer);
  }
  if (!res.ok || !res.body) {
    await res.body?.cancel().catch(() => undefined);
    throw new Error(`recording download answered HTTP ${res.status}`);
  }
  const length = Number(res.headers.get('content-length') ?? NaN);
  if (Number.isFinite(length) && length > o.maxBytes) {
    await res.body.cancel().catch(() => undefined);
    throw new RecordingTooLargeError(o.maxBytes);
  }
  const headers: Record<string, string> = {};
  for (const h of ['content-type', 'content-length', 'content-range', 'accept-ranges']) {
    const v = res.headers.get(h);
    if (v) headers[h] = v;
  }
  // fetch's web stream → a Node stream the reply can pipe; the cap guards bodies without a length.
  const body = Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>).pipe(byteCap(o.maxBytes));
  return { status: res.status, headers, body };
}
