/**
 * OAuth 2.0 token server (docs `settings/oauth/{index,auto-renewal,error-codes}.md`).
 * Access tokens live `accessTokenTtlSec` (1 h); refresh tokens 180 days and are single-use:
 * every refresh returns a new pair and the old refresh token answers `invalid_grant`.
 * An old access token stays valid until it expires (not documented either way).
 * Auth codes live 30 s.
 */
import { randomBytes } from 'node:crypto';
import type { ResolvedOptions } from './options.ts';
import type { Params } from './types.ts';

const REFRESH_TTL_MS = 180 * 24 * 3600 * 1000;
const CODE_TTL_MS = 30_000;

interface AccessTokenRecord {
  userId: number;
  scopes: string[];
  expiresAtMs: number;
  state: 'live' | 'expired' | 'revoked';
}

interface RefreshTokenRecord {
  userId: number;
  scopes: string[];
  expiresAtMs: number;
  used: boolean;
}

/** Token-server answer, as documented for both grants. */
export interface TokenPair {
  access_token: string;
  client_endpoint: string;
  domain: string;
  expires: number;
  expires_in: number;
  member_id: string;
  refresh_token: string;
  scope: string;
  server_endpoint: string;
  status: string;
  user_id: number;
}

export type AccessCheck =
  | { ok: true; userId: number; scopes: string[] }
  | { ok: false; error: 'expired_token' | 'invalid_token' };

const token = (): string => randomBytes(32).toString('hex');

export class TokenStore {
  private readonly access = new Map<string, AccessTokenRecord>();
  private readonly refreshTokens = new Map<string, RefreshTokenRecord>();
  private readonly codes = new Map<string, { expiresAtMs: number; userId: number }>();

  constructor(private readonly opts: ResolvedOptions) {}

  /** A fresh pair as the install callback (`ONAPPINSTALL`) would deliver it. */
  issuePair(userId = this.opts.oauth.userId, scopes = this.opts.oauth.scopes): TokenPair {
    const now = this.opts.now();
    const accessToken = token();
    const refreshToken = token();
    const ttlMs = this.opts.oauth.accessTokenTtlSec * 1000;
    this.access.set(accessToken, { userId, scopes, expiresAtMs: now + ttlMs, state: 'live' });
    this.refreshTokens.set(refreshToken, { userId, scopes, expiresAtMs: now + REFRESH_TTL_MS, used: false });
    return {
      access_token: accessToken,
      client_endpoint: `${this.opts.baseUrl}/rest/`,
      domain: 'oauth.bitrix.info',
      expires: Math.floor((now + ttlMs) / 1000),
      expires_in: this.opts.oauth.accessTokenTtlSec,
      member_id: this.opts.memberId,
      refresh_token: refreshToken,
      scope: scopes.join(','),
      server_endpoint: `${this.opts.baseUrl}/rest/`,
      status: 'L',
      user_id: userId,
    };
  }

  /** An authorization `code` (valid 30 s) for the `authorization_code` grant. */
  issueAuthCode(userId = this.opts.oauth.userId): string {
    const code = token().slice(0, 32);
    this.codes.set(code, { expiresAtMs: this.opts.now() + CODE_TTL_MS, userId });
    return code;
  }

  check(accessToken: string): AccessCheck {
    const rec = this.access.get(accessToken);
    if (!rec || rec.state === 'revoked') return { ok: false, error: 'invalid_token' };
    if (rec.state === 'expired' || rec.expiresAtMs <= this.opts.now()) return { ok: false, error: 'expired_token' };
    return { ok: true, userId: rec.userId, scopes: rec.scopes };
  }

  expireAll(): number {
    let n = 0;
    for (const rec of this.access.values()) if (rec.state === 'live') (rec.state = 'expired'), n++;
    return n;
  }

  revokeAll(): number {
    let n = 0;
    for (const rec of this.access.values()) if (rec.state !== 'revoked') (rec.state = 'revoked'), n++;
    return n;
  }

  /** `/oauth/token/` with GET query or form/JSON body. Returns HTTP status and JSON body. */
  grant(params: Params): { status: number; body: TokenPair | { error: string; error_description: string } } {
    const str = (k: string): string => (typeof params[k] === 'string' ? (params[k] as string) : '');
    const fail = (error: string, description: string): { status: number; body: { error: string; error_description: string } } => ({
      status: 400,
      body: { error, error_description: description },
    });
    const grantType = str('grant_type');
    if (!grantType || !str('client_id')) return fail('invalid_request', 'Required parameters are missing');
    if (str('client_id') !== this.opts.oauth.clientId || str('client_secret') !== this.opts.oauth.clientSecret) {
      return fail('invalid_client', 'Invalid client credentials');
    }
    const now = this.opts.now();
    if (grantType === 'refresh_token') {
      const old = this.refreshTokens.get(str('refresh_token'));
      if (!old || old.used || old.expiresAtMs <= now) return fail('invalid_grant', 'Invalid grant');
      old.used = true;
      return { status: 200, body: this.issuePair(old.userId, old.scopes) };
    }
    if (grantType === 'authorization_code') {
      const code = this.codes.get(str('code'));
      this.codes.delete(str('code'));
      if (!code || code.expiresAtMs <= now) return fail('invalid_grant', 'Invalid grant');
      return { status: 200, body: this.issuePair(code.userId) };
    }
    return fail('invalid_request', `Unsupported grant_type: ${grantType}`);
  }

  reset(): void {
    this.access.clear();
    this.refreshTokens.clear();
    this.codes.clear();
  }
}
