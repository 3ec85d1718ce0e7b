/**
 * What a failed amoCRM call means for the delivery (reference: /work/shared/reference/amocrm.md §2–§3):
 * wait and retry, pause the whole account, stop for an admin (`config`, with the fix), or fail this lead only.
 */
import { CrmError, HttpError, type CrmFailure } from '#sdk';
import { DEFAULTS, type AmoSettings } from './settings.ts';

export interface ClassifyOptions {
  /** Settings of the account, to name its env vars in fixes and use its pauses. */
  settings?: AmoSettings;
  /** Clock for the 429 counter (tests). */
  nowMs?: number;
}

/**
 * Recent 429s in this process. Concurrent requests of one burst fail together and count once (one per second);
 * 429s in several different seconds within a short time mean "slow down for everyone", not "retry in a second".
 */
const recent429: number[] = [];
const REPEATED_429 = { seconds: 3, withinMs: 30_000 };

/** Test hook: forget the 429 history. */
export function resetRateLimitMemory(): void {
  recent429.length = 0;
}

const NETWORK_CODES = new Set(['ETIMEDOUT', 'ECONNABORTED', 'ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH', 'ENETWORK', 'ERR_SOCKET_CONNECTION_TIMEOUT', 'ERR_NETWORK']);

export function classifyAmo(err: unknown, o: ClassifyOptions = {}): CrmFailure {
  if (err instanceof CrmError) return err.failure;
  if (!(err instanceof HttpError)) {
    // An answer we could not parse, or a bug: the journal makes a retry safe, and attempts are bounded.
    return { kind: 'retry', afterMs: 30_000, cause: err instanceof Error ? `${err.name}: ${err.message}` : String(err) };
  }
  const s = o.settings;
  const where = `${err.request.method} ${err.request.url}`;
  const detail = problemDetail(err.data);
  if (err.status === undefined) {
    if (err.code === 'ENOTFOUND') {
      return { kind: 'retry', afterMs: 60_000, cause: `${where}: host not found (ENOTFOUND); if it persists, check crm[].settings.baseUrl${s ? ` (${s.baseUrl})` : ''}` };
    }
    const known = err.code && NETWORK_CODES.has(err.code);
    return { kind: 'retry', afterMs: known ? 5_000 : 15_000, cause: `${where}: ${err.code ?? 'network error'}` };
  }
  const st = err.status;
  switch (true) {
    case st === 429: {
      const now = o.nowMs ?? Date.now();
      recent429.push(now);
      while (recent429.length && recent429[0]! < now - REPEATED_429.withinMs) recent429.shift();
      const hintMs = retryAfterMs(err);
      const pauseMs = s?.rateLimitPauseMs ?? DEFAULTS.rateLimitPauseMs;
      const episodes = new Set(recent429.map((t) => Math.floor(t / 1000))).size;
      if (episodes >= REPEATED_429.seconds) {
        return { kind: 'retry', afterMs: Math.max(pauseMs, hintMs ?? 0), pauseAccount: true, cause: `${where}: HTTP 429 in ${episodes} different seconds within ${REPEATED_429.withinMs / 1000} s; pausing the account so amoCRM does not block it (repeated 429s escalate to a 403 block)` };
      }
      if (hintMs !== undefined && hintMs >= 10_000) return { kind: 'retry', afterMs: hintMs, pauseAccount: true, cause: `${where}: HTTP 429, amoCRM asks to wait ${Math.round(hintMs / 1000)} s` };
      return { kind: 'retry', afterMs: hintMs ?? 1_000 + Math.floor(Math.random() * 1_000), cause: `${where}: HTTP 429 Too Many Requests` };
    }
    case st === 401:
      return { kind: 'config', cause: `${where}: HTTP 401 ${detail ?? 'Unauthorized'} (token rejected, also after a refresh)`, fix: unauthorizedFix(s) };
    case st === 402:
      return { kind: 'config', cause: `${where}: HTTP 402 Payment Required (the amoCRM account's paid or trial period has ended)`, fix: 'pay for the account in amoCRM → Settings → Billing, then send the failed deliveries again with `npx leadgate replay --since <time>`' };
    case st === 403: {
      if (isHtml(err)) {
        return { kind: 'retry', afterMs: s?.blockPauseMs ?? DEFAULTS.blockPauseMs, pauseAccount: true, cause: `${where}: HTTP 403 HTML page: amoCRM has blocked API access for this account/IP (rate-limit abuse). Every worker pauses; if it lasts, write to amoCRM support with the server IP and the subdomain` };
      }
      if (/\b113\b|IP/i.test(`${detail ?? ''} ${codeOf(err.data) ?? ''}`)) {
        return { kind: 'config', cause: `${where}: HTTP 403 ${detail ?? 'access from this IP is prohibited'}`, fix: "add this server's IP to the allowed list in amoCRM → Settings → Security, or remove the IP restriction" };
      }
      return { kind: 'config', cause: `${where}: HTTP 403 ${detail ?? 'Forbidden'}`, fix: "give the integration's user rights to add leads, contacts, notes and tasks (amoCRM → Settings → Users → Rights), or authorize as an admin" };
    }
    case st === 404:
      return { kind: 'config', cause: `${where}: HTTP 404 ${detail ?? 'Not Found'}`, fix: `check crm[].settings.baseUrl${s ? ` (${s.baseUrl})` : ''}: it must be the account's own address like https://acme.amocrm.ru (the subdomain may have changed)` };
    case st === 400: {
      const fromBody = validationFromBody(err.data, []);
      if (fromBody) return fromBody;
      return { kind: 'reject', cause: `${where}: HTTP 400 ${detail ?? 'Bad Request'}` };
    }
    case st === 422:
      return { kind: 'reject', cause: `${where}: HTTP 422 ${detail ?? 'Unprocessable Entity'}` };
    case st >= 500:
      return { kind: 'retry', afterMs: st === 500 ? 10_000 : 5_000, cause: `${where}: HTTP ${st}${detail ? ` ${detail}` : ''}` };
    default:
      return { kind: 'reject', cause: `${where}: HTTP ${st}${detail ? ` ${detail}` : ''}` };
  }
}

