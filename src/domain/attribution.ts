/**
 * Attribution from a site form submission: UTM tags and click/analytics ids.
 *
 * Sites capture `utm_*` and click ids from the landing URL into cookies on first touch and copy them into
 * hidden inputs at submit (forms-telegram-email.md §A3). We look in three places, highest priority first:
 * 1. explicit fields (hidden inputs) — what the site deliberately sent;
 * 2. the cookie string (Tilda `COOKIES`), incl. Tilda's own `TILDAUTM` cookie;
 * 3. the query of the page / referer URLs.
 * Keys are matched case-insensitively; values are kept as sent (trimmed). Pure: no clock, no I/O.
 */
import type { Tracking, Utm } from '../sdk/lead.ts';

/** The tracking ids this module extracts; page URL, referrer, IP and user agent are the connector's job. */
export type ClickIds = Pick<Tracking, 'gclid' | 'yclid' | 'fbclid' | 'ymUid' | 'ymCounter' | 'gaClientId' | 'roistat' | 'openstat'>;

export interface Attribution {
  utm: Utm;
  tracking: ClickIds;
}

export interface AttributionSources {
  /**
   * Explicit values (hidden form fields) as `[key, value]` pairs or a flat record. Earlier pairs win.
   * Non-string values: numbers are stringified, arrays give their first non-empty item, objects are ignored.
   */
  fields?: Iterable<readonly [string, unknown]> | Readonly<Record<string, unknown>>;
  /** A cookie string as browsers send it: `name=value; name2=value2` (values URL-decoded here). */
  cookies?: string;
  /** URLs whose query may carry UTM/click ids, highest priority first (landing page, form page, referrer). */
  urls?: readonly (string | undefined)[];
}

const UTM_KEYS: Record<string, keyof Utm> = {
  utm_source: 'source',
  utm_medium: 'medium',
  utm_campaign: 'campaign',
  utm_content: 'content',
  utm_term: 'term',
};

/** Accepted key spellings per tracking id (lower case), in priority order. */
const TRACKING_KEYS: Record<keyof ClickIds, readonly string[]> = {
  gclid: ['gclid'],
  yclid: ['yclid'],
  fbclid: ['fbclid'],
  ymUid: ['_ym_uid', 'ym_uid'],
  ymCounter: ['_ym_counter', 'ym_counter'],
  gaClientId: ['_ga', 'ga_client_id'],
  // `roistat_visit` is the visit number Roistat matches on; a bare `roistat` field/param is its fallback.
  roistat: ['roistat_visit', 'roistat'],
  // Openstat's URL parameter is `_openstat`.
  openstat: ['openstat', '_openstat'],
};

const ALL_KEYS: ReadonlySet<string> = new Set([...Object.keys(UTM_KEYS), ...Object.values(TRACKING_KEYS).flat()]);

/** True for a field name this module consumes (so connectors can leave it out of `lead.fields`). */
export function isAttributionKey(key: string): boolean {
  return ALL_KEYS.has(key.trim().toLowerCase());
}

/** Extract UTM and click ids. Never throws. */
export function extractAttribution(src: AttributionSources): Attribution {
  const layers: Map<string, string>[] = [fieldLayer(src.fields), cookieLayer(src.cookies), ...(src.urls ?? []).map(urlLayer)];
  const pick = (keys: readonly string[]): string | undefined => {
    for (const layer of layers) {
      for (const k of keys) {
        const v = layer.get(k);
        if (v !== undefined) return v;
      }
    }
    return undefined;
  };

  const utm: Utm = {};
  for (const [key, prop] of Object.entries(UTM_KEYS)) {
    const v = pick([key]);
    if (v !== undefined) utm[prop] = v;
  }
  const tracking: ClickIds = {};
  for (const [prop, keys] of Object.entries(TRACKING_KEYS) as [keyof ClickIds, readonly string[]][]) {
    let v: string | undefined;
    if (prop === 'gaClientId') {
      // An `_ga` value that does not yield a client id must not hide a good one in a lower layer.
      for (const layer of layers) {
        for (const k of keys) {
          const id = gaClientId(layer.get(k));
          if (id && v === undefined) v = id;
        }
      }
    } else v = pick(keys);
    if (v !== undefined) tracking[prop] = v;
  }
  return { utm, tracking };
}

