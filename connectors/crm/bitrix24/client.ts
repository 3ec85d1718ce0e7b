/**
 * A thin Bitrix24 REST v2 client over the hub's HTTP client (reference: bitrix24.md §1.3–§1.5, §3):
 * `POST <restBase><method>` with a JSON body, `{result, total?, next?, time}` or `{error, error_description}`
 * back. `batch` runs ≤ 50 commands in one request (one slot of the rate limit), with `$result[key][FIELD]`
 * references and per-command errors. Redirects are never followed: a 3xx means the portal moved, and that is
 * for the admin to configure.
 */
import qs from 'qs';
import { coalesced, CrmError, HttpError, type BatchLane, type CrmIO } from '#sdk';
import { accessToken, endpoint, refreshAfterReject, reinstallHowTo, UnauthorizedSignal, type Endpoint } from './auth.ts';
import { DEFAULTS, type BitrixSettings } from './settings.ts';

export type Params = Record<string, unknown>;

/** An `{error, error_description}` answer (HTTP status kept), or a failed `batch` command. */
export class BitrixApiError extends Error {
  readonly method: string;
  readonly status: number | undefined;
  /** Vendor code; often `''` on legacy `crm.*` methods (then the description says what is wrong). */
  readonly error: string;
  readonly description: string;
  /** Unix seconds the method's operating budget frees up (last seen `time.operating_reset_at`), for 429s. */
  readonly operatingResetAt: number | undefined;
  /** The command key when this came from `batch`. */
  readonly batchKey: string | undefined;
  constructor(o: { method: string; status: number | undefined; error: string; description: string; operatingResetAt?: number; batchKey?: string }) {
    super(`${o.method}${o.batchKey ? ` (batch ${o.batchKey})` : ''}: ${o.status !== undefined ? `HTTP ${o.status} ` : ''}${o.error || '(no code)'} ${o.description}`.trim());
    this.name = 'BitrixApiError';
    this.method = o.method;
    this.status = o.status;
    this.error = o.error;
    this.description = o.description;
    this.operatingResetAt = o.operatingResetAt;
    this.batchKey = o.batchKey;
  }
}

/** A 2xx answer that is not a REST envelope (an HTML page under overload): retryable. */
export class BitrixResponseError extends Error {
  constructor(readonly method: string, detail: string) {
    super(`${method}: ${detail}`);
    this.name = 'BitrixResponseError';
  }
}

export interface BatchCommand {
  method: string;
  params?: Params;
}
export interface BatchOutcome {
  /** Result per command key (absent for failed commands and, with `halt`, for everything after the first failure). */
  results: Record<string, unknown>;
  errors: Record<string, BitrixApiError>;
  totals: Record<string, number>;
}

export interface BitrixClient {
  endpoint(): Endpoint;
  /** One method; returns `result` (parse it: it is outside data). */
  call(method: string, params?: Params): Promise<unknown>;
  /** ≤ 50 commands in one request (more are split into sequential requests when `halt` is off). */
  batch(commands: Record<string, BatchCommand>, opts?: { halt?: boolean }): Promise<BatchOutcome>;
}

export const MAX_BATCH = 50;
/** Past this many seconds of a method's budget (480 s / 10 min), its reset time is remembered for a 429. */
const OPERATING_REMEMBER_SEC = 120;
const OPERATING_WARN_SEC = 384;

