import { TimeoutError, withTimeout } from '../sdk/timeout.ts';
import type { Redis } from 'ioredis';
import type { CallerInfo } from '../sdk/crm.ts';
import type { CallerLookup } from '../sdk/channel.ts';

/**
 * Caller-ID answers from Redis in a few milliseconds, the CRM only on a miss.
 *
 * Entries live under the account's cache namespace (`<prefix>:cache:<account>:caller:…`, one hash tag, so one
 * Redis Cluster slot):
 * - `caller:p:<E.164>` — `{"f":1,"i":CallerInfo}` for `ttlSec`, or `{"f":0,"g":<gen>}` ("unknown number") for
 *   `negativeTtlSec`;
 * - `caller:c:<contactId>` / `caller:l:<leadId>` — the phones whose entry names that contact / open lead, so a
 *   CRM webhook about the contact or the lead drops exactly those entries;
 * - `caller:gen` — bumped by every invalidation. An unknown-number entry is valid only for the generation it
 *   was written in (a contact added anywhere may own that number now), and a CRM answer is stored only if no
 *   invalidation happened while it was being fetched (else it may already be stale).
 *
 * The manager's extension is not cached: it is added from the config on every answer, so a changed
 * `extensions` map applies at once.
 */
export interface CallerCacheOptions {
  redis: Redis;
  /** Redis key of one cache entry of an account, e.g. `keys.cache`. */
  key(accountId: string, name: string): string;
  /** @defaultValue 3600 */
  ttlSec?: number;
  /** @defaultValue 60 */
  negativeTtlSec?: number;
}

export type CacheRead = { hit: true; info: CallerInfo | null } | { hit: false; gen: string };

export interface CallerCache {
  read(accountId: string, phoneE164: string): Promise<CacheRead>;
  /** Stores a CRM answer unless an invalidation happened since `gen` was read; true when stored. */
  write(accountId: string, phoneE164: string, info: CallerInfo | null, gen: string): Promise<boolean>;
  /** Drops the entries of these contacts, open leads and phones, and every "unknown number" entry. */
  invalidate(accountId: string, what: { contactIds?: readonly string[]; leadIds?: readonly string[]; phonesE164?: readonly string[] }): Promise<number>;
}

// KEYS: entry, gen, index keys…  ARGV: expected gen, value, ttl, phone
const WRITE = `
local g = redis.call('GET', KEYS[2]) or '0'
if g ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'EX', tonumber(ARGV[3]))
for i = 3, #KEYS do
  redis.call('SADD', KEYS[i], ARGV[4])
  redis.call('EXPIRE', KEYS[i], tonumber(ARGV[3]))
end
return 1`;

export function createCallerCache(o: CallerCacheOptions): CallerCache {
  const ttlSec = o.ttlSec ?? 3_600;
  const negativeTtlSec = o.negativeTtlSec ?? 60;
  const k = {
    entry: (a: string, phone: string) => o.key(a, `caller:p:${phone}`),
    contact: (a: string, id: string) => o.key(a, `caller:c:${id}`),
    lead: (a: string, id: string) => o.key(a, `caller:l:${id}`),
    gen: (a: string) => o.key(a, 'caller:gen'),
  };

  return {
    async read(accountId, phone) {
      const [raw, gen] = await o.redis.mget(k.entry(accountId, phone), k.gen(accountId));
      const g = gen ?? '0';
      if (!raw) return { hit: false, gen: g };
      const v = parseEntry(raw);
      if (!v) return { hit: false, gen: g };
      if (v.f === 1) return { hit: true, info: v.i };
      return v.g === g ? { hit: true, info: null } : { hit: false, gen: g };
    },
    async write(accountId, phone, info, gen) {
      const value = info ? JSON.stringify({ f: 1, i: info }) : JSON.stringify({ f: 0, g: gen });
      const idx = info ? [k.contact(accountId, info.contactId), ...(info.openLeadId ? [k.lead(accountId, info.openLeadId)] : [])] : [];
      const res = await o.redis.eval(WRITE, 2 + idx.length, k.entry(accountId, phone), k.gen(accountId), ...idx, gen, value, String(info ? ttlSec : negativeTtlSec), phone);
      return Number(res) === 1;
    },
    async invalidate(accountId, what) {
      // First the generation: a lookup in flight now will not store what it read before this change.
      await o.redis.incr(k.gen(accountId));
      const idx = [...(what.contactIds ?? []).map((id) => k.contact(accountId, id)), ...(what.leadIds ?? []).map((id) => k.lead(accountId, id))];
      const phones = new Set(what.phonesE164 ?? []);
      for (const key of idx) for (const p of await o.redis.smembers(key)) phones.add(p);
      const doomed = [...[...phones].map((p) => k.entry(accountId, p)), ...idx];
      if (doomed.length === 0) return 0;
      await o.redis.del(...doomed);
      return phones.size;
    },
  };
}

function parseEntry(raw: string): { f: 1; i: CallerInfo } | { f: 0; g: string } | undefined {
  try {
    const v = JSON.parse(raw) as { f?: unknown; i?: unknown; g?: unknown };
    if (v.f === 1 && v.i && typeof v.i === 'object' && typeof (v.i as CallerInfo).contactId === 'string') return { f: 1, i: v.i as CallerInfo };
    if (v.f === 0 && typeof v.g === 'string') return { f: 0, g: v.g };
  } catch {
    // a corrupt entry is a miss
  }
  return undefined;
}

