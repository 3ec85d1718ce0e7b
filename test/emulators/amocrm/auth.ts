/**
 * Token store: long-lived tokens, OAuth authorization codes, access/refresh pairs with
 * rotation (sheet §1.2–§1.4). Tokens are JWT-shaped (HS256 over an emulator secret) so
 * clients that read `exp` work; validity is decided by this store, never by the signature.
 */
import { createHash, createHmac } from 'node:crypto';
import type { ResolvedOptions } from './options.ts';

const JWT_SECRET = 'leadgate-amocrm-emulator';

export interface AccessTokenRecord {
  token: string;
  kind: 'long-lived' | 'oauth';
  userId: number;
  /** Unix ms; `Infinity` = never. */
  expiresAt: number;
  revoked: boolean;
  /** Refresh token issued together with this access token (OAuth only). */
  pairedRefresh: string | null;
}

export interface RefreshTokenRecord {
  token: string;
  expiresAt: number;
  revoked: boolean;
  /** Set once this token was exchanged for a new pair. */
  usedAt: number | null;
  /** The refresh token this one replaced. */
  parent: string | null;
}

export interface AuthCodeRecord {
  code: string;
  expiresAt: number;
  used: boolean;
}

export type OAuthFailure = { status: 400 | 401; hint: string };

export interface TokenPair {
  token_type: 'Bearer';
  expires_in: number;
  server_time: number;
  access_token: string;
  refresh_token: string;
}

function b64(obj: unknown): string {
  return Buffer.from(JSON.stringify(obj)).toString('base64url');
}

function sha(input: string): string {
  return createHash('sha256').update(input).digest('hex');
}

export class AuthStore {
  readonly accessTokens = new Map<string, AccessTokenRecord>();
  readonly refreshTokens = new Map<string, RefreshTokenRecord>();
  readonly authCodes = new Map<string, AuthCodeRecord>();
  private seq = 0;

  constructor(
    private readonly opts: ResolvedOptions,
    private readonly account: { id: number; subdomain: string; userId: number },
  ) {}

  private now(): number {
    return this.opts.clock();
  }

  private jwt(claims: Record<string, unknown>): string {
    const head = b64({ typ: 'JWT', alg: 'HS256' });
    const body = b64(claims);
    const sig = createHmac('sha256', JWT_SECRET).update(`${head}.${body}`).digest('base64url');
    return `${head}.${body}.${sig}`;
  }

  private claims(expiresAtMs: number): Record<string, unknown> {
    this.seq += 1;
    const iat = Math.floor(this.now() / 1000);
    return {
      aud: this.opts.oauth.clientId,
      jti: sha(`jti:${this.seq}`).slice(0, 40),
      iat,
      nbf: iat,
      exp: Math.floor(expiresAtMs / 1000),
      sub: String(this.account.userId),
      account_id: this.account.id,
      base_domain: 'amocrm.ru',
      api_domain: 'api-b.amocrm.ru',
      version: 2,
      scopes: ['crm', 'notifications'],
    };
  }

  /** Registers a long-lived token (a given string, or a generated 5-year JWT). */
  addLongLived(token?: string, ttlSec = 5 * 365 * 86_400): string {
    const expiresAt = this.now() + ttlSec * 1000;
    const value = token ?? this.jwt(this.claims(expiresAt));
    this.accessTokens.set(value, {
      token: value,
      kind: 'long-lived',
      userId: this.account.userId,
      expiresAt: token === undefined ? expiresAt : Infinity,
      revoked: false,
      pairedRefresh: null,
    });
    return value;
  }

  /** What the redirect after "Allow" carries as `code` (single use, 20 min). */
  issueAuthCode(): string {
    this.seq += 1;
    const code = `def50200${sha(`code:${this.seq}`)}`;
    this.authCodes.set(code, { code, expiresAt: this.now() + this.opts.oauth.authCodeTtlSec * 1000, used: false });
    return code;
  }

  private issuePair(parent: string | null): TokenPair {
    const o = this.opts.oauth;
    const now = this.now();
    const accessExp = now + o.accessTokenTtlSec * 1000;
    const access = this.jwt(this.claims(accessExp));
    this.seq += 1;
    const refresh = `def50200${sha(`refresh:${this.seq}`)}${sha(`refresh2:${this.seq}`)}`;
    this.refreshTokens.set(refresh, {
      token: refresh,
      expiresAt: now + o.refreshTokenTtlSec * 1000,
      revoked: false,
      usedAt: null,
      parent,
    });
    this.accessTokens.set(access, {
      token: access,
      kind: 'oauth',
      userId: this.account.userId,
      expiresAt: accessExp,
      revoked: false,
      pairedRefresh: refresh,
    });
    return {
      token_type: 'Bearer',
      expires_in: o.accessTokenTtlSec,
      server_time: Math.floor(now / 1000),
      access_token: access,
      refresh_token: refresh,
    };
  }

  exchangeCode(code: string): TokenPair | OAuthFailure {
    const rec = this.authCodes.get(code);
    if (!rec) return { status: 400, hint: 'Cannot decrypt the authorization code' };
    if (rec.used) return { status: 400, hint: 'Authorization code has been revoked' };
    if (rec.expiresAt <= this.now()) return { status: 400, hint: 'Authorization code has expired' };
    rec.used = true;
    return this.issuePair(null);
  }

  refresh(token: string): TokenPair | OAuthFailure {
    const rec = this.refreshTokens.get(token);
    if (!rec) return { status: 401, hint: 'Cannot decrypt the refresh token' };
    if (rec.revoked) return { status: 401, hint: 'Token has been revoked' };
    if (rec.expiresAt <= this.now()) return { status: 401, hint: 'Token has expired' };
    rec.usedAt = this.now();
    if (this.opts.oauth.oldRefreshToken === 'revoked-immediately') rec.revoked = true;
    this.revokeParent(rec);
    return this.issuePair(token);
  }

  /** The new pair is in use: its predecessor refresh token stops working (grace mode). */
  private revokeParent(rec: RefreshTokenRecord): void {
    if (!rec.parent) return;
    const parent = this.refreshTokens.get(rec.parent);
    if (parent) parent.revoked = true;
  }

  /** Resolves a Bearer token to the user it acts as, or null when invalid/expired/revoked. */
  verify(token: string): AccessTokenRecord | null {
    const rec = this.accessTokens.get(token);
    if (!rec || rec.revoked || rec.expiresAt <= this.now()) return null;
    if (rec.pairedRefresh) {
      const refresh = this.refreshTokens.get(rec.pairedRefresh);
      if (refresh) this.revokeParent(refresh);
    }
    return rec;
  }

  /** Makes every OAuth access token (and optionally long-lived ones) expired right now. */
  expireAccessTokens(includeLongLived = false): number {
    let n = 0;
    for (const rec of this.accessTokens.values()) {
      if (rec.kind === 'oauth' || includeLongLived) {
        rec.expiresAt = this.now() - 1;
        n += 1;
      }
    }
    return n;
  }

  revoke(token: string): boolean {
    const a = this.accessTokens.get(token);
    if (a) a.revoked = true;
    const r = this.refreshTokens.get(token);
    if (r) r.revoked = true;
    return Boolean(a ?? r);
  }
}
