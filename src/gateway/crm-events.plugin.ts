import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import qs from 'qs';
import { decodeJson } from '../sdk/decode.ts';
import { parsePhone, type CountryCode } from '../domain/phone.ts';
import type { CallerCache } from '../domain/caller-cache.ts';
import { safeEqual } from './verify-source.ts';
import type { TaskEventSink } from '../assignment/events.ts';

export interface CrmEventsAccount {
  /** `?secret=` of the webhook URL (resolved from `crm[].events.secretEnv`). */
  secret: string;
  /** Bitrix24 outgoing webhook token (`auth[application_token]`), checked too when set. */
  applicationToken?: string;
}

export interface CrmEventsPluginOptions {
  cache: CallerCache;
  /** Accounts with `events` configured; others answer 404. */
  accounts: ReadonlyMap<string, CrmEventsAccount>;
  defaultRegion: CountryCode;
  /** Assignment rules: follow-up tasks done and leads closed (src/assignment/events.ts); absent → not recorded. */
  tasks?: TaskEventSink;
}

/** What a CRM notification says changed, as far as caller-ID answers are concerned. */
export interface CrmChange {
  contactIds: string[];
  leadIds: string[];
  phonesE164: string[];
  /** Entity/action pairs seen, for the log (`contacts.update`, `ONCRMCONTACTUPDATE`). */
  seen: string[];
}

/**
 * `POST /crm-events/:accountId?secret=…`: CRM webhooks about contacts, companies and leads. They only drop
 * caller-ID cache entries (the next lookup asks the CRM again), so they are handled inline and answered at once:
 * amoCRM disables a webhook that is slow or failing, Bitrix24 never retries.
 *
 * The payloads are recognised by shape (reference: amocrm.md §12, bitrix24.md §9):
 * - PHP-bracket forms `contacts[update][0][id]=…` (with phone values in `custom_fields`), `leads[status][0][id]`;
 * - `event=ONCRMCONTACTUPDATE&data[FIELDS][ID]=…` (only the id).
 * Any notification also invalidates every cached "unknown number": a new or edited contact may own one now.
 */
export async function crmEventsPlugin(app: FastifyInstance, o: CrmEventsPluginOptions): Promise<void> {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  app.post('/crm-events/:accountId', async (req: FastifyRequest, reply: FastifyReply) => {
    const { accountId } = req.params as { accountId: string };
    const acct = o.accounts.get(accountId);
    if (!acct) return reply.code(404).send({ error: { code: 'LG_ERR_UNKNOWN_SOURCE', message: `no CRM account "${accountId}" with events configured (crm[].events.secretEnv)` } });
    const q = req.query as { secret?: unknown };
    const secret = typeof q.secret === 'string' ? q.secret : undefined;
    if (!secret) return reply.code(401).send({ error: { code: 'LG_ERR_SECRET_MISSING', message: 'add ?secret=<value of crm[].events.secretEnv> to the webhook URL' } });
    if (!safeEqual(secret, acct.secret)) return reply.code(403).send({ error: { code: 'LG_ERR_SECRET_MISMATCH', message: 'the secret does not match this account' } });

    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    let decoded: unknown;
    try {
      decoded = /json/i.test(String(req.headers['content-type'] ?? '')) ? decodeJson(body) : decodeCrmForm(body);
    } catch {
      return reply.code(400).send({ error: { code: 'LG_ERR_BAD_BODY', field: 'body', expected: 'a urlencoded CRM webhook', message: 'cannot read the body' } });
    }
    if (acct.applicationToken !== undefined) {
      const token = readPath(decoded, ['auth', 'application_token']);
      if (typeof token !== 'string' || !safeEqual(token, acct.applicationToken)) {
        return reply.code(403).send({ error: { code: 'LG_ERR_SECRET_MISMATCH', field: 'auth[application_token]', message: 'application_token does not match crm[].events.applicationTokenEnv' } });
      }
    }
    const change = readCrmChange(decoded, o.defaultRegion);
    const dropped = await o.cache.invalidate(accountId, change);
    const tasks = o.tasks ? await o.tasks.record(accountId, decoded) : undefined;
    req.log.info({ account: accountId, seen: change.seen, contacts: change.contactIds.length, leads: change.leadIds.length, dropped, ...(tasks ? { tasksDone: tasks.doneTaskIds.length, leadsClosed: tasks.closedLeadIds.length, assignedUpdated: tasks.recorded } : {}) }, 'CRM change: caller-ID cache invalidated');
    return reply.send({ ok: true, invalidated: dropped });
  });
}

/**
 * amoCRM nests phone values six brackets deep (`contacts[update][0][custom_fields][0][values][0][value]`), past
 * the intake decoder's limit of five; one POST may carry many entities. Still bounded.
 */
export function decodeCrmForm(body: Buffer | string): Record<string, unknown> {
  return qs.parse(Buffer.isBuffer(body) ? body.toString('utf8') : body, { depth: 8, parameterLimit: 5_000, arrayLimit: 250, allowPrototypes: false });
}

function readPath(v: unknown, path: readonly string[]): unknown {
  let cur = v;
  for (const k of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[k];
  }
  return cur;
}

/** Arrays and qs's index-keyed objects (past its array limit) alike. */
function items(v: unknown): unknown[] {
  if (Array.isArray(v)) return v;
  if (v !== null && typeof v === 'object') return Object.values(v);
  return [];
}

function idOf(v: unknown): string | undefined {
  const s = typeof v === 'number' ? String(v) : typeof v === 'string' ? v.trim() : '';
  return /^\d{1,20}$/.test(s) ? s : undefined;
}

const BITRIX_EVENT = /^ONCRM(CONTACT|COMPANY|LEAD|DEAL)(ADD|UPDATE|DELETE)$/;

/** Pure: a decoded CRM webhook → the contacts, leads and phones whose cached answers are stale. */
export function readCrmChange(decoded: unknown, defaultRegion: CountryCode): CrmChange {
  const out: CrmChange = { contactIds: [], leadIds: [], phonesE164: [], seen: [] };
  if (decoded === null || typeof decoded !== 'object') return out;
  const root = decoded as Record<string, unknown>;

  const event = typeof root.event === 'string' ? root.event.toUpperCase() : undefined;
  const m = event ? BITRIX_EVENT.exec(event) : null;
  if (m && event) {
    out.seen.push(event);
    const id = idOf(readPath(root, ['data', 'FIELDS', 'ID']));
    if (id && m[1] === 'CONTACT') out.contactIds.push(id);
    if (id && m[1] === 'LEAD') out.leadIds.push(id);
    return out;
  }

  for (const entity of ['contacts', 'leads', 'companies'] as const) {
    const byAction = root[entity];
    if (byAction === null || typeof byAction !== 'object') continue;
    for (const [action, list] of Object.entries(byAction as Record<string, unknown>)) {
      out.seen.push(`${entity}.${action}`);
      for (const item of items(list)) {
        if (item === null || typeof item !== 'object') continue;
        const rec = item as Record<string, unknown>;
        const id = idOf(rec.id);
        if (id && entity === 'contacts') out.contactIds.push(id);
        if (id && entity === 'leads') out.leadIds.push(id);
        // Phones written on the contact: their entries (maybe "unknown number") are stale too.
        for (const field of items(rec.custom_fields)) {
          for (const value of items(readPath(field, ['values']))) {
            const raw = readPath(value, ['value']);
            const e164 = typeof raw === 'string' ? parsePhone(raw, defaultRegion).e164 : undefined;
            if (e164 && !out.phonesE164.includes(e164)) out.phonesE164.push(e164);
          }
        }
      }
    }
  }
  return out;
}
