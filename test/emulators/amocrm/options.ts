/**
 * Options of the amoCRM emulator, with their defaults. Every knob that a test may
 * want to turn (limits, token lifetimes, unconfirmed vendor behaviours) lives here.
 */
import type { AccountMetadata } from './types.ts';

export interface RateLimitOptions {
  /**
   * Requests admitted per sliding window, per account (sheet §2: 7 requests/s).
   * @defaultValue 7
   */
  perWindow?: number;
  /**
   * Sliding window length, ms.
   * @defaultValue 1000
   */
  windowMs?: number;
  /**
   * Seconds put into the 429 body's `retry_after` (Kommo docs show 300; a small
   * default keeps tests fast).
   * @defaultValue 1
   */
  retryAfterSec?: number;
  /**
   * Also send a `Retry-After` header. Unconfirmed on the real API (sheet §2, issue #526).
   * @defaultValue true
   */
  retryAfterHeader?: boolean;
  /**
   * Send the 429 with a plain-text body instead of problem+json (seen by SDK maintainers, PR #517).
   * @defaultValue false
   */
  plainTextBody?: boolean;
  /** Escalation to an HTML 403 block after repeated 429s; `false` disables it. */
  block?: BlockOptions | false;
}

export interface BlockOptions {
  /**
   * Number of rate-limit 429s within `withinMs` that triggers the block.
   * @defaultValue 10
   */
  after429s?: number;
  /**
   * Window in which the 429s are counted, ms.
   * @defaultValue 60000
   */
  withinMs?: number;
  /**
   * How long the block lasts, ms. The real block only ends via a support ticket
   * (sheet §2); a finite default keeps demo mode usable.
   * @defaultValue 300000
   */
  durationMs?: number;
}

export interface OAuthOptions {
  /** @defaultValue 'leadgate-emulator-client' */
  clientId?: string;
  /** @defaultValue 'leadgate-emulator-secret' */
  clientSecret?: string;
  /**
   * Redirect URI the code exchange must repeat; `null` skips the check.
   * @defaultValue 'http://127.0.0.1/oauth/amocrm'
   */
  redirectUri?: string | null;
  /** @defaultValue 86400 (24 h) */
  accessTokenTtlSec?: number;
  /** @defaultValue 7776000 (90 days) */
  refreshTokenTtlSec?: number;
  /** @defaultValue 1200 (20 min) */
  authCodeTtlSec?: number;
  /**
   * What happens to a refresh token once it was exchanged.
   * `'valid-until-new-pair-used'` (Kommo docs, sheet §1.3/§14): it keeps working until the
   * new access or refresh token is used, then gives 401 "Token has been revoked".
   * `'revoked-immediately'` (amoCRM maintainers, issue #123): 401 on any reuse.
   * @defaultValue 'valid-until-new-pair-used'
   */
  oldRefreshToken?: 'valid-until-new-pair-used' | 'revoked-immediately';
}

export interface AmoEmulatorOptions {
  /**
   * Clock in Unix ms; inject a fake one for deterministic rate-limit and expiry tests.
   * @defaultValue Date.now
   */
  clock?: () => number;
  /**
   * Long-lived tokens accepted as Bearer tokens (any string). When omitted, one JWT-shaped
   * token valid for 5 years is generated.
   */
  longLivedTokens?: string[];
  oauth?: OAuthOptions;
  rateLimit?: RateLimitOptions | false;
  /** Replace parts of the default account (users, pipelines, fields…). */
  metadata?: (defaults: AccountMetadata) => AccountMetadata;
  /**
   * Status for `GET /{entity}/{id}` of an unknown id; the sheet (§3) leaves 204 vs 404 open.
   * @defaultValue 204
   */
  missingEntityStatus?: 204 | 404;
  /**
   * Whether `?query=` finds contacts/companies of not-yet-accepted Unsorted items (sheet §4.1, unconfirmed).
   * @defaultValue false
   */
  unsortedContactsSearchable?: boolean;
  /**
   * What a second pending Unsorted item with the same source and phone/email does (sheet §6):
   * `'allow'`, `'reject'` (400) or `'tag'` (tag "Дубль" on both leads).
   * @defaultValue 'allow'
   */
  unsortedDuplicates?: 'allow' | 'reject' | 'tag';
  /**
   * Duplicate control for `/leads/complex` (sheet §5.2): fold into an open lead of a contact
   * with the same phone (last 10 digits) or email, answering `merged: true`.
   * @defaultValue false
   */
  complexDuplicateControl?: boolean;
  /**
   * Fastify logger; off by default to keep test output clean.
   * @defaultValue false
   */
  logger?: boolean;
}

export interface ResolvedOptions {
  clock: () => number;
  longLivedTokens: string[] | null;
  oauth: Required<OAuthOptions>;
  rateLimit: (Required<Omit<RateLimitOptions, 'block'>> & { block: Required<BlockOptions> | false }) | false;
  metadata: (defaults: AccountMetadata) => AccountMetadata;
  missingEntityStatus: 204 | 404;
  unsortedContactsSearchable: boolean;
  unsortedDuplicates: 'allow' | 'reject' | 'tag';
  complexDuplicateControl: boolean;
  logger: boolean;
}

export function resolveOptions(o: AmoEmulatorOptions = {}): ResolvedOptions {
  const rl = o.rateLimit;
  const block = rl === false || rl?.block === false ? false : {
    after429s: rl?.block?.after429s ?? 10,
    withinMs: rl?.block?.withinMs ?? 60_000,
    durationMs: rl?.block?.durationMs ?? 300_000,
  };
  return {
    clock: o.clock ?? Date.now,
    longLivedTokens: o.longLivedTokens ?? null,
    oauth: {
      clientId: o.oauth?.clientId ?? 'leadgate-emulator-client',
      clientSecret: o.oauth?.clientSecret ?? 'leadgate-emulator-secret',
      redirectUri: o.oauth?.redirectUri === undefined ? 'http://127.0.0.1/oauth/amocrm' : o.oauth.redirectUri,
      accessTokenTtlSec: o.oauth?.accessTokenTtlSec ?? 86_400,
      refreshTokenTtlSec: o.oauth?.refreshTokenTtlSec ?? 7_776_000,
      authCodeTtlSec: o.oauth?.authCodeTtlSec ?? 1_200,
      oldRefreshToken: o.oauth?.oldRefreshToken ?? 'valid-until-new-pair-used',
    },
    rateLimit: rl === false ? false : {
      perWindow: rl?.perWindow ?? 7,
      windowMs: rl?.windowMs ?? 1_000,
      retryAfterSec: rl?.retryAfterSec ?? 1,
      retryAfterHeader: rl?.retryAfterHeader ?? true,
      plainTextBody: rl?.plainTextBody ?? false,
      block,
    },
    metadata: o.metadata ?? ((d) => d),
    missingEntityStatus: o.missingEntityStatus ?? 204,
    unsortedContactsSearchable: o.unsortedContactsSearchable ?? false,
    unsortedDuplicates: o.unsortedDuplicates ?? 'allow',
    complexDuplicateControl: o.complexDuplicateControl ?? false,
    logger: o.logger ?? false,
  };
}
