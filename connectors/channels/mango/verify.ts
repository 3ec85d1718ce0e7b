import { createHash } from 'node:crypto';
import { type RawEvent, type VerifyContext, type VerifyResult, safeEqual } from '#sdk';
import { readMangoForm } from './payload.ts';
import type { MangoSettings } from './settings.ts';

/** `sign = lowercase_hex(SHA-256(vpbx_api_key + json + vpbx_api_salt))`: plain SHA-256, not HMAC (§1.1). */
export function mangoSign(apiKey: string, json: string, salt: string): string {
  return createHash('sha256').update(apiKey + json + salt, 'utf8').digest('hex');
}

/**
 * Checks the product key and the signature over the `json` field exactly as received (never the
 * re-serialised object), then the event time against the replay window. `/ping` (the cabinet's
 * "check connection" button) passes unsigned: it is answered and never stored.
 */
export function verifyMango(e: RawEvent, ctx: VerifyContext<MangoSettings>): VerifyResult {
  if (e.subPath === '/ping') return { ok: true, detail: 'mango ping: unsigned connectivity check, nothing stored' };
  if (!ctx.secret) return { ok: false, status: 401, reason: 'no vpbx_api_salt configured for this source (set secretEnv)' };
  const f = readMangoForm(e);
  if (f.vpbx_api_key === undefined) return { ok: false, status: 401, reason: 'form field vpbx_api_key is missing (Mango posts urlencoded vpbx_api_key, sign, json)' };
  if (f.sign === undefined) return { ok: false, status: 401, reason: 'form field sign is missing' };
  if (f.json === undefined) return { ok: false, status: 401, reason: 'form field json is missing' };
  if (!safeEqual(f.vpbx_api_key, ctx.settings.apiKey)) return { ok: false, reason: 'vpbx_api_key does not match settings.apiKey of this source' };
  if (!safeEqual(f.sign.toLowerCase(), mangoSign(f.vpbx_api_key, f.json, ctx.secret))) {
    return { ok: false, reason: 'sign does not match sha256(vpbx_api_key + json + salt): wrong salt, or the body was altered' };
  }
  const at = eventTime(f.json);
  if (at !== undefined) {
    const skewSec = Math.abs(ctx.now.getTime() / 1000 - at);
    if (skewSec > ctx.settings.replayWindowSec) {
      return { ok: false, reason: `event time ${new Date(at * 1000).toISOString()} is outside the ${ctx.settings.replayWindowSec}s replay window` };
    }
  }
  return { ok: true };
}

/** `timestamp` of call/recording/dtmf events, `end_time` of a summary; undefined when neither is readable. */
function eventTime(json: string): number | undefined {
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch {
    return undefined;
  }
  if (v === null || typeof v !== 'object') return undefined;
  const o = v as Record<string, unknown>;
  const raw = o.timestamp ?? o.end_time;
  const n = typeof raw === 'number' ? raw : typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : undefined;
  return n !== undefined && n > 0 ? n : undefined;
}
