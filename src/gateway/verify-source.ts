import crypto, { timingSafeEqual, createHash } from 'node:crypto';
import { AuthError } from '../sdk/errors.ts';
import type { RawEvent } from '../sdk/channel.ts';
import type { ResolvedSource } from '../config/load.ts';

/** Constant-time string compare that does not leak the length either (compares digests). */
export function safeEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb) && a.length === b.length;
}

/**
 * Authenticates a request for its source, failing closed: when a secret is configured, the request must
 * prove it. A connector with its own `verify` (signatures) decides; otherwise the generic check reads the
 * `X-Leadgate-Secret` header or the `secret` query parameter.
 */
export function verifySource(src: ResolvedSource, e: RawEvent, now: Date): void {
  const c = src.connector;
  if (c.verify) {
    if (src.secret === undefined && !c.requiresSecret) return;
    const r = c.verify(e, { settings: src.settings, secret: src.secret, now });
    if (!r.ok) throw new AuthError(r.status === 401 ? 'LG_ERR_SECRET_MISSING' : 'LG_ERR_SIGNATURE', `request not authenticated: ${r.reason}`);
    return;
  }
  if (src.secret === undefined) return;
  const given = e.headers['x-leadgate-secret'] ?? e.query.secret;
  if (!given) throw new AuthError('LG_ERR_SECRET_MISSING', 'this source requires a secret: send it in the X-Leadgate-Secret header or the ?secret= query parameter');
  if (!matchesSecret(given, src.secret)) throw new AuthError('LG_ERR_SECRET_MISMATCH', 'the secret does not match this source');
}

/** One-shot SHA-256 (`crypto.hash`, Node ≥ 20.12, half the cost of a Hash object for short strings). */
// Looked up on the module object, not imported by name: a named import of a missing export fails at load on older Node.
const sha256: (s: string) => Buffer = typeof crypto.hash === 'function' ? (s) => crypto.hash('sha256', s, 'buffer') : (s) => createHash('sha256').update(s).digest();

/** The configured secrets' digests, computed once: the hot path then hashes only what the request gave. */
const secretDigests = new Map<string, Buffer>();

/** `safeEqual(given, secret)` with the secret's digest cached. */
function matchesSecret(given: string, secret: string): boolean {
  let d = secretDigests.get(secret);
  if (!d) {
    d = sha256(secret);
    secretDigests.set(secret, d);
  }
  return timingSafeEqual(sha256(given), d) && given.length === secret.length;
}
