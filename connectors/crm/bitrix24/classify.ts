/**
 * What a failed Bitrix24 call means for the delivery (reference: bitrix24.md §1.5, §2): wait and retry, pause
 * the whole account, stop for an admin (`config`, with the fix), or fail this lead only (`reject`).
 */
import { ZodError } from 'zod';
import { CrmError, HttpError, type CrmFailure } from '#sdk';
import { BitrixApiError, BitrixResponseError, isRecord, statusForCode } from './client.ts';
import { UnauthorizedSignal, webhookHowTo } from './auth.ts';

export interface ClassifyOptions {
  /** Clock for the QUERY_LIMIT_EXCEEDED memory and operating resets (tests). */
  nowMs?: number;
}

/** Recent QUERY_LIMIT_EXCEEDED answers in this process: several in a row mean "everyone slow down". */
const recentLimit: number[] = [];
const REPEATED_LIMIT = { count: 3, withinMs: 30_000 };
/** A full bucket (50) drains in 25 s at 2 req/s; pausing this long lets other apps on the portal through too. */
const LIMIT_PAUSE_MS = 20_000;
/** Without a remembered `operating_reset_at`, wait the whole 10-minute window. */
const OPERATING_WINDOW_MS = 10 * 60_000;

/** Test hook: forget the QUERY_LIMIT_EXCEEDED history. */
export function resetRateLimitMemory(): void {
  recentLimit.length = 0;
}

const NETWORK_CODES = new Set(['ETIMEDOUT', 'ECONNABORTED', 'ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH', 'ENETWORK', 'ERR_SOCKET_CONNECTION_TIMEOUT', 'ERR_NETWORK', 'ERR_BAD_RESPONSE']);

const REINSTALL = 'reinstall the local app in Bitrix24 and put the refresh_token of its install callback into the initialRefreshTokenEnv variable, then restart';

export function classifyBitrix(err: unknown, o: ClassifyOptions = {}): CrmFailure {
  if (err instanceof CrmError) return err.failure;
  if (err instanceof UnauthorizedSignal) return { kind: 'config', cause: 'Bitrix24 refused the access token (401)', fix: REINSTALL };
  if (err instanceof BitrixResponseError) return { kind: 'retry', afterMs: 10_000, cause: `${err.message} (Bitrix24 answers HTML pages under overload)` };
  if (err instanceof BitrixApiError) return byCode({ method: err.method, status: err.status, code: err.error, description: err.description, resetAt: err.operatingResetAt }, o);
  if (err instanceof HttpError) return fromHttp(err, o);
  if (err instanceof ZodError) {
    const i = err.issues[0];
    return { kind: 'retry', afterMs: 30_000, cause: `Bitrix24 answered in an unexpected shape (${i ? `${i.path.join('.') || 'result'}: ${i.message}` : 'invalid'})` };
  }
  // An answer we could not read, or a bug: the journal makes a retry safe and attempts are bounded.
  return { kind: 'retry', afterMs: 30_000, cause: err instanceof Error ? `${err.name}: ${err.message}` : `Error: ${String(err)}` };
}

