/**
 * __TITLE__ payload → Lead. Pure: no clock, no network, no randomness — everything comes from the payload and
 * the context, so a stored event can be normalised again (replay) and the contract suite can compare goldens.
 */
import { createHash } from 'node:crypto';
import { extractAttribution, parsePhones, type NormaliseContext, type Outcome } from '#sdk';
import type { __PASCAL__Payload, __PASCAL__Settings } from './payload.ts';

/** Keys that are not the customer's words (they are read into their own Lead fields). */
const SERVICE_KEYS = new Set(['id', 'name', 'phone', 'email', 'message', 'page_url']);

/** The sender's stable id for this delivery; undefined → the gateway uses a hash of the body. */
export function __CAMEL__EventId(p: __PASCAL__Payload): string | undefined {
  return p.id === undefined ? undefined : String(p.id);
}

export function normalise__PASCAL__(p: __PASCAL__Payload, ctx: NormaliseContext<__PASCAL__Settings>): Outcome[] {
  const { phonesE164, phonesUnparsed } = parsePhones(p.phone ? [p.phone] : [], ctx.defaultRegion);
  const emails = p.email?.trim() ? [p.email.trim().toLowerCase()] : [];
  const name = p.name?.trim();
  if (!name && !phonesE164.length && !phonesUnparsed.length && !emails.length && !p.message?.trim()) {
    // Counted and visible in the logs, never delivered and never silent.
    return [{ kind: 'ignored', reason: { code: '__ID__:empty', detail: 'the submission has no name, phone, e-mail or message' } }];
  }
  // utm_* and click ids from the body first, then from the page URL's query.
  const { utm, tracking } = extractAttribution({ fields: p, urls: [p.page_url] });
  // Everything else the customer filled in goes into the CRM note as "key: value".
  const fields = Object.entries(p)
    .filter(([k, v]) => !SERVICE_KEYS.has(k) && !k.startsWith('utm_') && (typeof v === 'string' || typeof v === 'number') && String(v).trim() !== '')
    .map(([k, v]) => ({ key: k, label: k, value: String(v).trim() }));
  return [
    {
      kind: 'lead',
      lead: {
        source: ctx.source,
        // No id from the sender: the body's hash, as the gateway's dedupe key is (identical resends are one event).
        externalId: __CAMEL__EventId(p) ?? `sha256:${createHash('sha256').update(ctx.raw.body).digest('hex')}`,
        title: ctx.settings.title,
        contact: { ...(name ? { name } : {}), phonesE164, phonesUnparsed, emails },
        ...(p.message?.trim() ? { message: p.message.trim() } : {}),
        utm,
        tracking: { ...(p.page_url ? { pageUrl: p.page_url } : {}), ...tracking },
        fields,
        attachments: [],
        occurredAt: ctx.receivedAt.toISOString(),
      },
    },
  ];
}
