import { createHash } from 'node:crypto';
import { simpleParser, type AddressObject, type ParsedMail } from 'mailparser';
import { InputError, mediaType, type RawEvent } from '#sdk';
import { LOOP_HEADER_PREFIX, ROBOT_MAIL_HEADERS } from '#sdk';
import type { MailAddress, MailAttachment } from './payload.ts';

/** Largest message we parse; bigger mail is an attachment dump, not an inquiry. @defaultValue 25 MiB */
export const MAX_MESSAGE_BYTES = 25 * 1024 * 1024;

/**
 * RFC 822 bytes (the poller's RawEvent body, `content-type: message/rfc822`) → the plain object
 * {@link MailPayloadSchema} validates. Async: mailparser streams.
 */
export async function decodeMail(e: RawEvent): Promise<Record<string, unknown>> {
  const mt = mediaType(e);
  if (mt !== '' && mt !== 'message/rfc822') {
    throw new InputError({ code: 'LG_ERR_BAD_CONTENT_TYPE', status: 415, field: 'content-type', expected: 'message/rfc822', message: `unsupported content type "${mt}" for an e-mail source` });
  }
  if (e.body.length === 0) {
    throw new InputError({ code: 'LG_ERR_BAD_BODY', field: 'body', expected: 'an RFC 822 message', message: 'body is empty' });
  }
  if (e.body.length > MAX_MESSAGE_BYTES) {
    throw new InputError({ code: 'LG_ERR_BODY_TOO_LARGE', status: 413, field: 'body', expected: `at most ${MAX_MESSAGE_BYTES} bytes`, message: `message is ${e.body.length} bytes` });
  }
  const mail = await simpleParser(e.body, { skipImageLinks: true, skipTextToHtml: true, skipTextLinks: true });
  if (!mail.from && !mail.messageId && !mail.date) {
    throw new InputError({ code: 'LG_ERR_BAD_BODY', field: 'body', expected: 'an RFC 822 message with From, Message-ID or Date headers', message: 'body is not an e-mail message: none of From, Message-ID, Date found' });
  }
  return toMailPayload(mail, createHash('sha256').update(e.body).digest('hex'));
}

/** ParsedMail → plain object. Exported for tests and for a poller that already holds a ParsedMail. */
export function toMailPayload(mail: ParsedMail, rawSha256: string): Record<string, unknown> {
  const headers: Record<string, unknown> = {};
  for (const [key, value] of mail.headers) {
    if (ROBOT_MAIL_HEADERS.includes(key) || key.startsWith(LOOP_HEADER_PREFIX)) headers[key] = jsonSafe(value, 0);
  }
  const attachments: MailAttachment[] = mail.attachments.map((a) => ({
    ...(a.filename ? { filename: a.filename } : {}),
    contentType: a.contentType,
    sizeBytes: a.size,
    ...(a.contentDisposition ? { disposition: a.contentDisposition } : {}),
    ...(a.cid ? { cid: a.cid } : {}),
    related: a.related === true,
  }));
  const from = addressList(mail.from)[0];
  return {
    ...(mail.messageId ? { messageId: mail.messageId } : {}),
    ...(mail.inReplyTo ? { inReplyTo: mail.inReplyTo } : {}),
    ...(mail.references !== undefined ? { references: mail.references } : {}),
    ...(mail.subject !== undefined ? { subject: mail.subject } : {}),
    ...(mail.date && !Number.isNaN(mail.date.getTime()) ? { date: mail.date.toISOString() } : {}),
    ...(from ? { from } : {}),
    replyTo: addressList(mail.replyTo),
    to: addressList(mail.to),
    text: mail.text ?? '',
    attachments,
    headers,
    rawSha256,
  };
}

function addressList(v: AddressObject | AddressObject[] | undefined): MailAddress[] {
  const out: MailAddress[] = [];
  for (const obj of v === undefined ? [] : Array.isArray(v) ? v : [v]) {
    for (const a of obj.value) {
      for (const m of a.group ?? [a]) out.push({ ...(m.address ? { address: m.address } : {}), ...(m.name ? { name: m.name } : {}) });
    }
  }
  return out;
}

/** Dates → ISO strings, address objects without their HTML rendering, depth-capped. */
function jsonSafe(v: unknown, depth: number): unknown {
  if (depth > 6) return undefined;
  if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return v;
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? undefined : v.toISOString();
  if (Buffer.isBuffer(v)) return undefined;
  if (Array.isArray(v)) return v.map((x) => jsonSafe(x, depth + 1));
  if (typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      if (k === 'html') continue;
      const safe = jsonSafe(x, depth + 1);
      if (safe !== undefined) out[k] = safe;
    }
    return out;
  }
  return undefined;
}
