/**
 * amoCRM authorization (reference: /work/shared/reference/amocrm.md §1).
 * - long-lived: the Bearer token from the env var named by `tokenEnv`; a 401 means it expired or was revoked.
 * - oauth: the access/refresh pair lives in Redis (`io.credentials`). Refresh happens proactively (< 5 min left)
 *   or once after a 401, always under the account's Redis lock with a double check after acquiring it, so any
 *   number of workers refresh exactly once. The rotated pair is stored before the new token is used: a lost
 *   refresh token would mean re-authorizing by hand.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { CrmError, HttpError, type CrmIO, type HttpRequest, type StoredTokens } from '#sdk';
import { amoClient, type TokenPair } from './client.ts';
import { unauthorizedFix } from './classify.ts';
import { AmoSettingsSchema, type AmoSettings } from './settings.ts';

type Env = Readonly<Record<string, string | undefined>>;

/** Refresh this long before the access token's expiry instead of waiting for a 401. */
const REFRESH_AHEAD_MS = 5 * 60_000;
/** amoCRM refresh tokens die after 3 months unused: warn at 2.5. */
const REFRESH_TOKEN_WARN_MS = 75 * 24 * 3_600_000;
/** Long-lived tokens: warn a week before `exp`. */
const LONG_LIVED_WARN_MS = 7 * 24 * 3_600_000;

const TOKEN_PATH = '/oauth2/access_token';

/**
 * Per call chain (one delivery, one inspect…): the access token the last request carried, so a 401 handler knows
 * which token failed and does not refresh again when another worker already did.
 */
interface AuthContext {
  lastToken?: string;
  refreshing?: boolean;
}
const authContext = new AsyncLocalStorage<AuthContext>();
/** Fallback when a request runs outside `withAuthContext`: the token this process handed out last. */
const lastTokenByIo = new WeakMap<CrmIO, string>();

export function withAuthContext<T>(fn: () => Promise<T>): Promise<T> {
  return authContext.run({}, fn);
}

function config(cause: string, fix: string): CrmError {
  return new CrmError({ kind: 'config', cause, fix });
}

export async function authorize(io: CrmIO, s: AmoSettings, req: HttpRequest, env: Env = process.env): Promise<HttpRequest> {
  if (isTokenEndpoint(req.url)) return req;
  const token = await accessToken(io, s, env);
  const ctx = authContext.getStore();
  if (ctx) ctx.lastToken = token;
  lastTokenByIo.set(io, token);
  return { ...req, headers: { ...(req.headers ?? {}), Authorization: `Bearer ${token}` } };
}

async function accessToken(io: CrmIO, s: AmoSettings, env: Env): Promise<string> {
  if (s.auth === 'long-lived') {
    const t = env[s.tokenEnv ?? ''];
    if (!t) throw config(`${s.tokenEnv} is empty`, `put the amoCRM long-lived token into ${s.tokenEnv}`);
    return t;
  }
  const stored = await io.credentials.get();
  if (!stored) return (await refreshUnderLock(io, s, null, env)).accessToken;
  const leftMs = stored.expiresAt === undefined ? Infinity : stored.expiresAt - io.now().getTime();
  if (leftMs < REFRESH_AHEAD_MS) {
    try {
      return (await refreshUnderLock(io, s, stored.accessToken, env)).accessToken;
    } catch (err) {
      // amoCRM unreachable for the early refresh: the current token still works for a few minutes.
      if (leftMs > 5_000 && !(err instanceof CrmError)) return stored.accessToken;
      throw err;
    }
  }
  return stored.accessToken;
}

/** After a 401: one refresh (unless another worker already rotated the token we used), else a config error. */
export async function onUnauthorized(io: CrmIO, s: AmoSettings, env: Env = process.env): Promise<void> {
  if (s.auth === 'long-lived') {
    throw config(`amoCRM rejected the long-lived token in ${s.tokenEnv} (HTTP 401: expired, revoked or the integration was disabled)`, unauthorizedFix(s));
  }
  const ctx = authContext.getStore();
  // A 401 of the token endpoint itself: let the client's single retry happen, the refresh code reads the answer.
  if (ctx?.refreshing) return;
  const failed = ctx?.lastToken ?? lastTokenByIo.get(io) ?? null;
  await refreshUnderLock(io, s, failed, env, true);
}

/**
 * The one place tokens are refreshed. `stale` is the access token known to be bad (or near expiry); if the store
 * holds a different, fresh one after the lock is taken, another worker refreshed meanwhile and that one is used.
 */
async function refreshUnderLock(io: CrmIO, s: AmoSettings, stale: string | null, env: Env, after401 = false): Promise<StoredTokens> {
  return io.credentials.withLock(async () => {
    const cur = await io.credentials.get();
    const now = io.now().getTime();
    if (cur && cur.accessToken !== stale && (cur.expiresAt === undefined || cur.expiresAt - now >= REFRESH_AHEAD_MS)) return cur;
    const initial = s.initialRefreshTokenEnv ? env[s.initialRefreshTokenEnv] : undefined;
    const refreshToken = cur?.refreshToken ?? initial;
    if (!refreshToken) {
      throw config(
        cur ? 'the stored amoCRM tokens have no refresh token' : 'no amoCRM OAuth tokens are stored for this account yet',
        `authorize once: copy the authorization code from the integration in amoCRM and run \`npx leadgate oauth amocrm <accountId> <code>\`${s.initialRefreshTokenEnv ? ` (or put a refresh token into ${s.initialRefreshTokenEnv})` : ''}`,
      );
    }
    let pair: TokenPair;
    try {
      pair = await tokenRequest(io, s, env, { grant_type: 'refresh_token', refresh_token: refreshToken });
    } catch (err) {
      if (err instanceof HttpError && (err.status === 400 || err.status === 401)) {
        // Kommo: a refresh token stays valid until the new pair is used; a consumed one gives 401 "Token has been revoked".
        throw config(`amoCRM refused to refresh the OAuth token (HTTP ${err.status}${hintOf(err.data)})${after401 ? ' after an API 401' : ''}`, unauthorizedFix(s));
      }
      throw err;
    }
    const next = toStored(pair, io.now().getTime());
    await io.credentials.put(next); // acknowledged by Redis before the new token is used
    io.log.info({ expiresAt: new Date(next.expiresAt ?? 0).toISOString() }, 'amoCRM OAuth token refreshed');
    return next;
  });
}

