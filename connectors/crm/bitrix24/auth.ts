/**
 * Where requests go and how they are authenticated (reference: bitrix24.md §1).
 * - Webhook: the secret URL `https://<portal>/rest/<user>/<code>/` comes from env; the method is appended.
 * - OAuth (local "API only" app): `POST https://<portal>/rest/<method>` with `auth=<access_token>` in the JSON
 *   body (never in the query string, which ends up in logs). Refresh only after a 401, never on a timer (the
 *   docs warn that refreshing on a schedule can get the app blocked); the refresh token rotates on every
 *   refresh, so refreshes run under the account's Redis lock with a double-check, and the new pair is stored
 *   before it is used.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { CrmError, HttpError, type CrmIO, type HttpRequest, type HttpResponse, type StoredTokens } from '#sdk';
import { DEFAULTS, envValue, parseWebhookUrl, type BitrixSettings } from './settings.ts';

export interface Endpoint {
  /** Append the method name: `https://acme.bitrix24.ru/rest/` or the webhook's `…/rest/1/<code>/`. */
  restBase: string;
  /** `https://acme.bitrix24.ru`: links to records, redirect checks. */
  origin: string;
}

/** The REST base of the account; a missing or malformed webhook URL is a config error naming the env var. */
export function endpoint(s: BitrixSettings): Endpoint {
  if (s.auth === 'oauth') {
    const origin = s.portalUrl ?? '';
    return { restBase: `${origin}/rest/`, origin };
  }
  const name = s.webhookUrlEnv ?? '(webhookUrlEnv)';
  const raw = envValue(s.webhookUrlEnv);
  if (!raw) throw new CrmError({ kind: 'config', cause: `${name} is empty`, fix: webhookHowTo(name) });
  const parsed = parseWebhookUrl(raw);
  if ('problem' in parsed) throw new CrmError({ kind: 'config', cause: `the value of ${name} ${parsed.problem}`, fix: webhookHowTo(name) });
  return { restBase: parsed.restBase, origin: parsed.origin };
}

export function webhookHowTo(envName: string): string {
  return `create an inbound webhook (Bitrix24 → Applications → Developer resources → Other → Inbound webhook) with the scopes crm, telephony and user, put its URL (https://<portal>/rest/<user>/<code>/) into ${envName} and restart`;
}

export function reinstallHowTo(s: BitrixSettings): string {
  return `open the local app in Bitrix24 (Developer resources → Other → Local application ${s.clientId ?? ''}), reinstall it, put the refresh_token of the install callback into ${s.initialRefreshTokenEnv ?? 'initialRefreshTokenEnv'} and restart (a new value there replaces the stored tokens)`;
}

/** A 401 seen by the hub's HTTP client; the Bitrix client answers it with one refresh and one more try. */
export class UnauthorizedSignal extends Error {
  constructor() {
    super('Bitrix24 answered 401 to the access token');
    this.name = 'UnauthorizedSignal';
  }
}