export function createBitrixClient(io: CrmIO, s: BitrixSettings): BitrixClient {
  const timeoutMs = s.timeoutMs ?? DEFAULTS.timeoutMs;

  async function send(method: string, params: Params): Promise<unknown> {
    const ep = endpoint(s);
    for (let attempt = 0; ; attempt++) {
      const token = s.auth === 'oauth' ? await accessToken(io, s) : undefined;
      try {
        const res = await io.http.request({ method: 'POST', url: ep.restBase + method, data: token ? { ...params, auth: token } : params, timeoutMs });
        return await readEnvelope(method, res.data);
      } catch (err) {
        if (err instanceof UnauthorizedSignal) {
          if (attempt === 0 && token !== undefined) {
            await refreshAfterReject(io, s, token);
            continue;
          }
          throw new CrmError({ kind: 'config', cause: `${method}: Bitrix24 refused the access token even after a refresh (401 expired_token/invalid_token)`, fix: reinstallHowTo(s) });
        }
        throw await toBitrixError(method, err, ep);
      }
    }
  }

  async function readEnvelope(method: string, data: unknown): Promise<unknown> {
    if (!isRecord(data)) throw new BitrixResponseError(method, `answer is not JSON (${typeof data === 'string' ? data.slice(0, 60).replace(/\s+/g, ' ') : typeof data})`);
    if ('result' in data) {
      await noteOperating(method, data.time);
      return data.result;
    }
    if ('error' in data) throw await apiError(method, 200, data);
    throw new BitrixResponseError(method, 'answer has neither result nor error');
  }

  /** Remembers when a heavily used method's budget frees up, so a later 429 can wait exactly that long. */
  async function noteOperating(method: string, time: unknown): Promise<void> {
    if (!isRecord(time) || typeof time.operating !== 'number' || typeof time.operating_reset_at !== 'number') return;
    if (time.operating < OPERATING_REMEMBER_SEC) return;
    if (time.operating >= OPERATING_WARN_SEC) io.log.warn({ method, operatingSec: Math.round(time.operating), resetAt: time.operating_reset_at }, 'Bitrix24 method close to its operating-time limit (480 s / 10 min)');
    await io.cache.set(`op-reset:${method.toLowerCase()}`, String(time.operating_reset_at), 11 * 60).catch(() => undefined);
  }

  async function apiError(method: string, status: number | undefined, body: Record<string, unknown>, batchKey?: string): Promise<BitrixApiError> {
    const error = typeof body.error === 'string' || typeof body.error === 'number' ? String(body.error) : '';
    const description = typeof body.error_description === 'string' ? body.error_description.replace(/<br\s*\/?>/gi, ' ').trim() : '';
    let operatingResetAt: number | undefined;
    if (error === 'OPERATION_TIME_LIMIT') {
      const cached = await io.cache.get(`op-reset:${method.toLowerCase()}`).catch(() => null);
      operatingResetAt = cached && /^\d+$/.test(cached) ? Number(cached) : undefined;
      io.log.error({ alert: true, method, resetAt: operatingResetAt }, `ALERT Bitrix24 blocked ${method} for this app/webhook: operating-time limit (429 OPERATION_TIME_LIMIT); deliveries wait until the budget resets`);
    }
    return new BitrixApiError({ method, status, error, description, ...(operatingResetAt !== undefined ? { operatingResetAt } : {}), ...(batchKey ? { batchKey } : {}) });
  }

  async function toBitrixError(method: string, err: unknown, ep: Endpoint): Promise<unknown> {
    if (!(err instanceof HttpError)) return err;
    if (err.status !== undefined && err.status >= 300 && err.status < 400) return redirectError(err, s, ep);
    if (isRecord(err.data) && 'error' in err.data) return apiError(method, err.status, err.data);
    return err;
  }

  async function batchOnce(entries: [string, BatchCommand][], halt: boolean): Promise<BatchOutcome> {
    const cmd = Object.fromEntries(entries.map(([k, c]) => [k, commandString(c.method, c.params ?? {})]));
    const result = await send('batch', { halt: halt ? 1 : 0, cmd });
    const out: BatchOutcome = { results: {}, errors: {}, totals: {} };
    if (!isRecord(result)) throw new BitrixResponseError('batch', 'result is not an object');
    const keys = entries.map(([k]) => k);
    const byKey = (v: unknown): Record<string, unknown> => (Array.isArray(v) ? Object.fromEntries(v.map((x, i) => [keys[i] ?? String(i), x])) : isRecord(v) ? v : {});
    Object.assign(out.results, byKey(result.result));
    for (const [k, v] of Object.entries(byKey(result.result_total))) if (typeof v === 'number') out.totals[k] = v;
    for (const [k, v] of Object.entries(byKey(result.result_error))) {
      const method = commands(entries, k)?.method ?? 'batch';
      const body = isRecord(v) ? v : { error: '', error_description: String(v) };
      const code = typeof body.error === 'string' ? body.error : '';
      out.errors[k] = await apiError(method, statusForCode(code), body, k);
    }
    return out;
  }

  /**
   * Batches of concurrent deliveries share one `batch` request (`io.coalesce`): each delivery's command keys get a
   * prefix of their own and its `$result[...]` references follow them, so its commands still build on one another;
   * the answer is split back by prefix. Several deliveries run without `halt` (one's failure must not stop the
   * others), so a delivery's later commands may run after its earlier one failed: callers read every key.
   */
  const batchLane: BatchLane<Group, BatchOutcome> = {
    maxWeight: MAX_BATCH,
    weight: (g) => g.entries.length,
    async send(groups) {
      if (groups.length === 1) return [{ ok: true, value: await batchOnce(groups[0]!.entries, groups[0]!.halt) }];
      const entries = groups.flatMap((g, gi) => prefixGroup(g.entries, `d${gi}_`));
      const all = await batchOnce(entries, false);
      return groups.map((_, gi) => ({ ok: true as const, value: ownPart(all, `d${gi}_`) }));
    },
  };

  return {
    endpoint: () => endpoint(s),
    call: (method, params = {}) => send(method, params),
    async batch(cmds, opts = {}) {
      const entries = Object.entries(cmds);
      const halt = opts.halt ?? false;
      if (entries.length <= MAX_BATCH) return coalesced(io, 'bitrix24:batch', batchLane, { entries, halt });
      // `$result` references only reach within one request, and `halt` cannot stop the next request.
      if (halt) throw new RangeError(`batch with halt takes at most ${MAX_BATCH} commands, got ${entries.length}`);
      const out: BatchOutcome = { results: {}, errors: {}, totals: {} };
      for (let i = 0; i < entries.length; i += MAX_BATCH) {
        const part = await batchOnce(entries.slice(i, i + MAX_BATCH), false);
        Object.assign(out.results, part.results);
        Object.assign(out.errors, part.errors);
        Object.assign(out.totals, part.totals);
      }
      return out;
    },
  };
}