async function tokenRequest(io: CrmIO, s: AmoSettings, env: Env, grant: Record<string, string>): Promise<TokenPair> {
  const secret = env[s.clientSecretEnv ?? ''];
  if (!secret) throw config(`${s.clientSecretEnv} is empty`, `put the integration's secret key into ${s.clientSecretEnv}`);
  const body = { client_id: s.clientId, client_secret: secret, redirect_uri: s.redirectUri, ...grant };
  const parent = authContext.getStore() ?? {};
  return authContext.run({ ...parent, refreshing: true }, () => amoClient(io, s).token(body));
}

function toStored(pair: TokenPair, nowMs: number): StoredTokens {
  return { accessToken: pair.access_token, refreshToken: pair.refresh_token, expiresAt: nowMs + pair.expires_in * 1000, refreshIssuedAt: nowMs };
}

/**
 * `npx leadgate oauth amocrm <accountId> <code>`: exchange a one-time authorization code (valid 20 minutes) for the
 * first token pair and store it. Runs under the same lock as refreshes.
 */
export async function exchangeAuthCode(io: CrmIO, s: AmoSettings, code: string, env: Env = process.env): Promise<StoredTokens> {
  if (s.auth !== 'oauth') throw config('this account uses a long-lived token', 'set auth: oauth with clientId, clientSecretEnv and redirectUri to use authorization codes');
  return io.credentials.withLock(async () => {
    let pair: TokenPair;
    try {
      pair = await withAuthContext(() => tokenRequest(io, s, env, { grant_type: 'authorization_code', code }));
    } catch (err) {
      if (err instanceof HttpError && (err.status === 400 || err.status === 401)) {
        throw config(`amoCRM refused the authorization code (HTTP ${err.status}${hintOf(err.data)})`, 'codes are single-use and live 20 minutes: copy a fresh one; check clientId, the secret and that redirectUri matches the integration exactly');
      }
      throw err;
    }
    const next = toStored(pair, io.now().getTime());
    await io.credentials.put(next);
    return next;
  });
}

/** Start-up warnings: a refresh token close to its 3-month death, a long-lived token about to expire. */
export async function tokenWarnings(io: CrmIO, s: AmoSettings, env: Env = process.env): Promise<{ warnings: string[]; problems: string[] }> {
  const warnings: string[] = [];
  const problems: string[] = [];
  const now = io.now().getTime();
  if (s.auth === 'long-lived') {
    const exp = jwtExpMs(env[s.tokenEnv ?? ''] ?? '');
    if (exp !== undefined && exp <= now) problems.push(`the long-lived token in ${s.tokenEnv} expired on ${new Date(exp).toISOString()}; fix: ${unauthorizedFix(s)}`);
    else if (exp !== undefined && exp - now < LONG_LIVED_WARN_MS) {
      warnings.push(`the long-lived token in ${s.tokenEnv} expires on ${new Date(exp).toISOString()} (in ${Math.ceil((exp - now) / 86_400_000)} days): ${unauthorizedFix(s)}`);
    }
    return { warnings, problems };
  }
  const t = await io.credentials.get();
  if (t?.refreshIssuedAt !== undefined && now - t.refreshIssuedAt > REFRESH_TOKEN_WARN_MS) {
    warnings.push(`the amoCRM refresh token was issued on ${new Date(t.refreshIssuedAt).toISOString()}; it dies after 3 months without use. Any delivery refreshes it; otherwise ${unauthorizedFix(s)}`);
  }
  return { warnings, problems };
}

/** `exp` of a JWT in ms, or undefined when the token is not a JWT. Only read, never trusted for auth. */
export function jwtExpMs(token: string): number | undefined {
  const part = token.split('.')[1];
  if (!part) return undefined;
  try {
    const claims: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    if (typeof claims === 'object' && claims !== null && 'exp' in claims && typeof claims.exp === 'number') return claims.exp * 1000;
  } catch {
    /* not a JWT */
  }
  return undefined;
}

function isTokenEndpoint(url: string): boolean {
  return url.split('?')[0]!.endsWith(TOKEN_PATH);
}

function hintOf(data: unknown): string {
  if (typeof data !== 'object' || data === null) return '';
  const hint = 'hint' in data && typeof data.hint === 'string' ? data.hint : 'detail' in data && typeof data.detail === 'string' ? data.detail : undefined;
  return hint ? `: ${hint}` : '';
}

/** The CLI's entry (`leadgate oauth amocrm <accountId> <code>`): settings arrive unparsed from the config. */
export async function oauthCommandExchange(io: CrmIO, settings: unknown, code: string): Promise<{ expiresAt: string }> {
  const s = AmoSettingsSchema.parse(settings);
  const t = await exchangeAuthCode(io, s, code);
  return { expiresAt: new Date(t.expiresAt ?? 0).toISOString() };
}
