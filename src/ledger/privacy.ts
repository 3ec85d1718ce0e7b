/**
 * What the ledger keeps of a person: never the name, the message or the raw number, only
 * - a keyed hash (HMAC-SHA256 with the ledger's key) of the normalised phone (E.164) and e-mail (lower case), so
 *   `leadgate trace +7 912 …` and the repeat-inquiry count can find them, while a copy of the database alone does
 *   not give the numbers back (a plain hash of a phone would: there are only ~10¹⁰ of them);
 * - the masked form an operator may read (`+7 *** ***-**-67`, `i***@example.ru`), as our logs show it.
 * The CRM card, behind the CRM's own access rights, holds the person; the ledger points at it by id.
 */
import { createHmac } from 'node:crypto';
import { maskPhone, parsePhone, type CountryCode } from '../domain/phone.ts';
import { maskText } from '../infra/logger.ts';
import type { Contact } from '../sdk/lead.ts';

export interface ContactKeys {
  phoneHash?: string;
  emailHash?: string;
  phoneMasked?: string;
  emailMasked?: string;
}

export function hashPhone(key: string, e164: string): string {
  return createHmac('sha256', key).update(`phone:${e164}`).digest('hex').slice(0, 40);
}

export function hashEmail(key: string, email: string): string {
  return createHmac('sha256', key).update(`email:${email.trim().toLowerCase()}`).digest('hex').slice(0, 40);
}

export function maskEmail(email: string): string {
  return maskText(email.trim().toLowerCase());
}

/** The first phone and e-mail of a contact (the ones the CRM delivery searches by). */
export function contactKeys(key: string, c: Pick<Contact, 'phonesE164' | 'emails'> | undefined): ContactKeys {
  const phone = c?.phonesE164[0];
  const email = c?.emails[0];
  return {
    ...(phone ? { phoneHash: hashPhone(key, phone), phoneMasked: maskPhone(phone) } : {}),
    ...(email ? { emailHash: hashEmail(key, email), emailMasked: maskEmail(email) } : {}),
  };
}

/**
 * What an operator typed into `leadgate trace`, as a lookup: an e-mail, a phone (normalised like the channels do),
 * or else an event/delivery id.
 */
export type TraceQuery = { kind: 'email'; hash: string; masked: string } | { kind: 'phone'; hash: string; masked: string } | { kind: 'id'; id: string };

export function traceQuery(key: string, input: string, region: CountryCode): TraceQuery {
  const s = input.trim();
  if (/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(s)) return { kind: 'email', hash: hashEmail(key, s), masked: maskEmail(s) };
  // Ids are letters, dots and dashes; a phone is digits with the usual separators.
  if (/^\+?[\d\s().-]{7,}$/.test(s)) {
    const p = parsePhone(s, region);
    if (p.e164) return { kind: 'phone', hash: hashPhone(key, p.e164), masked: maskPhone(p.e164) };
  }
  return { kind: 'id', id: s };
}
