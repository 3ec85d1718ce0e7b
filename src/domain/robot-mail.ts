/**
 * Is this e-mail from a robot (bounce, auto-reply, list, newsletter, our own mail)? Pure; works on
 * mailparser's `ParsedMail` or anything with the same `headers` Map shape (the e-mail connector keeps a
 * JSON-safe copy of the few headers below and rebuilds the Map).
 *
 * The rules and their order are forms-telegram-email.md §C3: the first hit classifies the message.
 */

/** The part of mailparser's `ParsedMail` the classifier reads. */
export interface RobotMailInput {
  /** Lower-cased header name → mailparser's parsed value (`list` holds every folded `List-*` header). */
  headers: ReadonlyMap<string, unknown>;
  from?: { value: readonly { address?: string | undefined }[] } | undefined;
  subject?: string | undefined;
  /** Plain text of the message; DSN `message/delivery-status` parts land here with mailparser's defaults. */
  text?: string | undefined;
}

export interface RobotMailOptions {
  /** Addresses of the monitored mailbox and anything else we send from (rule 9), any case. */
  ownAddresses?: readonly string[];
}

export type RobotMailCode =
  | 'robot-mail:delivery-status'
  | 'robot-mail:read-receipt'
  | 'robot-mail:auto-submitted'
  | 'robot-mail:auto-reply-header'
  | 'robot-mail:precedence'
  | 'robot-mail:mailing-list'
  | 'robot-mail:null-return-path'
  | 'robot-mail:robot-sender'
  | 'robot-mail:robot-subject'
  | 'robot-mail:own-mail'
  | 'robot-mail:loop';

export type RobotVerdict = { robot: true; code: RobotMailCode; detail: string } | { robot: false };

/** Headers whose mere presence marks an auto-reply (rule 3). Exchange sets the last two on its own OOF mail. */
export const AUTO_REPLY_HEADERS = [
  'x-autoreply',
  'x-autorespond',
  'x-autoresponder',
  'x-auto-response-suppress',
  'x-ms-exchange-inbox-rules-loop',
] as const;

/** Every header the classifier may read; the e-mail connector keeps exactly these (plus `x-leadgate-*`). */
export const ROBOT_MAIL_HEADERS: readonly string[] = [
  'content-type',
  'auto-submitted',
  ...AUTO_REPLY_HEADERS,
  'precedence',
  'list',
  'mailing-list',
  'x-mailing-list',
  'sender',
  'return-path',
];

/** Our own loop-protection header prefix: anything we send carries `X-Leadgate-…`. */
export const LOOP_HEADER_PREFIX = 'x-leadgate';

const ROBOT_LOCAL_PART = /^(mailer-daemon|postmaster|no[-_.]?reply|do[-_.]?not[-_.]?reply|bounces?|notifications?)([+._-].*)?$/i;
const ROBOT_SUBJECT =
  /^\s*(auto(matic)? ?reply|out of (the )?office|автоответ|автоматический ответ|undeliver|delivery status notification|недоставленное сообщение|returned mail)/i;

