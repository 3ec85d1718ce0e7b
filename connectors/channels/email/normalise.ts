import { findPhonesInText, parsePhone, type Attachment, type Contact, type NormaliseContext, type Outcome } from '#sdk';
import { classifyRobotMail } from '#sdk';
import { referencedIds, signatureBlock, stripQuotedHistory, stripSubjectPrefixes } from '#sdk';
import type { MailPayload } from './payload.ts';
import type { EmailSettings } from './settings.ts';

/** Message-ID (angle brackets kept); mail without one is keyed by the hash of its bytes. */
export function mailEventId(p: MailPayload): string {
  return p.messageId ?? `sha256:${p.rawSha256}`;
}

/** `email:<sourceId>:<Message-ID>`: the key a thread's lead is stored under. */
export function mailThreadKey(sourceId: string, messageId: string): string {
  return `email:${sourceId}:${messageId}`;
}

/**
 * Pure: robot mail → `ignored` with the classifier's code; a reply (In-Reply-To/References) → `message`
 * keyed by the thread's root Message-ID; anything else → a new `lead` keyed by its own Message-ID, so
 * replies to it find it.
 */
export function normaliseMail(p: MailPayload, ctx: NormaliseContext<EmailSettings>): Outcome[] {
  const own = ownAddresses(ctx.settings);
  const verdict = robotVerdict(p, ctx.settings);
  if (verdict.robot) return [{ kind: 'ignored', reason: { code: verdict.code, detail: verdict.detail } }];

  const body = stripQuotedHistory(p.text);
  const contact = contactOf(p, body, ctx, own);
  const sender = contact.emails[0] ?? 'неизвестного отправителя';
  const subject = (p.subject ?? '').trim();
  const occurredAt = p.date ?? ctx.receivedAt.toISOString();
  const externalId = mailEventId(p);
  const attachments: Attachment[] = p.attachments
    .filter((a) => !a.related)
    .map((a) => ({ ...(a.filename ? { name: a.filename } : {}), contentType: a.contentType, sizeBytes: a.sizeBytes }));

  const referenced = referencedIds(p.references, p.inReplyTo);
  const root = referenced[0];
  if (root !== undefined) {
    return [
      {
        kind: 'message',
        message: {
          source: ctx.source,
          externalId,
          threadKey: mailThreadKey(ctx.source.sourceId, root),
          // The root may be a mail we never saw (a CRM reply sent elsewhere): any other id may still hit.
          relatedThreadKeys: referenced.slice(1).map((id) => mailThreadKey(ctx.source.sourceId, id)),
          contact,
          text: body,
          attachments,
          occurredAt,
          fallbackTitle: stripSubjectPrefixes(subject) || `Письмо от ${sender}`,
        },
      },
    ];
  }
  return [
    {
      kind: 'lead',
      lead: {
        source: ctx.source,
        externalId,
        ...(p.messageId ? { threadKey: mailThreadKey(ctx.source.sourceId, p.messageId) } : {}),
        contact,
        title: subject || `Письмо от ${sender}`,
        ...(body ? { message: body } : {}),
        utm: {},
        tracking: {},
        fields: [],
        attachments,
        occurredAt,
      },
    },
  ];
}

/** The robot rules (forms-telegram-email.md §C3) over a decoded message; the poller uses it to file robots in Junk. */
export function robotVerdict(p: MailPayload, s: EmailSettings): ReturnType<typeof classifyRobotMail> {
  return classifyRobotMail(
    { headers: new Map(Object.entries(p.headers)), from: p.from ? { value: [p.from] } : undefined, subject: p.subject, text: p.text },
    { ownAddresses: ownAddresses(s) },
  );
}

function ownAddresses(s: EmailSettings): string[] {
  return [...(s.address ? [s.address] : []), ...s.ownAddresses].map((a) => a.toLowerCase());
}

function contactOf(p: MailPayload, body: string, ctx: NormaliseContext<EmailSettings>, own: readonly string[]): Contact {
  const emails: string[] = [];
  for (const a of [p.from, ...p.replyTo]) {
    const addr = a?.address?.trim().toLowerCase();
    if (addr && !own.includes(addr) && !emails.includes(addr)) emails.push(addr);
  }
  const ownPhones = new Set(ctx.settings.ownPhones.map((x) => parsePhone(x, ctx.defaultRegion).e164).filter((x) => x !== undefined));
  const phonesE164: string[] = [];
  // The signature first: it is where people put the number they want to be called on.
  for (const phone of [...findPhonesInText(signatureBlock(body), ctx.defaultRegion), ...findPhonesInText(body, ctx.defaultRegion)]) {
    if (!ownPhones.has(phone) && !phonesE164.includes(phone)) phonesE164.push(phone);
  }
  const name = p.from?.name?.trim();
  return { ...(name ? { name } : {}), phonesE164, phonesUnparsed: [], emails };
}
