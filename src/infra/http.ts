import axios, { type AxiosInstance } from 'axios';
import qs from 'qs';
import { HttpError, type HttpClient, type HttpRequest, type HttpResponse } from '../sdk/crm.ts';
import type { RedisLimiter } from './limiter.ts';

export interface HttpClientOptions {
  baseUrl: string;
  /** @defaultValue 10 000 ms */
  timeoutMs?: number;
  limiter?: RedisLimiter;
  /** Adds auth headers/params just before sending. */
  authorize?: (req: HttpRequest) => Promise<HttpRequest>;
  /** Called once on a 401 with the failed answer (its body tells an expired token from a missing approval); the request is then sent again once. */
  onUnauthorized?: (failed: HttpResponse) => Promise<void>;
  /** Counts requests for metrics and tests. */
  onResponse?: (info: { method: string; url: string; status: number | undefined; ms: number }) => void;
  userAgent?: string;
}

/**
 * The one HTTP client a CRM connector gets. It never follows redirects (a 302 must not turn a POST into a
 * GET and drop the lead), decodes bodies as UTF-8 itself (no chunk-boundary Cyrillic damage), takes a slot
 * from the shared limiter before every request, and throws HttpError on anything but 2xx.
 */
export function createHttpClient(o: HttpClientOptions): HttpClient {
  const ax: AxiosInstance = axios.create({
    baseURL: o.baseUrl,
    timeout: o.timeoutMs ?? 10_000,
    maxRedirects: 0,
    responseType: 'arraybuffer',
    validateStatus: () => true,
    transitional: { clarifyTimeoutError: true },
    headers: { 'User-Agent': o.userAgent ?? 'leadgate/0.1' },
  });

  async function send<T>(req0: HttpRequest, retried: boolean): Promise<HttpResponse<T>> {
    const req = o.authorize ? await o.authorize(req0) : req0;
    const limiter = o.limiter && !req.unlimited ? o.limiter : undefined;
    let askedAt = limiter ? await limiter.acquire() : 0;
    const isForm = req.encoding === 'form';
    const headers: Record<string, string> = { Accept: 'application/json', ...(req.headers ?? {}) };
    let data: unknown = undefined;
    if (req.data !== undefined) {
      data = isForm ? qs.stringify(req.data, { encodeValuesOnly: false }) : JSON.stringify(req.data);
      headers['Content-Type'] = isForm ? 'application/x-www-form-urlencoded' : 'application/json';
    }
    // Last step before the socket: a slot granted too long ago would land bunched with later ones (limiter.ts).
    while (limiter?.stale(askedAt)) askedAt = await limiter.acquire();
    const started = Date.now();
    let res;
    try {
      res = await ax.request({
        method: req.method,
        url: req.url,
        params: req.params,
        paramsSerializer: (p) => qs.stringify(p, { encodeValuesOnly: true }),
        data,
        headers,
        ...(req.timeoutMs ? { timeout: req.timeoutMs } : {}),
      });
    } catch (err) {
      const e = err as { code?: string; message?: string };
      o.onResponse?.({ method: req.method, url: req.url, status: undefined, ms: Date.now() - started });
      throw new HttpError({ message: `${req.method} ${pathOnly(req.url)}: ${e.code ?? 'network error'}`, code: e.code ?? 'ENETWORK', request: { method: req.method, url: pathOnly(req.url) } });
    }
    o.onResponse?.({ method: req.method, url: req.url, status: res.status, ms: Date.now() - started });
    const resHeaders: Record<string, string> = {};
    for (const [k, v] of Object.entries(res.headers ?? {})) if (v !== undefined) resHeaders[k.toLowerCase()] = String(v);
    const body = decodeBody(res.data as ArrayBuffer | Buffer, resHeaders['content-type']);
    if (res.status === 401 && !retried && o.onUnauthorized) {
      await o.onUnauthorized({ status: res.status, headers: resHeaders, data: body });
      return send<T>(req0, true);
    }
    if (res.status < 200 || res.status >= 300) {
      throw new HttpError({ message: `${req.method} ${pathOnly(req.url)}: HTTP ${res.status}`, status: res.status, headers: resHeaders, data: body, request: { method: req.method, url: pathOnly(req.url) } });
    }
    return { status: res.status, headers: resHeaders, data: body as T };
  }

  return { request: <T>(req: HttpRequest) => send<T>(req, false) };
}

function decodeBody(raw: ArrayBuffer | Buffer | undefined, contentType: string | undefined): unknown {
  if (!raw) return null;
  const buf = Buffer.isBuffer(raw) ? raw : Buffer.from(raw);
  if (buf.length === 0) return null;
  const text = buf.toString('utf8');
  if (contentType && /json/i.test(contentType)) {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  const t = text.trimStart();
  if (t.startsWith('{') || t.startsWith('[')) {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  return text;
}

/** Logs and errors carry the path only: query strings may hold tokens (`?auth=`). */
function pathOnly(url: string): string {
  return url.split('?')[0]!.replace(/\/rest\/\d+\/[^/]+\//, '/rest/<user>/<code>/');
}