export function unauthorizedFix(s: AmoSettings | undefined): string {
  if (s?.auth === 'long-lived') return `generate a new long-lived token (amoCRM → Settings → Integrations → your private integration → Keys and scopes), put it into ${s.tokenEnv} and restart`;
  if (s?.auth === 'oauth') return `re-authorize: open the integration in amoCRM, copy a fresh authorization code and run \`npx leadgate oauth amocrm <accountId> <code>\` (client secret from ${s.clientSecretEnv})`;
  return 'renew the credentials: a new long-lived token in the tokenEnv variable, or `npx leadgate oauth amocrm <accountId> <code>` for OAuth';
}

/**
 * A 400 "Request validation failed" turned into a failure naming the rejected field paths, resolved against
 * the items we sent (`custom_fields_values.3` → `UTM_SOURCE`). An unknown field is a mapping mistake → config.
 */
export function validationError(err: unknown, items: readonly Record<string, unknown>[]): CrmError | undefined {
  if (!(err instanceof HttpError) || err.status !== 400) return undefined;
  const f = validationFromBody(err.data, items);
  return f ? new CrmError(f) : undefined;
}

/**
 * A 400 on a batch write, split per item: each item's own validation failure, undefined for an item nothing was
 * said about. amoCRM refuses the whole array for one bad item (sheet §3). Undefined when the answer names no item.
 */
export function validationPerItem(err: unknown, items: readonly Record<string, unknown>[]): (CrmFailure | undefined)[] | undefined {
  if (!(err instanceof HttpError) || err.status !== 400 || !isRecord(err.data)) return undefined;
  const groups = err.data['validation-errors'];
  if (!Array.isArray(groups)) return undefined;
  const out: (CrmFailure | undefined)[] = items.map(() => undefined);
  let named = false;
  for (const g of groups) {
    if (!isRecord(g)) continue;
    const rid = typeof g.request_id === 'string' || typeof g.request_id === 'number' ? String(g.request_id) : '';
    const item = /^\d+$/.test(rid) ? items[Number(rid)] : undefined;
    if (!item) continue;
    const f = validationFromBody({ 'validation-errors': [{ ...g, request_id: '0' }] }, [item]);
    if (f) {
      out[Number(rid)] = f;
      named = true;
    }
  }
  return named ? out : undefined;
}

