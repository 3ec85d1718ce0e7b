import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { parsePhone, type CountryCode } from '../domain/phone.ts';
import { callerDisplayName, LookupTimeoutError, type CallerLookupService, type PreviewHints } from '../domain/caller-cache.ts';
import { safeEqual } from './verify-source.ts';

export interface LookupPluginOptions {
  lookup: CallerLookupService;
  /** The bearer token (resolved from `telephony.lookup.tokenEnv`); undefined → every request gets 404. */
  token: string | undefined;
  /** Configured CRM account ids; the first is used when `?account=` is absent and there is only one. */
  accountIds: readonly string[];
  defaultRegion: CountryCode;
  /** How long to wait for the CRM on a miss. */
  timeoutMs: number;
}

/**
 * `GET /lookup/phone/:number[?account=<crm id>]` with `Authorization: Bearer <token>`: who is calling, for a PBX
 * agent or a softphone. Answers from the Redis cache in a few ms; on a miss asks the CRM (rate-limited like every
 * other request to that account) and caches the answer.
 *
 * 200 `{"found":true,"phone","contactId","name","company","displayName","responsible":{"id","name","extension"},"openLeadId","from":"cache"|"crm"}`
 * or `{"found":false,"phone","from"}` — with `"responsible":{"id","name","extension","assignedBy":"rules"}` when assignment
 * rules say who would take a new lead from this caller now (`?channel=&source=&line=` feed rules that look at them); 400 bad number; 401/403 token; 404 off or unknown account; 503 CRM
 * failed or too slow (the answer is cached when it comes: ask again).
 */
export async function lookupPlugin(app: FastifyInstance, o: LookupPluginOptions): Promise<void> {
  app.get('/lookup/phone/:number', async (req: FastifyRequest, reply: FastifyReply) => {
    if (o.token === undefined) {
      return reply.code(404).send({ error: { code: 'LG_ERR_CONFIG', message: 'caller lookup is off: set telephony.lookup.tokenEnv and that variable' } });
    }
    const auth = req.headers.authorization;
    const given = typeof auth === 'string' && /^bearer\s+/i.test(auth) ? auth.replace(/^bearer\s+/i, '').trim() : undefined;
    if (!given) return reply.code(401).header('www-authenticate', 'Bearer').send({ error: { code: 'LG_ERR_SECRET_MISSING', message: 'send the lookup token as Authorization: Bearer <token>' } });
    if (!safeEqual(given, o.token)) return reply.code(403).send({ error: { code: 'LG_ERR_SECRET_MISMATCH', message: 'the lookup token does not match' } });

    const { number } = req.params as { number: string };
    const q = req.query as { account?: unknown; channel?: unknown; source?: unknown; line?: unknown };
    const accountId = typeof q.account === 'string' && q.account !== '' ? q.account : o.accountIds.length === 1 ? o.accountIds[0] : undefined;
    if (accountId === undefined || !o.accountIds.includes(accountId)) {
      return reply.code(404).send({ error: { code: 'LG_ERR_FIELD', field: 'account', expected: `one of ${o.accountIds.join(', ') || '(no CRM account configured)'}`, message: 'unknown or missing CRM account' } });
    }
    const phone = parsePhone(number, o.defaultRegion).e164;
    if (!phone) return reply.code(400).send({ error: { code: 'LG_ERR_FIELD', field: 'number', expected: 'a phone number like +79161234567 or 89161234567', message: 'not a phone number' } });

    try {
      // Hints for assignment rules that look at the call (an unknown caller's preview); strings only.
      const hints = Object.fromEntries(([['channel', q.channel], ['sourceId', q.source], ['line', q.line]] as const).filter(([, v]) => typeof v === 'string' && v !== '' && v.length <= 100)) as PreviewHints;
      const { info, from, preview } = await o.lookup.lookup(accountId, phone, o.timeoutMs, hints);
      reply.header('cache-control', 'no-store');
      if (!info) {
        // An unknown caller: the manager the assignment rules would give a new lead now (no slot is taken).
        const responsible = preview ? { id: preview.responsibleUserId, ...(preview.responsibleName ? { name: preview.responsibleName } : {}), ...(preview.extension ? { extension: preview.extension } : {}), assignedBy: 'rules' as const } : undefined;
        return reply.send({ found: false, phone, ...(responsible ? { responsible } : {}), from });
      }
      const displayName = callerDisplayName(info);
      return reply.send({
        found: true,
        phone,
        contactId: info.contactId,
        ...(info.name ? { name: info.name } : {}),
        ...(info.company ? { company: info.company } : {}),
        ...(displayName ? { displayName } : {}),
        ...(info.responsibleUserId !== undefined || info.extension !== undefined
          ? { responsible: { ...(info.responsibleUserId !== undefined ? { id: info.responsibleUserId } : {}), ...(info.responsibleName ? { name: info.responsibleName } : {}), ...(info.extension ? { extension: info.extension } : {}) } }
          : {}),
        ...(info.openLeadId ? { openLeadId: info.openLeadId } : {}),
        from,
      });
    } catch (err) {
      const slow = err instanceof LookupTimeoutError;
      req.log.warn({ account: accountId, err: (err as Error).message }, slow ? 'caller lookup: CRM too slow' : 'caller lookup: CRM failed');
      return reply.code(503).header('retry-after', '2').send({ error: { code: 'LG_ERR_CRM_RETRY', message: slow ? 'the CRM is slow to answer; the answer will be cached, ask again' : 'the CRM could not be asked; try again later' } });
    }
  });
}
