import type { Lead } from '../sdk/lead.ts';

/** Lead paths a mapping may read with `from:`. `fields.<key>` reads an extra form field by key. */
export const LEAD_PATHS = [
  'title', 'message', 'formName', 'externalId', 'occurredAt',
  'source.channel', 'source.sourceId', 'source.name',
  'contact.name', 'contact.company', 'contact.phone', 'contact.email', 'contact.phones', 'contact.emails',
  'utm.source', 'utm.medium', 'utm.campaign', 'utm.content', 'utm.term',
  'tracking.referrer', 'tracking.pageUrl', 'tracking.landingUrl', 'tracking.roistat', 'tracking.gclid', 'tracking.yclid',
  'tracking.fbclid', 'tracking.ymUid', 'tracking.ymCounter', 'tracking.gaClientId', 'tracking.openstat', 'tracking.ip', 'tracking.userAgent',
  'order.id', 'order.amount', 'order.summary', 'order.paymentSystem',
] as const;

export function isKnownLeadPath(p: string): boolean {
  return (LEAD_PATHS as readonly string[]).includes(p) || /^fields\.[^.]+$/.test(p);
}

/** Reads a path from a Lead; arrays join with ", ". Pure. */
export function readLeadPath(lead: Lead, path: string): string | undefined {
  if (path === 'contact.phone') return lead.contact.phonesE164[0] ?? lead.contact.phonesUnparsed[0];
  if (path === 'contact.email') return lead.contact.emails[0];
  if (path === 'contact.phones') return [...lead.contact.phonesE164, ...lead.contact.phonesUnparsed].join(', ') || undefined;
  if (path === 'contact.emails') return lead.contact.emails.join(', ') || undefined;
  if (path.startsWith('fields.')) {
    const key = path.slice('fields.'.length);
    return lead.fields.find((f) => f.key === key || f.label === key)?.value;
  }
  let cur: unknown = lead;
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  if (cur === undefined || cur === null || cur === '') return undefined;
  return typeof cur === 'string' ? cur : typeof cur === 'number' || typeof cur === 'boolean' ? String(cur) : undefined;
}
