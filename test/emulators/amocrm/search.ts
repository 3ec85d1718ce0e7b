/**
 * `?query=` full-text matching and the Calls API phone match.
 *
 * How `query` behaves here (sheet §4.1; the vendor documents only "searches all filled fields"):
 * - Every filled field is searched: name, first/last name and every custom-field value, as a
 *   case-insensitive substring. So hits on unrelated fields happen (issue #515) — clients must
 *   re-check PHONE/EMAIL themselves.
 * - PHONE values are matched on digits only: a query made of digits and phone punctuation
 *   (`+ ( ) - space`) matches when its digit string is a substring of the stored number's digits.
 *   Hence `9123456789` and `+79123456789` both find `+7 (912) 345-67-89`, while `89123456789`
 *   does not — matching practitioners' reports that `+7…` and `8…` are "different numbers" and
 *   that searching by the last 10 digits works (zero-archive/amocrm-php #81). Unconfirmed in docs.
 */
import type { CfEntry } from './types.ts';

export function digits(s: string): string {
  return s.replace(/\D+/g, '');
}

const PHONE_LIKE = /^[\d\s()+\-.]+$/;

interface Searchable {
  name: string;
  first_name?: string;
  last_name?: string;
  custom_fields_values: CfEntry[];
}

export function matchesQuery(entity: Searchable, query: string): boolean {
  const q = query.trim().toLowerCase();
  if (q === '') return true;
  const qDigits = PHONE_LIKE.test(q) ? digits(q) : '';
  const texts = [entity.name, entity.first_name ?? '', entity.last_name ?? ''];
  if (texts.some((t) => t.toLowerCase().includes(q))) return true;
  for (const entry of entity.custom_fields_values) {
    for (const v of entry.values) {
      const s = String(v.value);
      if (s.toLowerCase().includes(q)) return true;
      if (entry.field_code === 'PHONE' && qDigits.length > 0 && digits(s).includes(qDigits)) return true;
    }
  }
  return false;
}

/** Calls API rule (sheet §9): numbers match on their last 10 digits. */
export function samePhone(a: string, b: string): boolean {
  const da = digits(a);
  const db = digits(b);
  if (da.length === 0 || db.length === 0) return false;
  return da.slice(-10) === db.slice(-10);
}
