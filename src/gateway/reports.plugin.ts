/**
 * The channel report on the gateway, behind the same HTTP basic auth as `/admin/queues` (`LEADGATE_ADMIN_USER` /
 * `LEADGATE_ADMIN_PASSWORD`; without both the routes are not mounted, and the log says so):
 * - `GET /reports/channels?since=7d`: the report as JSON (src/reports/channels.ts says what each figure means);
 * - `GET /reports?since=7d`: a small HTML page with a chart per channel (inline SVG, nothing from the internet).
 * The ledger is opened on the first request, so a gateway without one starts as fast as before.
 */
import type { FastifyInstance } from 'fastify';

import type { Logger } from 'pino';
import type { RuntimeConfig } from '../config/load.ts';
import { openLedger, type LedgerStore } from '../ledger/open.ts';
import { ReportQuerySchema } from '../reports/channels.ts';
import { loadChannelReport } from '../reports/load.ts';
import { renderReportPage } from '../reports/page.ts';
import { requireAdmin } from './admin-auth.ts';

export interface ReportsPluginOptions {
  config: RuntimeConfig;
  env?: Readonly<Record<string, string | undefined>>;
  log?: Logger;
  /** Opens the ledger (tests pass their own). @defaultValue the one `ledger:` in the config describes */
  openStore?: () => Promise<LedgerStore>;
  now?: () => Date;
}

export async function reportsPlugin(app: FastifyInstance, o: ReportsPluginOptions): Promise<void> {
  const env = o.env ?? process.env;
  const user = env.LEADGATE_ADMIN_USER;
  const password = env.LEADGATE_ADMIN_PASSWORD;
  const ledgerCfg = o.config.raw.ledger;
  if (!ledgerCfg.enabled) return;
  if (!user || !password) {
    o.log?.info('reports /reports disabled: set LEADGATE_ADMIN_USER and LEADGATE_ADMIN_PASSWORD to enable them');
    return;
  }
  const open = o.openStore ?? (() => openLedger(ledgerCfg, env, { configFile: o.config.file }));
  let store: Promise<LedgerStore> | undefined;
  const getStore = (): Promise<LedgerStore> => {
    store ??= open().catch((err: unknown) => {
      store = undefined; // the next request tries again
      throw err;
    });
    return store;
  };
  app.addHook('onClose', async () => {
    const s = await store?.catch(() => undefined);
    await s?.close().catch(() => undefined);
  });

  await app.register(async (scope) => {
    await requireAdmin(scope, { user, password });

    const report = async (query: unknown) => {
      const q = ReportQuerySchema.safeParse(query ?? {});
      if (!q.success) {
        const issue = q.error.issues[0]!;
        return { since: '', error: new Error(`${String(issue.path[0] ?? 'query')}: ${issue.message}`) };
      }
      const since = q.data.since;
      try {
        const s = await getStore();
        return { since, report: await loadChannelReport(s, since, o.now?.() ?? new Date(), q.data.tz) };
      } catch (err) {
        return { since, error: err as Error };
      }
    };
    const fail = (err: Error) =>
      /^(since|tz):/.test(err.message)
        ? {
            status: 400,
            body: { error: { code: 'LG_ERR_FIELD', field: err.message.startsWith('tz') ? 'tz' : 'since', expected: err.message.startsWith('tz') ? 'an IANA time zone like Europe/Moscow' : 'a period like 7d, 24h, 90m, 2w or an ISO time', message: err.message } },
          }
        : { status: 503, body: { error: { code: 'LG_ERR_LEDGER_UNAVAILABLE', message: 'the lead ledger cannot be read now; see the gateway log' } } };

    scope.get('/reports/channels', { schema: { hide: true } }, async (req, reply) => {
      const r = await report(req.query);
      if ('error' in r) {
        const f = fail(r.error!);
        if (f.status === 503) req.log.warn({ err: r.error!.message }, 'reports: ledger read failed');
        return reply.code(f.status).send(f.body);
      }
      return reply.send(r.report);
    });
    scope.get('/reports', { schema: { hide: true } }, async (req, reply) => {
      const r = await report(req.query);
      if ('error' in r) {
        const f = fail(r.error!);
        if (f.status === 503) req.log.warn({ err: r.error!.message }, 'reports: ledger read failed');
        return reply.code(f.status).type('text/plain; charset=utf-8').send(`${f.body.error.message}\n`);
      }
      return reply.type('text/html; charset=utf-8').header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'").send(renderReportPage(r.report!, { sinceParam: r.since }));
    });
  });
  o.log?.info('reports at /reports and /reports/channels (basic auth, the admin user)');
}