interface Group {
  entries: [string, BatchCommand][];
  halt: boolean;
}

const REFERENCE_KEY = /\$(result(?:_error|_total|_next|_time)?)\[([^\]]*)\]/g;

/** One delivery's commands under a key prefix, its `$result[key]` references pointing at the prefixed keys. */
export function prefixGroup(entries: [string, BatchCommand][], prefix: string): [string, BatchCommand][] {
  const own = new Set(entries.map(([k]) => k));
  const rewrite = (v: unknown): unknown => {
    if (typeof v === 'string') return v.replace(REFERENCE_KEY, (m, name: string, key: string) => (own.has(key) ? `$${name}[${prefix}${key}]` : m));
    if (Array.isArray(v)) return v.map(rewrite);
    if (isRecord(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, rewrite(x)]));
    return v;
  };
  return entries.map(([k, c]) => [`${prefix}${k}`, { method: c.method, ...(c.params ? { params: rewrite(c.params) as Params } : {}) }]);
}

/** The part of a shared batch's answer that belongs to one prefix, keys as that delivery named them. */
export function ownPart(all: BatchOutcome, prefix: string): BatchOutcome {
  const strip = <T>(rec: Record<string, T>): Record<string, T> => Object.fromEntries(Object.entries(rec).filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [k.slice(prefix.length), v]));
  return { results: strip(all.results), errors: strip(all.errors), totals: strip(all.totals) };
}

function commands(entries: [string, BatchCommand][], key: string): BatchCommand | undefined {
  return entries.find(([k]) => k === key)?.[1];
}

const REFERENCE = /^\$result(?:_error|_total|_next|_time)?(?:\[[^\]]*\])+$/;

/**
 * `method?query` for one batch command: PHP bracket keys, values URL-encoded once (the JSON body is not
 * encoded again), `$result[key][FIELD]` references left readable. Undefined and null values are dropped.
 */
export function commandString(method: string, params: Params): string {
  const q = qs.stringify(dropEmpty(params), {
    encodeValuesOnly: true,
    encoder: (str, defaultEncoder, charset, type) => (type === 'value' && typeof str === 'string' && REFERENCE.test(str) ? str : defaultEncoder(str, defaultEncoder, charset)),
  });
  return q ? `${method}?${q}` : method;
}

function dropEmpty(v: unknown): unknown {
  if (Array.isArray(v)) return v.filter((x) => x !== undefined && x !== null).map(dropEmpty);
  if (isRecord(v)) return Object.fromEntries(Object.entries(v).filter(([, x]) => x !== undefined && x !== null).map(([k, x]) => [k, dropEmpty(x)]));
  return v;
}

/** Batch command errors carry no HTTP status; give them the one the same error has on a direct call. */
export function statusForCode(code: string): number {
  switch (code) {
    case 'OPERATION_TIME_LIMIT':
      return 429;
    case 'QUERY_LIMIT_EXCEEDED':
    case 'OVERLOAD_LIMIT':
      return 503;
    case 'expired_token':
    case 'invalid_token':
    case 'NO_AUTH_FOUND':
      return 401;
    case 'insufficient_scope':
    case 'ACCESS_DENIED':
    case 'INVALID_CREDENTIALS':
    case 'user_access_error':
    case 'WRONG_AUTH_TYPE':
      return 403;
    case 'ERROR_METHOD_NOT_FOUND':
      return 404;
    case 'INTERNAL_SERVER_ERROR':
    case 'ERROR_UNEXPECTED_ANSWER':
    case 'PORTAL_DELETED':
      return 500;
    default:
      return 400;
  }
}

/** A 3xx: the portal was renamed (or the URL is wrong). Names the address to configure, never the webhook secret. */
export function redirectError(err: HttpError, s: BitrixSettings, ep: Endpoint): CrmError {
  const location = err.headers.location;
  let newOrigin: string | undefined;
  try {
    newOrigin = location ? new URL(location, ep.origin).origin : undefined;
  } catch {
    newOrigin = undefined;
  }
  const moved = newOrigin && newOrigin !== ep.origin ? newOrigin : undefined;
  const cause = `Bitrix24 answered HTTP ${err.status} ${moved ? `redirecting ${ep.origin} to ${moved}` : `for ${ep.origin}`} (the portal address changed; Leadgate never follows redirects, a redirected POST would lose the lead)`;
  if (s.auth === 'webhook') {
    const env = s.webhookUrlEnv ?? 'webhookUrlEnv';
    const fix = moved ? `set ${env} to ${moved}/rest/<user>/<code>/ (the same webhook path on the new address) and restart` : `check the portal address in ${env}`;
    return new CrmError({ kind: 'config', cause, fix });
  }
  return new CrmError({ kind: 'config', cause, fix: moved ? `set crm[].settings.portalUrl to ${moved} and restart` : 'check crm[].settings.portalUrl' });
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
