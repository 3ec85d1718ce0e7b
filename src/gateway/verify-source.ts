import { timingSafeEqual, createHash } from 'node:crypto';
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
  if (!safeEqual(given, src.secret)) throw new AuthError('LG_ERR_SECRET_MISMATCH', 'the secret does not match this source');
}
