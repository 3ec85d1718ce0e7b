import { createHmac } from 'node:crypto';
import { type RawEvent, type VerifyContext, type VerifyResult, safeEqual } from '#sdk';
import type { PbxSettings } from './settings.ts';

/** `hex(HMAC-SHA256(secret, "<timestamp>.<raw body>"))`: what goes after `sha256=` in X-Leadgate-Signature. */
export function pbxSignature(secret: string, timestamp: string, body: Buffer): string {
  return createHmac('sha256', secret).update(`${timestamp}.`, 'utf8').update(body).digest('hex');
}

/**
 * `X-Leadgate-Timestamp: <unix seconds>` and `X-Leadgate-Signature: sha256=<hex>` over
 * `<timestamp>.<raw body>`. Signing the timestamp makes a captured request useless after `maxSkewSec`.
 * Several comma-separated `sha256=` values are accepted (the agent may sign with the old and the new key
 * while the secret is rotated).
 */
export function verifyPbx(e: RawEvent, ctx: VerifyContext<PbxSettings>): VerifyResult {
  if (!ctx.secret) return { ok: false, status: 401, reason: 'no signing secret configured for this source (set secretEnv)' };
  const ts = e.headers['x-leadgate-timestamp'];
  const sig = e.headers['x-leadgate-signature'];
  if (!ts) return { ok: false, status: 401, reason: 'header X-Leadgate-Timestamp is missing' };
  if (!sig) return { ok: false, status: 401, reason: 'header X-Leadgate-Signature is missing' };
  if (!/^\d{1,12}$/.test(ts.trim())) return { ok: false, reason: 'X-Leadgate-Timestamp must be Unix seconds' };
  const skewSec = Math.abs(ctx.now.getTime() / 1000 - Number(ts.trim()));
  if (skewSec > ctx.settings.maxSkewSec) return { ok: false, reason: `X-Leadgate-Timestamp is ${Math.round(skewSec)}s away from our clock (limit ${ctx.settings.maxSkewSec}s): stale or a wrong clock on the PBX` };
  const expected = pbxSignature(ctx.secret, ts.trim(), e.body);
  const candidates = sig.split(',').map((s) => s.trim()).filter((s) => s.startsWith('sha256='));
  if (candidates.length === 0) return { ok: false, reason: 'X-Leadgate-Signature must be sha256=<hex>' };
  // Compare every candidate (no early exit) so the time does not tell which one matched.
  let ok = false;
  for (const c of candidates) ok = safeEqual(c.slice(7).toLowerCase(), expected) || ok;
  return ok ? { ok: true } : { ok: false, reason: 'X-Leadgate-Signature does not match HMAC-SHA256 over "<timestamp>.<body>": wrong secret, or the body was altered' };
}
