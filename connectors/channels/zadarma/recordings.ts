/**
 * Recording links from the Zadarma / Novofon 1.0 API (telephony.md §2.5):
 * `GET /v1/pbx/record/request/?call_id=<call_id_with_rec>&lifetime=<s>` →
 * `{"status":"success","link":"…/<id>.mp3","lifetime_till":"YYYY-MM-DD HH:MM:SS"}`.
 * Official client: zadarma/user-api-v1 lib/Client.php (auth header, `format=json` added to every call).
 */
import { createHash, createHmac } from 'node:crypto';
import { HttpError, type RecordingIO, type RecordingLocation, type RecordingRef } from '#sdk';
import type { ZadarmaSettings } from './settings.ts';
import { localToIso } from '#sdk';

const METHOD = '/v1/pbx/record/request/';
const HOSTS = { zadarma: 'https://api.zadarma.com', novofon: 'https://api.novofon.ru' } as const;

/** PHP `http_build_query(…, PHP_QUERY_RFC1738)`: like urlencode(), spaces as `+`, only `-_.` left bare. */
export function phpQuery(params: Record<string, string>): string {
  const enc = (s: string): string => encodeURIComponent(s).replace(/[!'()*~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`).replace(/%20/g, '+');
  return Object.entries(params)
    .map(([k, v]) => `${enc(k)}=${enc(v)}`)
    .join('&');
}

/**
 * `Authorization: <key>:<signature>`, signature = base64(hex(HMAC-SHA1(secret, method + query + md5(query))))
 * over the parameters sorted by name (the official client's `_getAuthHeader`).
 */
export function zadarmaAuthHeader(key: string, secret: string, method: string, params: Record<string, string>): { query: string; authorization: string } {
  const sorted = Object.fromEntries(Object.entries(params).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  const query = phpQuery(sorted);
  const md5 = createHash('md5').update(query).digest('hex');
  const hex = createHmac('sha1', secret).update(method + query + md5).digest('hex');
  return { query, authorization: `${key}:${Buffer.from(hex, 'latin1').toString('base64')}` };
}

interface RecordAnswer {
  status?: unknown;
  link?: unknown;
  links?: unknown;
  lifetime_till?: unknown;
  message?: unknown;
}

export async function resolveZadarmaRecording(ref: RecordingRef, io: RecordingIO<ZadarmaSettings>): Promise<RecordingLocation> {
  const s = io.settings;
  const key = s.apiKeyEnv ? io.env(s.apiKeyEnv) : undefined;
  if (!key || !io.secret) return { kind: 'gone', reason: `no API key: set settings.apiKeyEnv${s.apiKeyEnv ? ` (${s.apiKeyEnv} is empty)` : ''} and the source secret` };
  const params = { call_id: ref.recordingId, format: 'json', lifetime: String(s.recordingLinkLifetimeSec) };
  const { query, authorization } = zadarmaAuthHeader(key, io.secret, METHOD, params);
  const base = (s.apiBaseUrl ?? HOSTS[s.provider]).replace(/\/+$/, '');
  let data: RecordAnswer;
  try {
    const res = await io.http.request<RecordAnswer>({ method: 'GET', url: `${base}${METHOD}?${query}`, headers: { Authorization: authorization } });
    data = res.data && typeof res.data === 'object' ? res.data : {};
  } catch (err) {
    // A recording not stored yet is answered as an error (wording unconfirmed): ask again later. 401 is a config error.
    if (err instanceof HttpError && err.status !== undefined && err.status >= 400 && err.status < 500 && err.status !== 401 && err.status !== 403 && err.status !== 429) {
      const body = err.data && typeof err.data === 'object' ? (err.data as RecordAnswer) : {};
      return { kind: 'pending', retryAfterMs: 30_000, reason: `HTTP ${err.status}${typeof body.message === 'string' ? `: ${body.message}` : ''}` };
    }
    throw err;
  }
  const link = typeof data.link === 'string' ? data.link : Array.isArray(data.links) && typeof data.links[0] === 'string' ? data.links[0] : undefined;
  if (data.status !== 'success' || !link) {
    return { kind: 'pending', retryAfterMs: 30_000, reason: typeof data.message === 'string' ? data.message : 'no link in the answer' };
  }
  // `lifetime_till` is written in the account's zone, like `call_start`.
  const expiresAt = typeof data.lifetime_till === 'string' ? localToIso(data.lifetime_till, s.timeZone) : undefined;
  return { kind: 'ready', url: link, ...(expiresAt ? { expiresAt } : {}) };
}
