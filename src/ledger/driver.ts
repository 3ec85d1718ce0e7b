/**
 * The two databases the ledger runs on, behind one small interface. Queries are written once with `?` placeholders
 * and portable SQL (BIGINT epoch milliseconds, SMALLINT flags, `INSERT … ON CONFLICT … DO UPDATE`); the PostgreSQL
 * driver turns `?` into `$n`.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';

export type Dialect = 'sqlite' | 'postgres';

export interface SqlDriver {
  dialect: Dialect;
  /** Rows of a SELECT (or `RETURNING`). */
  all<T = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<T[]>;
  /** A statement without rows; resolves with the number of rows changed. */
  run(sql: string, params?: readonly unknown[]): Promise<number>;
  /** Several statements separated by `;` (migrations), no parameters. */
  exec(sql: string): Promise<void>;
  /**
   * Runs `fn` while holding the database-wide migration lock: a PostgreSQL advisory lock on one connection, or
   * SQLite's write lock (`BEGIN IMMEDIATE`), so several processes starting at once migrate one after another.
   * `fn` gets a driver bound to that connection; SQLite runs it inside the one transaction.
   */
  exclusive<T>(fn: (db: SqlDriver) => Promise<T>): Promise<T>;
  /**
   * Runs `fn` in one transaction (PostgreSQL: on one connection). Inside, use only the driver `fn` is given: on
   * SQLite the outer one waits for the transaction to end, so calling it from inside would wait forever.
   */
  transaction<T>(fn: (db: SqlDriver) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

// ------------------------------------------------------------------------------------------------- SQLite

/**
 * The embedded default. WAL lets readers (trace, report) run beside a writer. Several worker processes on one
 * machine share the file: a statement that finds it locked waits and tries again (up to `busyTimeoutMs`). The
 * wait is asynchronous, never SQLite's own busy loop, which would block this process's event loop, and with it the
 * other connection of the same process (gateway + workers in `leadgate start`) that holds the lock.
 * better-sqlite3 is synchronous: each ledger write blocks the event loop for well under a millisecond.
 */
export function openSqlite(file: string, o: { busyTimeoutMs?: number } = {}): SqlDriver {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  const busyTimeoutMs = o.busyTimeoutMs ?? 5_000;
  const db = new Database(file, { timeout: 0 });
  // Switching to WAL needs the lock too: the first of several processes does it, the others find it done.
  void retryBusy(async () => db.pragma('journal_mode = WAL'), busyTimeoutMs);
  db.pragma('synchronous = NORMAL');
  // One connection: operations of concurrent callers queue here (a second BEGIN inside the first would fail).
  let queue: Promise<unknown> = Promise.resolve();
  // Compiled statements, by SQL text (the ledger has a few dozen distinct ones).
  const statements = new Map<string, Database.Statement>();
  const prepare = (sql: string): Database.Statement => {
    let st = statements.get(sql);
    if (!st) {
      if (statements.size >= 500) statements.clear();
      st = db.prepare(sql);
      statements.set(sql, st);
    }
    return st;
  };
  const base = {
    dialect: 'sqlite' as const,
    async all<T>(sql: string, params: readonly unknown[] = []) {
      return prepare(sql).all(...params.map(toSqlite)) as T[];
    },
    async run(sql: string, params: readonly unknown[] = []) {
      return prepare(sql).run(...params.map(toSqlite)).changes;
    },
    async exec(sql: string) {
      db.exec(sql);
    },
    async close() {
      db.close();
    },
  };
  // Inside a transaction (we hold the write lock), a nested one simply joins it.
  const inTx: SqlDriver = { ...base, exclusive: (fn) => fn(inTx), transaction: (fn) => fn(inTx) };
  const queued = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = queue.then(() => retryBusy(fn, busyTimeoutMs));
    queue = run.catch(() => undefined);
    return run;
  };
  const tx = <T>(fn: (d: SqlDriver) => Promise<T>): Promise<T> => {
    const run = queue.then(async () => {
      // BEGIN IMMEDIATE takes the write lock now (or reports busy), so nothing inside can meet a lock later.
      await retryBusy(async () => db.exec('BEGIN IMMEDIATE'), busyTimeoutMs);
      try {
        const out = await fn(inTx);
        db.exec('COMMIT');
        return out;
      } catch (err) {
        if (db.inTransaction) db.exec('ROLLBACK');
        throw err;
      }
    });
    queue = run.catch(() => undefined);
    return run;
  };
  // Outside a transaction a statement waits its turn too, so it never lands in (and rolls back with) another's.
  return {
    ...base,
    all: (sql, params) => queued(() => base.all(sql, params)),
    run: (sql, params) => queued(() => base.run(sql, params)),
    exec: (sql) => queued(() => base.exec(sql)),
    close: () => queue.then(() => base.close()),
    exclusive: tx,
    transaction: tx,
  };
}

