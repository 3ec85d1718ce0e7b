/**
 * Numbered SQL migrations (`migrations/NNN_name.sql`, or `NNN_name.sqlite.sql` / `NNN_name.postgres.sql` where the
 * dialects differ), applied in order and recorded in `ledger_migrations`. Start-up is idempotent and safe with
 * several processes starting at once: everything runs under the driver's migration lock, and each process
 * re-reads what is applied only after it holds the lock.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Dialect, SqlDriver } from './driver.ts';

export const MIGRATIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'migrations');

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

const FILE = /^(\d{3,})_([a-z0-9_-]+?)(?:\.(sqlite|postgres))?\.sql$/;

/** The migrations for one dialect, in order; a dialect's own file replaces the shared one of the same number. */
export function loadMigrations(dialect: Dialect, dir = MIGRATIONS_DIR): Migration[] {
  const byVersion = new Map<number, Migration & { specific: boolean }>();
  for (const f of readdirSync(dir).sort()) {
    const m = FILE.exec(f);
    if (!m) continue;
    const [, num, name, only] = m;
    if (only && only !== dialect) continue;
    const version = Number(num);
    const prev = byVersion.get(version);
    if (prev && (prev.specific || !only)) {
      if (prev.specific === Boolean(only)) throw new Error(`ledger migrations: two files numbered ${num} in ${dir}; renumber one`);
      continue;
    }
    byVersion.set(version, { version, name: name!, sql: readFileSync(join(dir, f), 'utf8'), specific: Boolean(only) });
  }
  return [...byVersion.values()].sort((a, b) => a.version - b.version).map(({ version, name, sql }) => ({ version, name, sql }));
}

/** Applies what is missing; returns the versions applied by this call (empty when the database was current). */
export async function migrate(db: SqlDriver, o: { schema?: string; migrations?: Migration[]; now?: () => number } = {}): Promise<number[]> {
  const migrations = o.migrations ?? loadMigrations(db.dialect);
  const now = o.now ?? Date.now;
  return db.exclusive(async (tx) => {
    if (o.schema && tx.dialect === 'postgres') await tx.exec(`CREATE SCHEMA IF NOT EXISTS "${o.schema}"`);
    await tx.exec('CREATE TABLE IF NOT EXISTS ledger_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)');
    const done = new Set((await tx.all<{ version: number }>('SELECT version FROM ledger_migrations')).map((r) => Number(r.version)));
    const applied: number[] = [];
    for (const m of migrations) {
      if (done.has(m.version)) continue;
      await tx.transaction(async (t) => {
        await t.exec(m.sql);
        await t.run('INSERT INTO ledger_migrations (version, name, applied_at) VALUES (?, ?, ?)', [m.version, m.name, now()]);
      });
      applied.push(m.version);
    }
    return applied;
  });
}
