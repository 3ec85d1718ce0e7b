import { createHmac } from 'node:crypto';
import { InputError, type RawEvent, type VerifyContext, type VerifyResult, safeEqual } from '#sdk';
import { isEcho, readZadarmaForm } from './payload.ts';
import type { ZadarmaSettings } from './settings.ts';
import { localToIso } from '#sdk';

/** Which fields are concatenated (no separator) into the signed string, per event (telephony.md §2.4). */
export const SIGNED_FIELDS: Readonly<Record<string, readonly string[]>> = {
  NOTIFY_START: ['caller_id', 'called_did', 'call_start'],
  NOTIFY_INTERNAL: ['caller_id', 'called_did', 'call_start'],
  NOTIFY_END: ['caller_id', 'called_did', 'call_start'],
  NOTIFY_IVR: ['caller_id', 'called_did', 'call_start'],
  NOTIFY_ANSWER: ['caller_id', 'destination', 'call_start'],
  NOTIFY_OUT_START: ['internal', 'destination', 'call_start'],
  NOTIFY_OUT_END: ['internal', 'destination', 'call_start'],
  NOTIFY_RECORD: ['pbx_call_id', 'call_id_with_rec'],
};

/**
 * Both encodings the vendor's own SDKs produce: the PHP SDK (and the server, whose docs show PHP)
 * base64-encodes the *hex* digest (56 chars); the TypeScript SDK base64-encodes the raw digest (28 chars).
 */
export function zadarmaSignatures(secret: string, signed: string): { hex: string; raw: string } {
  const mac = createHmac('sha1', secret).update(signed, 'utf8');
  const digest = mac.digest();
  return { hex: Buffer.from(digest.toString('hex'), 'latin1').toString('base64'), raw: digest.toString('base64') };
}

/**
 * Checks the `Signature` header over the event's signed fields. Only 2–3 fields are signed (the rest,
 * `duration`, `disposition`…, are not): pair it with an unguessable source id in the URL. The `zd_echo` URL
 * check passes unsigned; it is answered and never stored.
 */
export function verifyZadarma(e: RawEvent, ctx: VerifyContext<ZadarmaSettings>): VerifyResult {
  if (isEcho(e)) return { ok: true, detail: 'zadarma zd_echo URL check: unsigned, nothing stored' };
  if (!ctx.secret) return { ok: false, status: 401, reason: 'no API secret configured for this source (set secretEnv)' };
  const given = e.headers.signature;
  if (!given) return { ok: false, status: 401, reason: 'header Signature is missing' };
  let form: Record<string, unknown>;
  try {
    form = readZadarmaForm(e);
  } catch (err) {
    return { ok: false, status: 401, reason: `cannot read the signed fields: ${err instanceof InputError ? err.message : 'unreadable body'}` };
  }
  const event = typeof form.event === 'string' ? form.event : undefined;
  if (!event) return { ok: false, status: 401, reason: 'form field event is missing' };
  const fields = SIGNED_FIELDS[event];
  if (!fields) return { ok: false, reason: `event ${event} has no known signature rule; refusing rather than accepting it unsigned` };
  const parts: string[] = [];
  for (const f of fields) {
    const v = form[f];
    if (typeof v !== 'string') return { ok: false, status: 401, reason: `signed field ${f} is missing from ${event}` };
    parts.push(v);
  }
  const sig = zadarmaSignatures(ctx.secret, parts.join(''));
  let detail: string;
  if (safeEqual(given.trim(), sig.hex)) detail = 'signature: base64 of the hex digest (PHP form)';
  // Never seen from the server so far (telephony.md §12.1): the detail lets the gateway log that it matched.
  else if (safeEqual(given.trim(), sig.raw)) detail = 'signature: base64 of the raw digest (TypeScript SDK form)';
  else return { ok: false, reason: `Signature does not match HMAC-SHA1 over ${fields.join(' + ')}: wrong secret, or the fields were altered` };

  if (typeof form.call_start === 'string') {
    const at = localToIso(form.call_start, ctx.settings.timeZone);
    if (at === undefined) return { ok: false, reason: `call_start "${form.call_start}" is not YYYY-MM-DD HH:MM:SS` };
    const skewSec = Math.abs(ctx.now.getTime() - Date.parse(at)) / 1000;
    if (skewSec > ctx.settings.replayWindowSec) {
      return { ok: false, reason: `call_start ${form.call_start} (${ctx.settings.timeZone}) is outside the ${ctx.settings.replayWindowSec}s replay window` };
    }
  }
  return { ok: true, detail };
}