function fromHttp(err: HttpError, o: ClassifyOptions): CrmFailure {
  const where = `${err.request.method} ${err.request.url}`;
  if (err.status === undefined) {
    if (err.code === 'ENOTFOUND') return { kind: 'retry', afterMs: 60_000, cause: `${where}: host not found (ENOTFOUND); if it lasts, check the portal address (portalUrl or the webhook URL)` };
    return { kind: 'retry', afterMs: err.code && NETWORK_CODES.has(err.code) ? 5_000 : 15_000, cause: `${where}: ${err.code ?? 'network error'}` };
  }
  const st = err.status;
  if (st >= 300 && st < 400) {
    let to = '';
    try {
      to = err.headers.location ? ` to ${new URL(err.headers.location).origin}` : '';
    } catch {
      to = '';
    }
    return { kind: 'config', cause: `${where}: HTTP ${st} redirect${to} (the portal address changed)`, fix: `configure the new portal address${to ? ` (${to.slice(4)})` : ''}: portalUrl for OAuth, or the webhook URL on the new host` };
  }
  if (isRecord(err.data) && 'error' in err.data) {
    const code = typeof err.data.error === 'string' ? err.data.error : '';
    const description = typeof err.data.error_description === 'string' ? err.data.error_description : '';
    return byCode({ method: methodOf(err.request.url), status: st, code, description }, o);
  }
  const html = typeof err.data === 'string' && /<html/i.test(err.data);
  if (st >= 500 || st === 429) return { kind: 'retry', afterMs: st === 500 ? 10_000 : 5_000, cause: `${where}: HTTP ${st}${html ? ' (HTML page)' : ''}` };
  if (st === 401) return { kind: 'config', cause: `${where}: HTTP 401`, fix: `renew the credentials: ${webhookHowTo('the webhookUrlEnv variable')}, or ${REINSTALL}` };
  if (st === 403) return { kind: 'config', cause: `${where}: HTTP 403`, fix: "give the webhook's/app's user CRM rights, or check the portal's plan (REST needs a commercial plan)" };
  if (st === 404) return { kind: 'config', cause: `${where}: HTTP 404`, fix: 'check the portal address' };
  return { kind: 'reject', cause: `${where}: HTTP ${st}` };
}

interface ErrInfo {
  method: string;
  status: number | undefined;
  code: string;
  description: string;
  resetAt?: number | undefined;
}

