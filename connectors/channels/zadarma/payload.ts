/**
 * Zadarma / Novofon 1.0 PBX call notifications (NOTIFY_*).
 * Vendor doc: https://zadarma.com/ru/support/api/#api_webhooks (Novofon: https://novofon.com/instructions/api/);
 * official SDK classes `zadarma/user-api-v1` lib/Webhook/*. Facts and doubts: shared/reference/telephony.md §2.
 *
 * Form POSTs (some senders use multipart/form-data), all values strings; the verification handshake is
 * `GET ?zd_echo=<token>`.
 */
import { z } from 'zod';
import { decodeUrlencoded, InputError, mediaType, type RawEvent } from '#sdk';

/** Fields each event must carry (official SDK classes); the signed ones are a subset, see verify.ts. */
export const REQUIRED_FIELDS: Readonly<Record<string, readonly string[]>> = {
  NOTIFY_START: ['pbx_call_id', 'call_start', 'caller_id', 'called_did'],
  NOTIFY_IVR: ['pbx_call_id', 'call_start', 'caller_id', 'called_did'],
  NOTIFY_INTERNAL: ['pbx_call_id', 'call_start', 'caller_id', 'called_did', 'internal'],
  NOTIFY_ANSWER: ['pbx_call_id', 'call_start', 'caller_id', 'destination'],
  NOTIFY_END: ['pbx_call_id', 'call_start', 'caller_id', 'called_did', 'disposition'],
  NOTIFY_OUT_START: ['pbx_call_id', 'call_start', 'internal', 'destination'],
  NOTIFY_OUT_END: ['pbx_call_id', 'call_start', 'internal', 'destination', 'disposition'],
  NOTIFY_RECORD: ['pbx_call_id', 'call_id_with_rec'],
};

const S = z.string();

export const ZadarmaNotifySchema = z
  .object({
    type: z.literal('notify'),
    event: z.string().min(1),
    pbx_call_id: S.optional(),
    call_start: S.optional(),
    caller_id: S.optional(),
    called_did: S.optional(),
    internal: S.optional(),
    destination: S.optional(),
    duration: S.regex(/^\d+$/, 'whole seconds').optional(),
    disposition: S.optional(),
    status_code: S.optional(),
    is_recorded: S.optional(),
    call_id_with_rec: S.optional(),
  })
  .superRefine((v, ctx) => {
    for (const f of REQUIRED_FIELDS[v.event] ?? []) {
      const value = (v as Record<string, unknown>)[f];
      if (typeof value !== 'string' || value === '') ctx.addIssue({ code: 'custom', path: [f], message: `${f} is required for ${v.event}` });
    }
  });
export type ZadarmaNotify = z.infer<typeof ZadarmaNotifySchema>;

/** The URL check: only a short token of safe characters is echoed back. */
export const ZadarmaEchoSchema = z.object({
  type: z.literal('echo'),
  zd_echo: z.string().regex(/^[A-Za-z0-9_.-]{1,128}$/, 'a token of letters, digits, _ . - (at most 128)'),
});

export const ZadarmaPayloadSchema = z.discriminatedUnion('type', [ZadarmaNotifySchema, ZadarmaEchoSchema]);
export type ZadarmaPayload = z.infer<typeof ZadarmaPayloadSchema>;

/** `GET ?zd_echo=…` without a body: Zadarma checking the URL when the admin saves it. */
export function isEcho(e: RawEvent): boolean {
  return e.method === 'GET' && typeof e.query.zd_echo === 'string';
}

/**
 * The notification's form fields, urlencoded or multipart, read synchronously so `verify` and `decode` see
 * exactly the same values. Values that are not plain strings (`wait_dtmf[digits]`) stay nested.
 */
export function readZadarmaForm(e: RawEvent): Record<string, unknown> {
  const mt = mediaType(e);
  if (mt === 'multipart/form-data') return decodeUrlencoded(multipartToUrlencoded(e.body, e.headers['content-type'] ?? ''));
  if (mt === 'application/x-www-form-urlencoded' || mt === '' || mt === 'text/plain') return decodeUrlencoded(e.body);
  throw new InputError({
    code: 'LG_ERR_BAD_CONTENT_TYPE',
    status: 415,
    field: 'content-type',
    expected: 'application/x-www-form-urlencoded or multipart/form-data',
    message: `unsupported content type "${mt}"`,
  });
}

/**
 * Text fields of a multipart body as an urlencoded string. Minimal and synchronous (verify is sync); file
 * parts are skipped. Tolerates bare `\n` line ends (a third-party receiver reported a boundary quirk).
 */
export function multipartToUrlencoded(body: Buffer, contentType: string): string {
  const m = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  const boundary = m?.[1] ?? m?.[2];
  if (!boundary) {
    throw new InputError({ code: 'LG_ERR_BAD_BODY', field: 'content-type', expected: 'multipart/form-data with a boundary', message: 'multipart body without a boundary' });
  }
  const text = body.toString('latin1');
  const pairs: string[] = [];
  for (const part of text.split(`--${boundary}`).slice(1)) {
    if (part.startsWith('--')) break;
    const sep = /\r?\n\r?\n/.exec(part);
    if (!sep) continue;
    const head = part.slice(0, sep.index);
    const name = /content-disposition:[^\n]*?\bname="([^"]*)"/i.exec(head)?.[1];
    if (name === undefined || /\bfilename="/i.test(head)) continue;
    const value = part.slice(sep.index + sep[0].length).replace(/\r?\n$/, '');
    const utf8 = (s: string): string => Buffer.from(s, 'latin1').toString('utf8');
    pairs.push(`${encodeURIComponent(utf8(name))}=${encodeURIComponent(utf8(value))}`);
  }
  return pairs.join('&');
}

export function decodeZadarma(e: RawEvent): unknown {
  if (isEcho(e)) return { type: 'echo', zd_echo: e.query.zd_echo };
  if (e.body.length === 0) {
    throw new InputError({ code: 'LG_ERR_BAD_BODY', field: 'body', expected: 'NOTIFY_* form fields (or GET ?zd_echo=… for the URL check)', message: 'body is empty' });
  }
  return { ...readZadarmaForm(e), type: 'notify' };
}