/** Makes a method name absolute and adds the OAuth token to the body when the caller has not. */
export async function authorize(io: CrmIO, s: BitrixSettings, req: HttpRequest): Promise<HttpRequest> {
  if (/^https?:\/\//i.test(req.url)) return req; // already resolved, or the token server
  const url = endpoint(s).restBase + req.url.replace(/^\/+/, '');
  if (s.auth !== 'oauth') return { ...req, url };
  const body = isObject(req.data) ? req.data : {};
  if ('auth' in body) return { ...req, url };
  return { ...req, url, data: { ...body, auth: await accessToken(io, s) } };
}

/**
 * Called by the hub's HTTP client after a 401. A webhook has nothing to refresh: its URL is wrong, deleted or
 * expired. For OAuth the client that sent the request knows which token failed and refreshes (see `send` in
 * client.ts), so this only signals.
 */
export async function onUnauthorized(_io: CrmIO, s: BitrixSettings, failed?: HttpResponse): Promise<void> {
  const body = failed && isObject(failed.data) ? failed.data : {};
  const code = typeof body.error === 'string' ? body.error : undefined;
  // Not a credential problem (sheet §1.5): the method waits for an admin's approval; a refresh would not help.
  if (code === 'METHOD_CONFIRM_WAITING' || code === 'METHOD_CONFIRM_DENIED') {
    const detail = typeof body.error_description === 'string' && body.error_description ? ` (${body.error_description})` : '';
    throw new CrmError({ kind: 'config', cause: `Bitrix24 answered 401 ${code}${detail}`, fix: 'a Bitrix24 admin must approve this method for the app or webhook (Applications → the app → approve methods), then replay the failed deliveries' });
  }
  if (s.auth === 'webhook') {
    const name = s.webhookUrlEnv ?? 'webhookUrlEnv';
    throw new CrmError({ kind: 'config', cause: `Bitrix24 refused the inbound webhook in ${name} (401 NO_AUTH_FOUND: deleted, expired, or its secret changed when an admin edited it)`, fix: webhookHowTo(name) });
  }
  throw new UnauthorizedSignal();
}

/** Tag of the env refresh token the stored pair grew from: a different value in env means "re-seed". */
function seedOf(s: BitrixSettings): string | undefined {
  const v = envValue(s.initialRefreshTokenEnv);
  return v ? createHash('sha256').update(v).digest('hex').slice(0, 16) : undefined;
}

function needsSeed(t: StoredTokens | null, seed: string | undefined): boolean {
  if (!t) return true;
  return seed !== undefined && t.extra?.seed !== seed;
}

/** The stored access token; the first call (or a new refresh token in env) seeds the pair under the lock. */
export async function accessToken(io: CrmIO, s: BitrixSettings): Promise<string> {
  const seed = seedOf(s);
  const stored = await io.credentials.get();
  if (stored && !needsSeed(stored, seed)) return stored.accessToken;
  return io.credentials.withLock(async () => {
    const again = await io.credentials.get();
    if (again && !needsSeed(again, seed)) return again.accessToken;
    const envToken = envValue(s.initialRefreshTokenEnv);
    if (!envToken || !seed) {
      throw new CrmError({ kind: 'config', cause: `no Bitrix24 tokens stored and ${s.initialRefreshTokenEnv ?? 'initialRefreshTokenEnv'} is empty`, fix: reinstallHowTo(s) });
    }
    const t = await grantRefresh(io, s, envToken, 'env');
    await io.credentials.put({ ...t, extra: { ...t.extra, seed } });
    io.log.info({ memberId: t.extra?.memberId }, 'Bitrix24 tokens seeded from the initial refresh token');
    return t.accessToken;
  });
}

/**
 * Refresh after `rejected` got a 401. Under the lock, a token that differs from `rejected` means another worker
 * refreshed already: nothing to do (four deliveries hitting an expired token make one refresh, not four).
 */
export async function refreshAfterReject(io: CrmIO, s: BitrixSettings, rejected: string): Promise<void> {
  await io.credentials.withLock(async () => {
    const cur = await io.credentials.get();
    if (cur && cur.accessToken !== rejected) return;
    if (!cur?.refreshToken) throw new CrmError({ kind: 'config', cause: 'the Bitrix24 access token was refused and no refresh token is stored', fix: reinstallHowTo(s) });
    const t = await grantRefresh(io, s, cur.refreshToken, 'stored');
    // Saved before anyone uses it: the old refresh token is dead from now on.
    await io.credentials.put({ ...t, extra: { ...cur.extra, ...t.extra } });
    io.log.info('Bitrix24 access token refreshed after a 401');
  });
}

const TokenPairSchema = z.object({
  access_token: z.string().min(1),
  refresh_token: z.string().min(1),
  expires: z.number().optional(),
  expires_in: z.number().optional(),
  member_id: z.string().optional(),
  client_endpoint: z.string().optional(),
});

async function grantRefresh(io: CrmIO, s: BitrixSettings, refreshToken: string, from: 'env' | 'stored'): Promise<StoredTokens> {
  const secretEnv = s.clientSecretEnv ?? 'clientSecretEnv';
  const clientSecret = envValue(s.clientSecretEnv);
  if (!clientSecret) throw new CrmError({ kind: 'config', cause: `${secretEnv} is empty`, fix: `put the local app's client_secret into ${secretEnv} and restart` });
  const tokenUrl = s.tokenUrl ?? DEFAULTS.tokenUrl;
  let data: unknown;
  try {
    const res = await io.http.request({
      method: 'POST',
      url: tokenUrl,
      encoding: 'form',
      data: { grant_type: 'refresh_token', client_id: s.clientId ?? '', client_secret: clientSecret, refresh_token: refreshToken },
      unlimited: true,
      timeoutMs: s.timeoutMs ?? DEFAULTS.timeoutMs,
    });
    data = res.data;
  } catch (err) {
    throw tokenServerFailure(err, s, from);
  }
  const p = TokenPairSchema.safeParse(data);
  if (!p.success) throw new CrmError({ kind: 'retry', afterMs: 30_000, cause: `the OAuth server ${new URL(tokenUrl).host} answered without a token pair` });
  const t = p.data;
  const now = io.now().getTime();
  const extra: Record<string, string> = {};
  if (t.member_id) extra.memberId = t.member_id;
  if (t.client_endpoint) extra.clientEndpoint = t.client_endpoint;
  return {
    accessToken: t.access_token,
    refreshToken: t.refresh_token,
    expiresAt: t.expires ? t.expires * 1000 : now + (t.expires_in ?? 3600) * 1000,
    refreshIssuedAt: now,
    extra,
  };
}

function tokenServerFailure(err: unknown, s: BitrixSettings, from: 'env' | 'stored'): CrmError {
  if (err instanceof CrmError) return err;
  const host = new URL(s.tokenUrl ?? DEFAULTS.tokenUrl).host;
  if (err instanceof UnauthorizedSignal) return new CrmError({ kind: 'config', cause: `the OAuth server ${host} answered 401`, fix: `check clientId and ${s.clientSecretEnv ?? 'clientSecretEnv'}` });
  if (err instanceof HttpError && err.status !== undefined && err.status < 500) {
    const body = isObject(err.data) ? err.data : {};
    const code = typeof body.error === 'string' ? body.error : `HTTP ${err.status}`;
    if (code === 'invalid_client') {
      return new CrmError({ kind: 'config', cause: `the OAuth server ${host} refused the app (invalid_client)`, fix: `check clientId (${s.clientId ?? ''}) and the secret in ${s.clientSecretEnv ?? 'clientSecretEnv'}; the app must be installed on the portal` });
    }
    const which = from === 'env' ? `the refresh token in ${s.initialRefreshTokenEnv ?? 'initialRefreshTokenEnv'}` : 'the stored refresh token';
    return new CrmError({ kind: 'config', cause: `the OAuth server ${host} refused ${which} (${code}: expired, already used, or the app was removed)`, fix: reinstallHowTo(s) });
  }
  const what = err instanceof HttpError ? (err.status !== undefined ? `HTTP ${err.status}` : (err.code ?? 'network error')) : err instanceof Error ? err.message : String(err);
  return new CrmError({ kind: 'retry', afterMs: 15_000, cause: `the OAuth server ${host} is unavailable (${what})` });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
