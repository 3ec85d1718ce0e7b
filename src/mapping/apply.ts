import type { Lead } from '../sdk/lead.ts';
import type { MappedField } from '../sdk/crm.ts';
import { formatPhone } from '../domain/phone.ts';
import type { Mapping, MappingValue } from './load.ts';
import { readLeadPath } from './paths.ts';

/** Pure: resolve a mapping against one lead. Empty values are skipped, never written as "". */
export function applyMapping(m: Pick<Mapping, 'lead' | 'contact'>, lead: Lead, env: Readonly<Record<string, string | undefined>>): MappedField[] {
  const out: MappedField[] = [];
  for (const entity of ['lead', 'contact'] as const) {
    for (const [target, v] of Object.entries(m[entity].fields)) {
      const value = resolveValue(v, lead, env);
      if (value !== undefined && value !== '') out.push({ entity, target, value });
    }
  }
  return out;
}

function resolveValue(v: MappingValue, lead: Lead, env: Readonly<Record<string, string | undefined>>): string | undefined {
  if (typeof v === 'string' || typeof v === 'number') return String(v);
  const raw = 'from' in v ? readLeadPath(lead, v.from) : env[v.env];
  const value = raw ?? (v.default !== undefined ? String(v.default) : undefined);
  return value === undefined || !v.format ? value : format(value, v.format);
}

function format(value: string, f: NonNullable<Extract<MappingValue, object>['format']>): string {
  switch (f) {
    case 'ru-display':
    case 'e164':
      return value.startsWith('+') ? formatPhone(value, f) : value;
    case 'digits':
      return value.replace(/\D/g, '');
    case 'lower':
      return value.toLowerCase();
    case 'upper':
      return value.toUpperCase();
    case 'unix-seconds': {
      const t = Date.parse(value);
      return Number.isNaN(t) ? value : String(Math.floor(t / 1000));
    }
  }
}
