/**
 * The workers' side of the ledger: a ledger that is down, slow or broken never throws into a delivery and never
 * makes it wait; each failure is logged masked and counted. Also: the migration loader and the trace's pure parts.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { LedgerSchema } from '../../src/config/schema.ts';
import { createLogger } from '../../src/infra/logger.ts';
import { createLedgerRecorder } from '../../src/ledger/recorder.ts';
import { openLedger, checkLedgerEnv, type LedgerStore } from '../../src/ledger/open.ts';
import { loadMigrations } from '../../src/ledger/migrate.ts';
import { findTrace, formatTrace, journalSteps } from '../../src/ledger/trace.ts';
import { traceQuery } from '../../src/ledger/privacy.ts';
import type { DeliverJob, StoredEvent } from '../../src/pipeline/queues.ts';
import type { Outcome } from '../../src/sdk/lead.ts';

const ev: StoredEvent = { sourceId: 'site', connector: 'form', eventId: 'sub-1', eventHash: 'h1', raw: { method: 'POST', subPath: '', headers: {}, query: {}, bodyB64: '', receivedAt: '2026-11-20T10:00:00.000Z' } };
const lead: Outcome = {
  kind: 'lead',
  lead: { source: { channel: 'form', sourceId: 'site', name: 'Сайт' }, externalId: 'x', contact: { phonesE164: ['+79123456789'], phonesUnparsed: [], emails: ['ivan@example.ru'] }, title: 't', utm: {}, tracking: {}, fields: [], attachments: [], occurredAt: '2026-11-20T10:00:00.000Z' },
};
const job: DeliverJob = { accountId: 'amo', sourceId: 'site', deliveryKey: 'site.h1.0', receivedAt: ev.raw.receivedAt, outcome: lead };

function logSink(): { log: pino.Logger; lines: () => string } {
  let buf = '';
  const dest = new Writable({
    write(c, _e, cb) {
      buf += String(c);
      cb();
    },
  });
  return { log: createLogger({ level: 'debug', destination: dest as unknown as pino.DestinationStream }), lines: () => buf };
}

describe('ledger recorder when the ledger fails', () => {
  it('a ledger that cannot open: calls return at once, nothing throws, each failure is counted and logged masked', async () => {
    const errors: string[] = [];
    const sink = logSink();
    let opens = 0;
    const rec = createLedgerRecorder({
      open: async () => {
        opens++;
        throw new Error('connect ECONNREFUSED 127.0.0.1:5432 while writing +79123456789');
      },
      log: sink.log,
      writeTimeoutMs: 1_000,
      onError: (op) => errors.push(op),
    });
    expect(() => {
      rec.intake({ ev, channel: 'form', outcomes: [lead], accountId: 'amo' });
      rec.delivered({ job, channel: 'form', result: { leadId: '1', createdLead: true } });
      rec.failed({ job, channel: 'form', reason: 'x' });
    }).not.toThrow();
    await rec.flush();
    expect(errors.sort()).toEqual(['delivered', 'failed', 'intake']);
    expect(opens).toBe(1); // not hammered: the next try waits 30 s
    expect(sink.lines()).toContain('ledger write failed');
    expect(sink.lines()).not.toContain('9123456789');
    await rec.close();
  });

  it('a ledger that hangs: the write is given up after writeTimeoutMs, the caller never waited', async () => {
    const errors: string[] = [];
    const rec = createLedgerRecorder({ open: () => new Promise(() => undefined), log: pino({ level: 'silent' }), writeTimeoutMs: 150, onError: (op) => errors.push(op) });
    // Nothing to await: the call hands the write to the background and returns.
    expect(rec.intake({ ev, channel: 'form', outcomes: [lead], accountId: 'amo' })).toBeUndefined();
    await rec.flush();
    expect(errors).toEqual(['intake']);
  });

  it('a write that fails (a broken table) is counted; the next writes still go through', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lg-rec-'));
    let store: LedgerStore | undefined;
    try {
      store = await openLedger(LedgerSchema.parse({ file: join(dir, 'l.sqlite') }), {});
      const s = store;
      const errors: string[] = [];
      const rec = createLedgerRecorder({ open: async () => s, log: pino({ level: 'silent' }), writeTimeoutMs: 2_000, onError: (op) => errors.push(op) });
      await s.db.exec('ALTER TABLE ledger_events RENAME TO ledger_events_gone');
      rec.intake({ ev, channel: 'form', outcomes: [lead], accountId: 'amo' });
      await rec.flush();
      expect(errors).toEqual(['intake']);
      // The intake transaction rolled back as a whole; the delivery's own write still lands.
      expect(await s.repo.outcomeByKey('site.h1.0')).toBeUndefined();
      rec.delivered({ job, channel: 'form', result: { leadId: '42', createdLead: true } });
      await rec.flush();
      expect((await s.repo.outcomeByKey('site.h1.0'))?.crm_lead_id).toBe('42');
      expect(errors).toEqual(['intake']);
      await rec.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an event that could not be normalised is kept with its reason, masked, and the trace says so', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lg-rec-rej-'));
    try {
      const store = await openLedger(LedgerSchema.parse({ file: join(dir, 'l.sqlite') }), {});
      const rec = createLedgerRecorder({ open: async () => store, log: pino({ level: 'silent' }), writeTimeoutMs: 2_000 });
      rec.rejected({ ev, channel: 'form', reason: 'phone: expected a string, got an object from ivan@example.ru' });
      await rec.flush();
      const text = formatTrace(await findTrace(store, 'sub-1', 'RU'));
      expect(text).toContain('NOT normalised');
      expect(text).toContain('phone: expected a string, got an object from i***@example.ru');
      await rec.close();
      await store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('recording-check follow-ups (rec.*) are not inquiries: nothing is written for them', async () => {
    const writes: string[] = [];
    const rec = createLedgerRecorder({
      open: async () => ({ hashKey: 'k'.repeat(32), repo: { upsertOutcome: async (r: { delivery_key: string }) => void writes.push(r.delivery_key) } }) as unknown as LedgerStore,
      log: pino({ level: 'silent' }),
      writeTimeoutMs: 1_000,
    });
    rec.delivered({ job: { ...job, deliveryKey: 'rec.abc.1' }, channel: 'mango', result: {} });
    rec.delivered({ job, channel: 'form', result: { leadId: '1', createdLead: true } });
    await rec.flush();
    expect(writes).toEqual(['site.h1.0']);
  });
});

describe('ledger configuration', () => {
  it('names the env var and the fix when the PostgreSQL URL or the hash key is missing or wrong', () => {
    const cfg = LedgerSchema.parse({ urlEnv: 'LEDGER_URL', hashKeyEnv: 'LEDGER_KEY' });
    expect(() => checkLedgerEnv(cfg, {}, 'leadgate.yaml')).toThrow(/leadgate\.yaml ledger\.urlEnv: LEDGER_URL is empty\. Fix: set LEDGER_URL/);
    expect(() => checkLedgerEnv(cfg, { LEDGER_URL: 'mysql://x' })).toThrow(/not a postgres:\/\/ URL/);
    expect(() => checkLedgerEnv(cfg, { LEDGER_URL: 'postgres://h/db', LEDGER_KEY: 'short' })).toThrow(/ledger\.hashKeyEnv: LEDGER_KEY is shorter than 16 characters/);
    expect(checkLedgerEnv(cfg, { LEDGER_URL: 'postgres://h/db', LEDGER_KEY: 'k'.repeat(16) })).toEqual({ url: 'postgres://h/db', hashKey: 'k'.repeat(16) });
  });
});

describe('migration files', () => {
  it('in number order; a dialect file replaces the shared one of its number; a duplicate number is refused', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lg-mig-'));
    try {
      writeFileSync(join(dir, '002_more.sql'), 'B');
      writeFileSync(join(dir, '001_init.sql'), 'A');
      writeFileSync(join(dir, '002_more.postgres.sql'), 'B-pg');
      writeFileSync(join(dir, 'README.md'), 'not a migration');
      expect(loadMigrations('sqlite', dir).map((m) => [m.version, m.name, m.sql])).toEqual([
        [1, 'init', 'A'],
        [2, 'more', 'B'],
      ]);
      expect(loadMigrations('postgres', dir).map((m) => m.sql)).toEqual(['A', 'B-pg']);
      writeFileSync(join(dir, '001_again.sql'), 'C');
      expect(() => loadMigrations('sqlite', dir)).toThrow(/two files numbered 001/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('trace, pure parts', () => {
  it('reads what the operator typed: e-mail, phone in any spelling, else an id', () => {
    const a = traceQuery('key-0123456789abcdef', '8 (912) 345-67-89', 'RU');
    const b = traceQuery('key-0123456789abcdef', '+79123456789', 'RU');
    expect(a).toEqual(b);
    expect(a).toMatchObject({ kind: 'phone', masked: '+7 *** ***-**-89' });
    expect(traceQuery('key-0123456789abcdef', 'Ivan@Example.RU', 'RU')).toEqual(traceQuery('key-0123456789abcdef', 'ivan@example.ru', 'RU'));
    expect(traceQuery('k', 'site.AbC_d-1', 'RU')).toEqual({ kind: 'id', id: 'site.AbC_d-1' });
    expect(traceQuery('k', '12345', 'RU')).toEqual({ kind: 'id', id: '12345' });
  });

  it('journal steps in the order they began, ids only (never a name from a saved result), unfinished ones marked', () => {
    const steps = journalSteps({
      findContact: JSON.stringify({ contactId: 77, name: 'Иван Петров', leadIds: [1] }),
      'findContact:intent': '1000',
      'createLead:intent': '2000',
      createLead: JSON.stringify({ leadId: 501, contactId: 77 }),
      'addTask:intent': '3000',
    });
    expect(steps).toEqual([
      { name: 'findContact', startedAt: 1000, done: true, ids: { contactId: '77' } },
      { name: 'createLead', startedAt: 2000, done: true, ids: { leadId: '501', contactId: '77' } },
      { name: 'addTask', startedAt: 3000, done: false, ids: {} },
    ]);
    const text = formatTrace(
      { query: { kind: 'id', id: 'site.h1' }, events: [{ eventKey: 'site.h1', event: { event_key: 'site.h1', channel: 'form', source_id: 'site', status: 'normalised', received_at: 0, normalised_at: 250, outcome_count: 1, event_id: 'sub-1' }, outcomes: [{ delivery_key: 'site.h1.0', status: 'queued', kind: 'lead', account_id: 'amo', outcome_index: 0, received_at: 0 }] }] },
      new Map([['site.h1.0', steps]]),
    );
    expect(text).toContain('verified, normalised 1970-01-01 00:00:00.250 UTC (+0.3 s) → 1 outcome(s)');
    expect(text).toContain('#0 lead: queued for the CRM (not delivered yet)');
    expect(text).toMatch(/✓ createLead\s+1970-01-01 00:00:02\.000 UTC {2}leadId=501 contactId=77/);
    expect(text).toMatch(/… addTask .*a retry resumes here/);
    expect(text).not.toContain('Иван');
  });
});