/** Runs `fn` again while SQLite says another connection holds the lock, for at most `timeoutMs`. */
async function retryBusy<T>(fn: () => Promise<T>, timeoutMs: number): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (let wait = 2; ; wait = Math.min(wait * 2, 50)) {
    try {
      return await fn();
    } catch (err) {
      const code = (err as { code?: string }).code;
      if ((code !== 'SQLITE_BUSY' && code !== 'SQLITE_LOCKED') || Date.now() >= until) throw err;
      await new Promise((r) => setTimeout(r, wait + Math.random() * wait));
    }
  }
}

/** better-sqlite3 binds numbers, strings, bigint, Buffer and null only. */
function toSqlite(v: unknown): unknown {
  if (v === undefined) return null;
  if (typeof v === 'boolean') return v ? 1 : 0;
  return v;
}

// --------------------------------------------------------------------------------------------- PostgreSQL

const INT8_OID = 20;
const NUMERIC_OID = 1700;

/**
 * A small pool. BIGINT and NUMERIC come back as JS numbers (epoch milliseconds and counts fit easily), and a
 * `schema` becomes the search path of every connection.
 */
export function openPostgres(url: string, o: { schema?: string; max?: number; connectTimeoutMs?: number; statementTimeoutMs?: number } = {}): SqlDriver {
  const options = [o.schema ? `-c search_path=${o.schema}` : '', o.statementTimeoutMs ? `-c statement_timeout=${o.statementTimeoutMs}` : ''].filter(Boolean).join(' ');
  const pool = new pg.Pool({
    connectionString: url,
    max: o.max ?? 4,
    connectionTimeoutMillis: o.connectTimeoutMs ?? 5_000,
    idleTimeoutMillis: 30_000,
    allowExitOnIdle: true,
    ...(options ? { options } : {}),
    types: {
      getTypeParser: ((oid: number, format?: string) =>
        oid === INT8_OID || oid === NUMERIC_OID ? (v: string) => (v === null ? null : Number(v)) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
    },
  });
  // An idle connection dropped by the server must not crash the process: the next query reconnects.
  pool.on('error', () => undefined);
  const onClient = (c: pg.PoolClient | pg.Pool): SqlDriver => ({
    dialect: 'postgres',
    async all<T>(sql: string, params: readonly unknown[] = []) {
      return (await c.query(toDollar(sql), params.map(toPg))).rows as T[];
    },
    async run(sql, params = []) {
      return (await c.query(toDollar(sql), params.map(toPg))).rowCount ?? 0;
    },
    async exec(sql) {
      await c.query(sql);
    },
    exclusive: (fn) => withClient((cl) => locked(cl, fn)),
    transaction: (fn) => (c instanceof pg.Pool ? withClient((cl) => inTransaction(cl, fn)) : inTransaction(c, fn)),
    async close() {
      if (c instanceof pg.Pool) await c.end();
    },
  });
  async function withClient<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await pool.connect();
    try {
      return await fn(client);
    } finally {
      client.release();
    }
  }
  async function inTransaction<T>(cl: pg.PoolClient, fn: (d: SqlDriver) => Promise<T>): Promise<T> {
    await cl.query('BEGIN');
    try {
      const out = await fn(onClient(cl));
      await cl.query('COMMIT');
      return out;
    } catch (err) {
      await cl.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
  }
  async function locked<T>(cl: pg.PoolClient, fn: (d: SqlDriver) => Promise<T>): Promise<T> {
    // One lock per schema: two ledgers in two schemas of one database migrate independently.
    await cl.query('SELECT pg_advisory_lock(hashtext($1))', [`leadgate-ledger:${o.schema ?? 'public'}`]);
    try {
      return await fn(onClient(cl));
    } finally {
      await cl.query('SELECT pg_advisory_unlock(hashtext($1))', [`leadgate-ledger:${o.schema ?? 'public'}`]).catch(() => undefined);
    }
  }
  return onClient(pool);
}

function toPg(v: unknown): unknown {
  if (v === undefined) return null;
  if (typeof v === 'boolean') return v ? 1 : 0;
  return v;
}

/** `?` → `$1, $2…` outside string literals. Our SQL never puts `?` inside a literal, but be safe. */
export function toDollar(sql: string): string {
  let n = 0;
  let out = '';
  let quoted = false;
  for (const ch of sql) {
    if (ch === "'") quoted = !quoted;
    out += ch === '?' && !quoted ? `$${++n}` : ch;
  }
  return out;
}