function byCode(e: ErrInfo, o: ClassifyOptions): CrmFailure {
  const where = `${e.method}: ${e.code || `HTTP ${e.status ?? '?'}`}${e.description ? ` ${e.description}` : ''}`;
  const now = o.nowMs ?? Date.now();
  switch (e.code) {
    case 'QUERY_LIMIT_EXCEEDED': {
      recentLimit.push(now);
      while (recentLimit.length && recentLimit[0]! < now - REPEATED_LIMIT.withinMs) recentLimit.shift();
      if (recentLimit.length >= REPEATED_LIMIT.count) {
        return { kind: 'retry', afterMs: LIMIT_PAUSE_MS, pauseAccount: true, cause: `${where}: ${recentLimit.length} times within ${REPEATED_LIMIT.withinMs / 1000} s; pausing the account (another app on this portal or IP shares the leaky bucket)` };
      }
      return { kind: 'retry', afterMs: 1_000 + Math.floor(Math.random() * 500), cause: `${where} (leaky bucket full)` };
    }
    case 'OPERATION_TIME_LIMIT': {
      const afterMs = e.resetAt !== undefined ? Math.max(5_000, e.resetAt * 1000 - now + 5_000) : OPERATING_WINDOW_MS;
      return { kind: 'retry', afterMs, cause: `ALERT ${where}: ${e.method} spent its operating-time budget (480 s per 10 min per app/webhook); retrying after it resets in ${Math.round(afterMs / 1000)} s` };
    }
    case 'OVERLOAD_LIMIT':
      return { kind: 'retry', afterMs: 15 * 60_000, pauseAccount: true, cause: `ALERT ${where}: Bitrix24 support blocked REST calls for this portal; write to Bitrix24 support` };
    case 'expired_token':
    case 'invalid_token':
      return { kind: 'config', cause: `${where} (the OAuth token was refused, also after a refresh)`, fix: REINSTALL };
    case 'NO_AUTH_FOUND':
      return { kind: 'config', cause: `${where} (wrong webhook URL or token)`, fix: webhookHowTo('the webhookUrlEnv variable') };
    case 'insufficient_scope':
      return { kind: 'config', cause: where, fix: `tick the scope "${scopeOf(e.method)}" on the inbound webhook or the local app (Bitrix24 → Developer resources), then restart` };
    case 'ACCESS_DENIED':
      return { kind: 'config', cause: where, fix: "REST works only on commercial Bitrix24 plans; otherwise give the webhook's/app's user the rights this method needs (an admin for some settings)" };
    case 'INVALID_CREDENTIALS':
    case 'user_access_error':
      return { kind: 'config', cause: where, fix: "give the webhook's/app's user rights to add and edit leads, deals, contacts and activities (CRM → Settings → Access permissions)" };
    case 'WRONG_AUTH_TYPE':
      return { kind: 'config', cause: where, fix: `${e.method} works only for an application: switch the account to auth: oauth with a local "API only" app (scopes crm, telephony, user)` };
    case 'METHOD_CONFIRM_WAITING':
    case 'METHOD_CONFIRM_DENIED':
      return { kind: 'config', cause: where, fix: `a Bitrix24 admin must approve ${e.method} for this app (Applications → the app → approve methods)` };
    case 'INVALID_REQUEST':
      return { kind: 'config', cause: where, fix: 'use the https:// address of the portal' };
    case 'ERROR_METHOD_NOT_FOUND':
      return { kind: 'config', cause: where, fix: `the portal does not offer ${e.method}: check the webhook/app scopes (${scopeOf(e.method)}) and that the CRM/telephony module is on` };
    case 'PORTAL_DELETED':
      return { kind: 'config', cause: where, fix: 'the portal is closed or deleted: point the account at a live portal' };
    case 'INTERNAL_SERVER_ERROR':
    case 'ERROR_UNEXPECTED_ANSWER':
      return { kind: 'retry', afterMs: 10_000, cause: where };
    default:
      break;
  }
  const status = e.status ?? statusForCode(e.code);
  if (status >= 500) return { kind: 'retry', afterMs: 5_000, cause: where };
  if (status === 401) return { kind: 'config', cause: where, fix: `renew the credentials: ${webhookHowTo('the webhookUrlEnv variable')}, or ${REINSTALL}` };
  if (/access denied/i.test(e.description) || status === 403) {
    return { kind: 'config', cause: where, fix: "give the webhook's/app's user CRM rights to this kind of record (CRM → Settings → Access permissions)" };
  }
  if (/user is not found or is not active|responsible.*not found/i.test(e.description)) {
    return { kind: 'config', cause: where, fix: 'set responsibleUserId (and employees\' extension numbers, UF_PHONE_INNER) to active Bitrix24 users' };
  }
  const field = fieldIn(e.description);
  if (/required/i.test(e.description)) {
    return { kind: 'config', cause: `${where}${field ? ` (field "${field}")` : ''}`, fix: `the portal requires ${field ? `the field "${field}"` : 'a field'} Leadgate does not fill: map it in mappings/bitrix24.yaml or make it optional in Bitrix24 (CRM → Settings → Fields)` };
  }
  return { kind: 'reject', cause: field ? `Bitrix24 rejected ${e.method}: field "${field}": ${e.description}` : `Bitrix24 rejected ${where}` };
}

/** The field a validation message names: `The field "Work e-mail" …`, `The "X" field is required.`, `… for the field "Source"`. */
export function fieldIn(description: string): string | undefined {
  const m = /field\s+"([^"]+)"/i.exec(description) ?? /"([^"]+)"\s+field/i.exec(description) ?? /\bfield\s+([A-Z][A-Z0-9_]+)\b/.exec(description) ?? /\b(UF_CRM_[A-Z0-9_]+)\b/.exec(description);
  return m?.[1];
}

/** The permission scope a method belongs to. */
export function scopeOf(method: string): string {
  const m = method.toLowerCase();
  if (m.startsWith('crm.')) return 'crm';
  if (m.startsWith('telephony.') || m.startsWith('voximplant.')) return 'telephony';
  if (m.startsWith('user.')) return 'user';
  if (m.startsWith('tasks.') || m.startsWith('task.')) return 'task';
  if (m.startsWith('im.')) return 'im';
  return m.split('.')[0] ?? m;
}

/** `https://acme.bitrix24.ru/rest/<user>/<code>/crm.lead.add` → `crm.lead.add`. */
function methodOf(url: string): string {
  const last = url.split('?')[0]!.split('/').filter(Boolean).pop() ?? url;
  return last.replace(/\.json$/, '');
}