export interface CallerLookupOptions {
  cache: CallerCache;
  /** Asks the account's CRM (through its rate-limited CrmIO); undefined when the account has no lookup. */
  askCrm(accountId: string, phoneE164: string): Promise<CallerInfo | null> | undefined;
  /** CRM user id → extension, per account (`crm[].extensions`). */
  extensions(accountId: string): Readonly<Record<string, string>>;
  /**
   * Assignment rules: the manager a new lead from this unknown caller would get now (a preview that takes no
   * round-robin slot). Absent, or undefined → no manager for unknown callers.
   */
  previewUnknown?(accountId: string, phoneE164: string, hints?: PreviewHints): Promise<{ responsibleUserId: string; responsibleName?: string } | undefined>;
}

/** What the asker knows about the call, for rules that look at it (`?channel=&source=&line=` on /lookup). */
export interface PreviewHints {
  channel?: string;
  sourceId?: string;
  line?: string;
}

/** The manager the assignment rules would give an unknown caller, with their extension. */
export interface AssigneePreview {
  responsibleUserId: string;
  responsibleName?: string;
  extension?: string;
}

export interface LookupAnswer {
  info: CallerLookup | null;
  /** `cache` when Redis answered, `crm` when the CRM was asked. */
  from: 'cache' | 'crm';
  /** Unknown caller and assignment rules configured: who would take them (never cached: rotation moves). */
  preview?: AssigneePreview;
}

export interface CallerLookupService {
  /**
   * Cache first; on a miss one CRM request per account and number in this process (concurrent askers share it).
   * Past `timeoutMs` it rejects with LookupTimeoutError, but the CRM answer still fills the cache when it comes.
   */
  lookup(accountId: string, phoneE164: string, timeoutMs: number, hints?: PreviewHints): Promise<LookupAnswer>;
}

export class LookupTimeoutError extends TimeoutError {
  constructor(ms: number) {
    super(`the CRM did not answer the caller lookup within ${ms} ms`);
    this.name = 'LookupTimeoutError';
  }
}

export function createCallerLookup(o: CallerLookupOptions): CallerLookupService {
  const inFlight = new Map<string, Promise<CallerInfo | null>>();
  const withExtension = (accountId: string, info: CallerInfo | null): CallerLookup | null => {
    if (!info) return null;
    const ext = info.responsibleUserId !== undefined ? o.extensions(accountId)[info.responsibleUserId] : undefined;
    return ext ? { ...info, extension: ext } : { ...info };
  };
  const withPreview = async (accountId: string, phone: string, a: LookupAnswer, hints?: PreviewHints): Promise<LookupAnswer> => {
    if (a.info || !o.previewUnknown) return a;
    const p = await o.previewUnknown(accountId, phone, hints).catch(() => undefined); // a preview never fails a lookup
    if (!p) return a;
    const ext = o.extensions(accountId)[p.responsibleUserId];
    return { ...a, preview: { ...p, ...(ext ? { extension: ext } : {}) } };
  };
  return {
    async lookup(accountId, phone, timeoutMs, hints) {
      const cached = await o.cache.read(accountId, phone);
      if (cached.hit) return withPreview(accountId, phone, { info: withExtension(accountId, cached.info), from: 'cache' }, hints);
      const flightKey = `${accountId}\n${phone}`;
      let p = inFlight.get(flightKey);
      if (!p) {
        const ask = o.askCrm(accountId, phone);
        p = (async () => {
          const info = ask ? await ask : null;
          await o.cache.write(accountId, phone, info, cached.gen);
          return info;
        })();
        inFlight.set(flightKey, p);
        const done = (): void => {
          inFlight.delete(flightKey);
        };
        p.then(done, done);
      }
      const info = await withTimeout(p, timeoutMs, 'caller lookup', () => new LookupTimeoutError(timeoutMs));
      return withPreview(accountId, phone, { info: withExtension(accountId, info), from: 'crm' }, hints);
    },
  };
}


/**
 * For PBX routing (`DecideContext.lookupCaller`): a known caller as is; an unknown one with a preview becomes a
 * CallerLookup flagged `unknownCaller` (no contact id, no name) so the call goes to the manager the rules pick.
 */
export function routingAnswer(a: LookupAnswer): CallerLookup | null {
  if (a.info) return a.info;
  if (!a.preview) return null;
  return { contactId: '', unknownCaller: true, responsibleUserId: a.preview.responsibleUserId, ...(a.preview.responsibleName ? { responsibleName: a.preview.responsibleName } : {}), ...(a.preview.extension ? { extension: a.preview.extension } : {}) };
}

/** `ООО Ромашка / Иван Петров`: what a manager's phone shows for a known caller. */
export function callerDisplayName(info: Pick<CallerInfo, 'name' | 'company'>): string | undefined {
  const parts = [info.company, info.name].map((s) => s?.trim()).filter((s): s is string => Boolean(s));
  return parts.length ? parts.join(' / ') : undefined;
}