export function classifyRobotMail(mail: RobotMailInput, opts: RobotMailOptions = {}): RobotVerdict {
  const h = mail.headers;

  // 1. multipart/report: DSN (RFC 3464) or read receipt (RFC 8098)
  const ct = structured(h.get('content-type'));
  if (ct && ct.value.toLowerCase() === 'multipart/report') {
    const reportType = (ct.params['report-type'] ?? '').toLowerCase();
    if (reportType === 'disposition-notification') return hit('robot-mail:read-receipt', 'multipart/report; report-type=disposition-notification');
    return hit('robot-mail:delivery-status', describeDsn(reportType, mail.text));
  }

  // 2. Auto-Submitted ≠ no (RFC 3834)
  const autoSubmitted = firstText(h.get('auto-submitted'));
  if (autoSubmitted !== undefined) {
    const kind = (autoSubmitted.split(';')[0] ?? '').trim().toLowerCase();
    if (kind !== 'no') return hit('robot-mail:auto-submitted', `Auto-Submitted: ${kind || '(empty)'}`);
  }

  // 3. auto-responder headers
  for (const name of AUTO_REPLY_HEADERS) {
    if (h.has(name)) return hit('robot-mail:auto-reply-header', `${name}: ${firstText(h.get(name)) ?? ''}`.trim());
  }

  // 4. Precedence: bulk | list | junk
  const precedence = firstText(h.get('precedence'))?.trim().toLowerCase();
  if (precedence === 'bulk' || precedence === 'list' || precedence === 'junk') return hit('robot-mail:precedence', `Precedence: ${precedence}`);

  // 5. mailing lists: mailparser folds every List-* header into `list`
  if (h.has('list')) return hit('robot-mail:mailing-list', describeList(h.get('list')));
  if (h.has('mailing-list')) return hit('robot-mail:mailing-list', 'Mailing-List header');
  if (h.has('x-mailing-list')) return hit('robot-mail:mailing-list', 'X-Mailing-List header');
  const sender = addresses(h.get('sender'))[0];
  if (sender && /^owner-/i.test(localPart(sender))) return hit('robot-mail:mailing-list', `Sender: ${sender}`);

  // 6. null reverse path: `Return-Path: <>` parses to an address object with no addresses
  if (h.has('return-path') && addresses(h.get('return-path')).length === 0) return hit('robot-mail:null-return-path', 'Return-Path: <>');

  // 7. robot local parts
  const from = mail.from?.value.find((a) => a.address)?.address?.toLowerCase();
  if (from && ROBOT_LOCAL_PART.test(localPart(from))) return hit('robot-mail:robot-sender', `From: ${localPart(from)}@…`);

  // 8. subject heuristics, last resort
  const subject = mail.subject ?? '';
  if (ROBOT_SUBJECT.test(subject)) return hit('robot-mail:robot-subject', `Subject starts like an automatic message: ${subject.slice(0, 60)}`);

  // 9. our own mail and loop protection
  const own = new Set((opts.ownAddresses ?? []).map((a) => a.trim().toLowerCase()).filter(Boolean));
  if (from && own.has(from)) return hit('robot-mail:own-mail', 'From is the monitored mailbox');
  for (const key of h.keys()) {
    if (key.startsWith(LOOP_HEADER_PREFIX)) return hit('robot-mail:loop', `${key} header: sent by Leadgate`);
  }
  return { robot: false };
}

function hit(code: RobotMailCode, detail: string): RobotVerdict {
  return { robot: true, code, detail };
}

function localPart(address: string): string {
  const at = address.lastIndexOf('@');
  return at === -1 ? address : address.slice(0, at);
}

/** `Final-Recipient` and `Status` from the DSN text (mailparser keeps delivery-status parts in `text`). */
function describeDsn(reportType: string, text: string | undefined): string {
  const parts = [`multipart/report; report-type=${reportType || '(none)'}`];
  const recipient = /^final-recipient:\s*(?:rfc822;\s*)?(.+)$/im.exec(text ?? '')?.[1]?.trim();
  const status = /^status:\s*([245]\.\d{1,3}\.\d{1,3})/im.exec(text ?? '')?.[1];
  if (recipient) parts.push(`final-recipient=${recipient}`);
  if (status) parts.push(`status=${status}`);
  return parts.join('; ');
}

function describeList(v: unknown): string {
  const list = isRecord(v) ? v : {};
  const id = isRecord(list.id) ? list.id : undefined;
  const listId = typeof id?.id === 'string' ? id.id : typeof id?.name === 'string' ? id.name : undefined;
  return listId ? `List-Id: ${listId}` : `List-* headers: ${Object.keys(list).join(', ') || 'present'}`;
}

// ---------------------------------------------------------------- reading mailparser header values

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A plain header value (mailparser keeps a string; repeated headers become arrays). */
function firstText(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return firstText(v[0]);
  if (isRecord(v) && typeof v.value === 'string') return v.value;
  if (isRecord(v) && typeof v.text === 'string') return v.text;
  return undefined;
}

/** `content-type` → `{ value, params }`. */
function structured(v: unknown): { value: string; params: Record<string, string> } | undefined {
  if (typeof v === 'string') return { value: (v.split(';')[0] ?? '').trim(), params: {} };
  if (!isRecord(v) || typeof v.value !== 'string') return undefined;
  const params: Record<string, string> = {};
  if (isRecord(v.params)) for (const [k, p] of Object.entries(v.params)) if (typeof p === 'string') params[k.toLowerCase()] = p;
  return { value: v.value, params };
}

/** Address header (`{ value: [{ address, name }], text }`) → the addresses in it. */
function addresses(v: unknown): string[] {
  const out: string[] = [];
  const walk = (x: unknown): void => {
    if (Array.isArray(x)) x.forEach(walk);
    else if (isRecord(x)) {
      if (typeof x.address === 'string' && x.address) out.push(x.address.toLowerCase());
      if (Array.isArray(x.value)) walk(x.value);
      if (Array.isArray(x.group)) walk(x.group);
    } else if (typeof x === 'string') {
      const m = /<([^<>@\s]+@[^<>\s]+)>|([^\s<>@]+@[^\s<>]+)/.exec(x);
      const a = m?.[1] ?? m?.[2];
      if (a) out.push(a.toLowerCase());
    }
  };
  walk(v);
  return out;
}
