import type { Logger } from 'pino';
import type { RuntimeConfig } from '../config/load.ts';
import { checkLedgerEnv, openLedger } from './open.ts';
import { createLedgerRecorder, type LedgerRecorder } from './recorder.ts';

/**
 * The workers' ledger recorder for a config, or undefined when `ledger.enabled` is false. The database is opened
 * on the first write (and again after a failure), so a ledger that is down never stops a worker from starting.
 */
export function ledgerRecorderFor(o: {
  config: RuntimeConfig;
  env: Readonly<Record<string, string | undefined>>;
  log: Logger;
  onError?: (op: string) => void;
}): LedgerRecorder | undefined {
  const cfg = o.config.raw.ledger;
  if (!cfg.enabled) return undefined;
  checkLedgerEnv(cfg, o.env, o.config.file);
  return createLedgerRecorder({
    open: () => openLedger(cfg, o.env, { configFile: o.config.file }),
    log: o.log.child({ part: 'ledger' }),
    writeTimeoutMs: cfg.writeTimeoutMs,
    retentionDays: cfg.retentionDays,
    ...(o.onError ? { onError: o.onError } : {}),
  });
}
