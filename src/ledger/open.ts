/**
 * Opens the ledger a config describes: PostgreSQL when `ledger.urlEnv` names a set variable, else the embedded
 * SQLite file; migrates it; resolves the contact-hash key.
 */
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { ConfigError } from '../sdk/errors.ts';
import type { LedgerConfig } from '../config/schema.ts';
import { openPostgres, openSqlite, type SqlDriver } from './driver.ts';
import { migrate } from './migrate.ts';
import { createRepository, type LedgerRepository } from './repository.ts';

export interface LedgerStore {
  db: SqlDriver;
  repo: LedgerRepository;
  /** HMAC key of contact hashes. */
  hashKey: string;
  /** Where the ledger lives, for logs: `sqlite var/ledger.sqlite`, `postgres 127.0.0.1:5432/leads (schema x)`. */
  where: string;
  /** True when the hash key was generated and kept in the ledger itself (ledger.hashKeyEnv unset). */
  generatedHashKey: boolean;
  close(): Promise<void>;
}

const HASH_KEY_META = 'contact-hash-key';

export async function openLedger(cfg: LedgerConfig, env: Readonly<Record<string, string | undefined>> = process.env, o: { cwd?: string; configFile?: string } = {}): Promise<LedgerStore> {
  const { url, hashKey: configuredKey } = checkLedgerEnv(cfg, env, o.configFile);
  const file = resolve(o.cwd ?? process.cwd(), cfg.file);
  const db = url ? openPostgres(url, { ...(cfg.schema ? { schema: cfg.schema } : {}), statementTimeoutMs: cfg.writeTimeoutMs }) : openSqlite(file);
  const where = url ? `postgres ${describePg(url)}${cfg.schema ? ` (schema ${cfg.schema})` : ''}` : `sqlite ${file}`;
  try {
    await migrate(db, cfg.schema ? { schema: cfg.schema } : {});
    const repo = createRepository(db);
    let hashKey = configuredKey;
    const generated = !hashKey;
    hashKey ??= await repo.initMeta(HASH_KEY_META, randomBytes(32).toString('hex'));
    return { db, repo, hashKey, where, generatedHashKey: generated, close: () => db.close() };
  } catch (err) {
    await db.close().catch(() => undefined);
    throw err;
  }
}

/**
 * The ledger's environment, checked at start-up (a mistake stops it with the fix, like any config error): the
 * PostgreSQL URL when `urlEnv` is set, the contact-hash key when `hashKeyEnv` is set.
 */
export function checkLedgerEnv(cfg: LedgerConfig, env: Readonly<Record<string, string | undefined>>, configFile = '(config)'): { url?: string; hashKey?: string } {
  const url = cfg.urlEnv ? env[cfg.urlEnv] : undefined;
  if (cfg.urlEnv && !url) {
    throw new ConfigError({ file: configFile, key: 'ledger.urlEnv', problem: `${cfg.urlEnv} is empty`, fix: `set ${cfg.urlEnv} to a postgres://… URL, or remove ledger.urlEnv to use the embedded SQLite file` });
  }
  if (url && !/^postgres(ql)?:\/\//.test(url)) {
    throw new ConfigError({ file: configFile, key: 'ledger.urlEnv', problem: `${cfg.urlEnv} is not a postgres:// URL`, fix: `set ${cfg.urlEnv} to postgres://user@host:5432/db` });
  }
  const hashKey = cfg.hashKeyEnv ? env[cfg.hashKeyEnv] : undefined;
  if (cfg.hashKeyEnv && (!hashKey || hashKey.length < 16)) {
    throw new ConfigError({ file: configFile, key: 'ledger.hashKeyEnv', problem: `${cfg.hashKeyEnv} is ${hashKey ? 'shorter than 16 characters' : 'empty'}`, fix: `set ${cfg.hashKeyEnv} to a long random value (openssl rand -hex 32), and keep it: changing it makes older rows unsearchable by phone` });
  }
  return { ...(url ? { url } : {}), ...(hashKey ? { hashKey } : {}) };
}

/** host:port/db without the user or password. */
function describePg(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || 5432}${u.pathname}`;
  } catch {
    return '(unparsable URL)';
  }
}
