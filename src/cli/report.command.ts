/**
 * `leadgate report channels [--since 7d] [--json]`: leads, repeat inquiries, ignored robots, missed calls and the
 * median times to card and to first contact, per channel, source and UTM campaign (src/reports/channels.ts).
 */
import { LedgerSchema } from '../config/schema.ts';
import { openLedger } from '../ledger/open.ts';
import { renderReportText } from '../reports/channels.ts';
import { loadChannelReport } from '../reports/load.ts';
import { loadRuntimeConfig } from '../runtime/load-runtime-config.ts';
import { isTimeZone } from '../domain/local-time.ts';

const USAGE = 'usage: leadgate report channels [--since 7d|24h|2w|<ISO time>] [--tz Europe/Moscow] [--json]\n';

export async function reportCommand(args: string[], out: NodeJS.WritableStream = process.stdout, env: NodeJS.ProcessEnv = process.env, now = new Date()): Promise<number> {
  const [what, ...rest] = args;
  const sinceAt = rest.indexOf('--since');
  const since = sinceAt >= 0 ? rest[sinceAt + 1] : '7d';
  const tzAt = rest.indexOf('--tz');
  const tz = tzAt >= 0 ? rest[tzAt + 1] : 'UTC';
  if (what !== 'channels' || !since || since.startsWith('--') || !tz || !isTimeZone(tz)) {
    if (tz && !isTimeZone(tz)) process.stderr.write(`--tz: "${tz}" is not a time zone; expected an IANA name like Europe/Moscow\n`);
    process.stderr.write(USAGE);
    return 2;
  }
  const config = loadRuntimeConfig(env);
  const ledgerCfg = config?.raw.ledger ?? LedgerSchema.parse({});
  if (!ledgerCfg.enabled) {
    process.stderr.write('The ledger is off (ledger.enabled: false in the config): no report.\n');
    return 1;
  }
  const store = await openLedger(ledgerCfg, env, config ? { configFile: config.file } : {});
  try {
    let report;
    try {
      report = await loadChannelReport(store, since, now, tz);
    } catch (err) {
      if (/^since:/.test((err as Error).message)) {
        process.stderr.write(`${(err as Error).message}\n${USAGE}`);
        return 2;
      }
      throw err;
    }
    out.write(rest.includes('--json') ? JSON.stringify(report, null, 2) + '\n' : renderReportText(report));
    return 0;
  } finally {
    await store.close();
  }
}
