/**
 * Several worker processes on one machine share the embedded SQLite ledger: three processes start at once (each
 * migrating) and write concurrently; every write lands, none fails with "database is locked".
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openSqlite } from '../../src/ledger/driver.ts';

function run(file: string, name: string, count: number): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, ['--import', 'tsx', resolve('test/ledger/support/ledger-writer.ts'), file, name, String(count)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += String(d)));
    child.stderr.on('data', (d) => (err += String(d)));
    child.on('exit', (code) => done({ code, out, err }));
  });
}

describe('SQLite ledger shared by several processes', () => {
  it('three processes migrate and write at once: every row lands once, no lock errors', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lg-sqlite-procs-'));
    const file = join(dir, 'ledger.sqlite');
    try {
      const results = await Promise.all(['a', 'b', 'c'].map((n) => run(file, n, 2000)));
      for (const r of results) {
        expect(r.err).toBe('');
        expect([r.code, r.out.trim()]).toEqual([0, 'done 0']);
      }
      const db = openSqlite(file);
      try {
        expect(await db.all('SELECT version FROM ledger_migrations')).toHaveLength(1);
        const rows = await db.all<{ source_id: string; n: number; delivered: number }>("SELECT source_id, COUNT(*) AS n, SUM(CASE WHEN status = 'delivered' THEN 1 ELSE 0 END) AS delivered FROM ledger_outcomes GROUP BY source_id ORDER BY source_id");
        expect(rows.map((r) => [r.source_id, Number(r.n), Number(r.delivered)])).toEqual([
          ['a', 2000, 2000],
          ['b', 2000, 2000],
          ['c', 2000, 2000],
        ]);
      } finally {
        await db.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