interface Issue {
  item: number;
  code: string;
  path: string;
  detail: string;
}

function validationFromBody(data: unknown, items: readonly Record<string, unknown>[]): CrmFailure | undefined {
  const issues = readIssues(data);
  if (!issues.length) return undefined;
  const described: string[] = [];
  const unknownFields: string[] = [];
  for (const i of issues) {
    const field = fieldAt(items[i.item], i.path);
    const entity = /(^|\.)_embedded\.contacts\./.test(i.path) ? 'contact' : 'lead';
    if (field && /custom_fields_values\.\d+\.(field_id|field_code)$/.test(i.path) && i.code === 'NotSupportedChoice') {
      unknownFields.push(`${entity}.fields.${field}`);
      continue;
    }
    described.push(`${i.path}${field ? ` (field ${field})` : ''}: ${i.code} ${i.detail}`.trim());
  }
  if (unknownFields.length) {
    const first = unknownFields[0]!;
    const code = first.split('.').pop()!;
    return {
      kind: 'config',
      cause: `amoCRM does not know the mapped field${unknownFields.length > 1 ? 's' : ''} ${unknownFields.join(', ')}`,
      fix: `create the field ${code} in amoCRM (Settings → Fields) or remove ${first} from mappings/amocrm.yaml, then restart`,
    };
  }
  return { kind: 'reject', cause: `amoCRM rejected the data: ${described.join('; ')}` };
}

function readIssues(data: unknown): Issue[] {
  if (!isRecord(data)) return [];
  const groups = data['validation-errors'];
  if (!Array.isArray(groups)) return [];
  const out: Issue[] = [];
  for (const g of groups) {
    if (!isRecord(g) || !Array.isArray(g.errors)) continue;
    const rid = typeof g.request_id === 'string' || typeof g.request_id === 'number' ? String(g.request_id) : '0';
    const item = /^\d+$/.test(rid) ? Number(rid) : 0;
    for (const e of g.errors) {
      if (!isRecord(e)) continue;
      out.push({ item, code: typeof e.code === 'string' ? e.code : '', path: typeof e.path === 'string' ? e.path : '', detail: typeof e.detail === 'string' ? e.detail : '' });
    }
  }
  return out;
}

/** The field code/id of the `custom_fields_values` entry a dotted error path points into. */
function fieldAt(item: Record<string, unknown> | undefined, path: string): string | undefined {
  const m = /^(.*custom_fields_values\.\d+)(\.|$)/.exec(path);
  if (!item || !m) return undefined;
  let cur: unknown = item;
  for (const part of m[1]!.split('.')) {
    if (Array.isArray(cur)) cur = cur[Number(part)];
    else if (isRecord(cur)) cur = cur[part];
    else return undefined;
  }
  if (!isRecord(cur)) return undefined;
  const v = cur.field_code ?? cur.field_id;
  return typeof v === 'string' || typeof v === 'number' ? String(v) : undefined;
}

/** `Retry-After` header (seconds or HTTP date), else the body's `retry_after` (Kommo docs), in ms. */
export function retryAfterMs(err: HttpError): number | undefined {
  const h = err.headers['retry-after'];
  if (h) {
    const secs = Number(h);
    if (Number.isFinite(secs) && secs >= 0) return Math.round(secs * 1000);
    const at = Date.parse(h);
    if (!Number.isNaN(at)) return Math.max(0, at - Date.now());
  }
  if (isRecord(err.data) && typeof err.data.retry_after === 'number' && err.data.retry_after >= 0) return Math.round(err.data.retry_after * 1000);
  return undefined;
}

function isHtml(err: HttpError): boolean {
  return /html/i.test(err.headers['content-type'] ?? '') || (typeof err.data === 'string' && /<html/i.test(err.data));
}

function problemDetail(data: unknown): string | undefined {
  if (!isRecord(data)) return undefined;
  const d = data.detail ?? data.title;
  const hint = typeof data.hint === 'string' ? ` (${data.hint})` : '';
  return typeof d === 'string' ? `${d}${hint}` : undefined;
}

function codeOf(data: unknown): string | undefined {
  return isRecord(data) && (typeof data.code === 'string' || typeof data.code === 'number') ? String(data.code) : undefined;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
