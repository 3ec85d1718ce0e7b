import qs from 'qs';
import type { Params } from './types.ts';

/**
 * PHP-style bracket parsing (`fields[PHONE][0][VALUE]=…`), as Bitrix's PHP front end reads
 * query strings and form bodies. Limits are raised so 50 batch commands or long arrays keep
 * their shape (qs turns indices above `arrayLimit` into object keys).
 */
export const QS_PARSE_OPTIONS = { depth: 20, arrayLimit: 1000, parameterLimit: 10_000, allowDots: false } as const;

export function parseQueryString(text: string): Params {
  return qs.parse(text, QS_PARSE_OPTIONS) as Params;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

/** A PHP "array" parameter: a JSON object or array (form bodies give objects with numeric keys). */
export function asPhpArray(value: unknown): Record<string, unknown> | undefined {
  if (Array.isArray(value)) return Object.fromEntries(value.map((v, i) => [String(i), v]));
  return isRecord(value) ? value : undefined;
}

/** Values of a JSON array or of a PHP array that arrived as an object (`{n0: …, n1: …}`). */
export function listValues(value: unknown): unknown[] {
  if (Array.isArray(value)) return value;
  if (isRecord(value)) return Object.values(value);
  return value === undefined || value === null || value === '' ? [] : [value];
}

/**
 * Read a parameter. Legacy `crm.*` methods upper-case parameter names (`FIELDS`, `ID` work as well
 * as `fields`, `id`); newer methods such as `crm.timeline.comment.add` accept only the exact name.
 */
export function param(params: Params, name: string, caseInsensitive = true): unknown {
  if (name in params) return params[name];
  if (!caseInsensitive) return undefined;
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(params)) if (key.toLowerCase() === wanted) return value;
  return undefined;
}

/** A positive integer id from a number or numeric string, else undefined. */
export function toId(value: unknown): number | undefined {
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : NaN;
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

export function toInt(value: unknown): number | undefined {
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^\s*-?\d+\s*$/.test(value) ? Number(value) : NaN;
  return Number.isInteger(n) ? n : undefined;
}

/** `halt`-style flags: `1`, `true`, `Y` (any case) are true. */
export function toFlag(value: unknown): boolean {
  if (value === true || value === 1) return true;
  return typeof value === 'string' && ['1', 'true', 'y'].includes(value.trim().toLowerCase());
}

export function toStr(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

/** PHP's `json_encode` writes an empty associative array as `[]`; mirror that for maps. */
export function phpMap(value: Record<string, unknown>): Record<string, unknown> | unknown[] {
  return Object.keys(value).length === 0 ? [] : value;
}

/** A map keyed 0..n-1 is a JSON list in PHP; anything else stays an object. */
export function phpKeyed(value: Record<string, unknown>): Record<string, unknown> | unknown[] {
  const keys = Object.keys(value);
  if (keys.length === 0) return [];
  return keys.every((k, i) => k === String(i)) ? keys.map((k) => value[k]) : value;
}