/** `GA1.1.1234567890.1700000000` (the `_ga` cookie) or an already-cut `1234567890.1700000000` → the client id. */
export function gaClientId(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const m = /(\d+\.\d+)$/.exec(value.trim());
  return m ? m[1] : undefined;
}

/** Parse `name=value; name2=value2`. Values are URL-decoded when they decode cleanly. First occurrence wins. */
export function parseCookies(cookies: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (!cookies) return out;
  for (const part of cookies.split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    let value = part.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1);
    if (name && !out.has(name)) out.set(name, safeDecode(value));
  }
  return out;
}

/**
 * Tilda's `TILDAUTM` cookie. Tilda's form script (tilda-forms JS) lower-cases the landing URL, keeps every
 * `utm_*` pair verbatim and writes `encodeURIComponent('utm_source=x|||utm_medium=y|||')`. So after the cookie
 * value is decoded once, pairs are separated by `|||` and each value may still be URL-encoded.
 * Values therefore arrive lower-cased. We also accept `&` as a separator for hand-made variants.
 */
export function parseTildaUtmCookie(value: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (!value) return out;
  for (const pair of value.split(/\|\|\||&/)) {
    const eq = pair.indexOf('=');
    if (eq <= 0) continue;
    const key = pair.slice(0, eq).trim().toLowerCase();
    const v = clean(safeDecode(pair.slice(eq + 1).replace(/\+/g, ' ')));
    if (key && v !== undefined && !out.has(key)) out.set(key, v);
  }
  return out;
}

function fieldLayer(fields: AttributionSources['fields']): Map<string, string> {
  const out = new Map<string, string>();
  if (!fields) return out;
  const pairs: Iterable<readonly [string, unknown]> = isIterable(fields) ? fields : Object.entries(fields);
  for (const [key, raw] of pairs) {
    const k = key.trim().toLowerCase();
    if (!ALL_KEYS.has(k) || out.has(k)) continue;
    const v = clean(scalar(raw));
    if (v !== undefined) out.set(k, v);
  }
  return out;
}

function cookieLayer(cookies: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  const jar = parseCookies(cookies);
  for (const [name, value] of jar) {
    const k = name.toLowerCase();
    const v = clean(value);
    if (ALL_KEYS.has(k) && v !== undefined && !out.has(k)) out.set(k, v);
  }
  // Direct cookies (a site's own `utm_source` cookie) win over Tilda's aggregate cookie.
  const tildaUtm = [...jar].find(([name]) => name.toUpperCase() === 'TILDAUTM')?.[1];
  for (const [k, v] of parseTildaUtmCookie(tildaUtm)) {
    if (ALL_KEYS.has(k) && !out.has(k)) out.set(k, v);
  }
  return out;
}

function urlLayer(url: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (!url) return out;
  const q = url.indexOf('?');
  if (q < 0) return out;
  const query = url.slice(q + 1).split('#')[0] ?? '';
  let params: URLSearchParams;
  try {
    params = new URLSearchParams(query);
  } catch {
    return out;
  }
  for (const [key, value] of params) {
    const k = key.trim().toLowerCase();
    const v = clean(value);
    if (ALL_KEYS.has(k) && v !== undefined && !out.has(k)) out.set(k, v);
  }
  return out;
}

function scalar(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  if (Array.isArray(v)) {
    for (const item of v) {
      const s = clean(scalar(item));
      if (s !== undefined) return s;
    }
  }
  return undefined;
}

/** Trim; empty and the strings JS snippets write into unfilled hidden inputs (`undefined`, `null`) count as absent. */
function clean(v: string | undefined): string | undefined {
  if (v === undefined) return undefined;
  const t = v.trim();
  if (t === '' || t === 'undefined' || t === 'null') return undefined;
  return t;
}

function safeDecode(s: string): string {
  if (!s.includes('%')) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function isIterable(v: unknown): v is Iterable<readonly [string, unknown]> {
  return typeof v === 'object' && v !== null && Symbol.iterator in v;
}
