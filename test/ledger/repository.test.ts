/**
 * The ledger repository, one test body over both dialects: SQLite (a temp file) and PostgreSQL (the local server,
 * db `test`, a schema of its own per run, dropped after).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LedgerSchema } from '../../src/config/schema.ts';
import { openLedger, type LedgerStore } from '../../src/ledger/open.ts';
import { migrate } from '../../src/ledger/migrate.ts';
import { openPostgres, openSqlite, type SqlDriver } from '../../src/ledger/driver.ts';
import { intakeRows } from '../../src/ledger/records.ts';
import { hashPhone } from '../../src/ledger/privacy.ts';
import type { StoredEvent } from '../../src/pipeline/queues.ts';
import type { Outcome } from '../../src/sdk/lead.ts';

const PG_URL = process.env.TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

interface Dialect {
  name: 'sqlite' | 'postgres';
  open(): Promise<LedgerStore>;
  /** A second, independent connection to the same database (another process, as far as locks go). */
  driver(): SqlDriver;
  schema?: string;
  cleanup(): Promise<void>;
}

function sqliteDialect(): Dialect {
  const dir = mkdtempSync(join(tmpdir(), 'lg-ledger-'));
  const file = join(dir, 'ledger.sqlite');
  return {
    name: 'sqlite',
    open: () => openLedger(LedgerSchema.parse({ file }), {}),
    driver: () => openSqlite(file),
    async cleanup() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function postgresDialect(): Dialect {
  const schema = `lg_test_${randomBytes(5).toString('hex')}`;
  return {
    name: 'postgres',
    schema,
    open: () => openLedger(LedgerSchema.parse({ urlEnv: 'LG_TEST_LEDGER_URL', schema }), { LG_TEST_LEDGER_URL: PG_URL }),
    driver: () => openPostgres(PG_URL, { schema }),
    async cleanup() {
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await c.end();
    },
  };
}

const T0 = Date.parse('2026-11-20T10:00:00.000Z');

function storedEvent(sourceId: string, eventHash: string, eventId: string, receivedAt: number): StoredEvent {
  return { sourceId, connector: 'form', eventId, eventHash, raw: { method: 'POST', subPath: '', headers: {}, query: {}, bodyB64: '', receivedAt: new Date(receivedAt).toISOString() } };
}

const lead = (phone: string, email: string, campaign: string): Outcome => ({
  kind: 'lead',
  lead: {
    source: { channel: 'form', sourceId: 'site', name: 'Сайт' },
    externalId: 'x',
    contact: { phonesE164: [phone], phonesUnparsed: [], emails: [email] },
    title: 'Заявка',
    utm: { source: 'yandex', medium: 'cpc', campaign },
    tracking: {},
    fields: [],
    attachments: [],
    occurredAt: new Date(T0).toISOString(),
  },
});
const robot: Outcome = { kind: 'ignored', reason: { code: 'form:honeypot', detail: 'honeypot field "website" is filled by bot@spam.example' } };

describe.each([
  ['sqlite', sqliteDialect],
  ['postgres', postgresDialect],
] as const)('ledger repository on %s', (_name, make) => {
  const d = make();
  let store: LedgerStore;
  beforeAll(async () => {
    store = await d.open();
  });
  afterAll(async () => {
    await store?.close();
    await d.cleanup();
  });

  it(`${d.name}: migrations are recorded once; starting again, even from several processes at once, applies nothing`, async () => {
    const drivers = [d.driver(), d.driver(), d.driver()];
    try {
      const applied = await Promise.all(drivers.map((db) => migrate(db, d.schema ? { schema: d.schema } : {})));
      expect(applied).toEqual([[], [], []]);
      const rows = await store.db.all<{ version: number; name: string }>('SELECT version, name FROM ledger_migrations ORDER BY version');
      expect(rows.map((r) => [Number(r.version), r.name])).toEqual([[1, 'ledger']]);
    } finally {
      for (const db of drivers) await db.close();
    }
  });

  it(`${d.name}: a fresh database migrated by three processes at once gets each migration exactly once`, async () => {
    // A second, empty ledger next to the first: a schema of its own (PostgreSQL) or a file of its own (SQLite).
    const fresh = d.name === 'postgres' ? { schema: `${d.schema}_b` } : {};
    const dir = mkdtempSync(join(tmpdir(), 'lg-ledger-b-'));
    const drivers = d.name === 'postgres' ? [0, 1, 2].map(() => openPostgres(PG_URL, fresh)) : [0, 1, 2].map(() => openSqlite(join(dir, 'b.sqlite')));
    try {
      const applied = await Promise.all(drivers.map((db) => migrate(db, fresh)));
      expect(applied.flat()).toEqual([1]);
      expect(await drivers[0]!.all('SELECT version FROM ledger_migrations')).toHaveLength(1);
    } finally {
      for (const db of drivers) await db.close();
      if (d.name === 'postgres') await drivers[0]!.close().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
      if (fresh.schema) {
        const c = new pg.Client({ connectionString: PG_URL });
        await c.connect();
        await c.query(`DROP SCHEMA IF EXISTS "${fresh.schema}" CASCADE`);
        await c.end();
      }
    }
  });

  it(`${d.name}: writes land in any order, twice, and end the same: delivered wins over a late "queued"`, async () => {
    const ev = storedEvent('site', 'hashA', 'sub-1', T0);
    const rows = intakeRows({ ev, channel: 'form', outcomes: [lead('+79123456789', 'Ivan@Example.ru', 'brand'), robot], accountId: 'amo', normalisedAt: new Date(T0 + 200), hashKeySecret: store.hashKey });
    // The delivery is recorded before intake's write arrives (another worker process was faster).
    await store.repo.upsertOutcome({ delivery_key: 'site.hashA.0', status: 'delivered', delivered_at: T0 + 900, crm_lead_id: '501', crm_contact_id: '77', created_lead: 1, crm_url: 'https://amo.test/leads/detail/501' }, T0 + 900);
    for (let i = 0; i < 2; i++) {
      await store.repo.upsertEvent(rows.event, T0 + 1000);
      for (const r of rows.outcomes) await store.repo.upsertOutcome(r, T0 + 1000);
    }
    const outs = await store.repo.outcomesByEvent(['site.hashA']);
    expect(outs.map((o) => [o.delivery_key, o.status, o.kind])).toEqual([
      ['site.hashA.0', 'delivered', 'lead'],
      ['site.hashA.1', 'ignored', 'ignored'],
    ]);
    const o0 = outs[0]!;
    expect({ lead: o0.crm_lead_id, contact: o0.crm_contact_id, created: Number(o0.created_lead), received: Number(o0.received_at), delivered: Number(o0.delivered_at) }).toEqual({ lead: '501', contact: '77', created: 1, received: T0, delivered: T0 + 900 });
    expect({ src: o0.utm_source, medium: o0.utm_medium, campaign: o0.utm_campaign, phone: o0.phone_masked, email: o0.email_masked }).toEqual({ src: 'yandex', medium: 'cpc', campaign: 'brand', phone: '+7 *** ***-**-89', email: 'i***@example.ru' });
    // Nothing personal in clear: no raw phone or e-mail anywhere in the row; the robot's detail is masked.
    expect(JSON.stringify(outs)).not.toMatch(/9123456789|ivan@|bot@spam/i);
    expect(outs[1]!.reason_code).toBe('form:honeypot');
    expect(o0.phone_hash).toBe(hashPhone(store.hashKey, '+79123456789'));
  });

  it(`${d.name}: a failed delivery replayed and delivered loses its failure reason`, async () => {
    await store.repo.upsertOutcome({ delivery_key: 'site.hashF.0', status: 'failed', reason_code: 'delivery-failed', reason_detail: 'CRM rejected', received_at: T0 }, T0);
    let o = await store.repo.outcomeByKey('site.hashF.0');
    expect([o?.status, o?.reason_code]).toEqual(['failed', 'delivery-failed']);
    await store.repo.upsertOutcome({ delivery_key: 'site.hashF.0', status: 'delivered', delivered_at: T0 + 5000, crm_lead_id: '9' }, T0 + 5000);
    o = await store.repo.outcomeByKey('site.hashF.0');
    expect([o?.status, o?.reason_code, o?.reason_detail, o?.crm_lead_id]).toEqual(['delivered', null, null, '9']);
  });

  it(`${d.name}: finds an inquiry by phone hash, e-mail hash, sender id, event hash and delivery key`, async () => {
    const byPhone = await store.repo.outcomesByContact({ phoneHash: hashPhone(store.hashKey, '+79123456789') }, 10);
    expect(byPhone.map((o) => o.delivery_key)).toEqual(['site.hashA.0']);
    expect(await store.repo.outcomesByContact({ phoneHash: hashPhone(store.hashKey, '+79990000000') }, 10)).toEqual([]);
    for (const id of ['sub-1', 'hashA', 'site.hashA', 'site.hashA.1']) expect(await store.repo.eventKeysById(id)).toEqual(['site.hashA']);
    const ev = await store.repo.eventsByKey(['site.hashA']);
    expect(ev.map((e) => [e.status, Number(e.outcome_count), Number(e.received_at), Number(e.normalised_at)])).toEqual([['normalised', 2, T0, T0 + 200]]);
  });

  it(`${d.name}: responsible and first contact go to every row of a CRM lead; the first contact time is kept`, async () => {
    expect(await store.repo.setResponsible({ accountId: 'amo', leadId: '501' }, '8801')).toBe(1);
    expect(await store.repo.setFirstContact({ accountId: 'amo', leadId: '501' }, T0 + 60_000)).toBe(1);
    expect(await store.repo.setFirstContact({ accountId: 'amo', leadId: '501' }, T0 + 90_000)).toBe(0);
    const o = await store.repo.outcomeByKey('site.hashA.0');
    expect([o?.responsible_user_id, Number(o?.first_contact_at)]).toEqual(['8801', T0 + 60_000]);
  });

  it(`${d.name}: report rows flag a contact seen before, within the time range only`, async () => {
    const ev = storedEvent('site', 'hashB', 'sub-2', T0 + 3_600_000);
    const rows = intakeRows({ ev, channel: 'form', outcomes: [lead('+79123456789', 'other@example.ru', 'retarget')], accountId: 'amo', normalisedAt: new Date(T0 + 3_600_100), hashKeySecret: store.hashKey });
    await store.repo.upsertEvent(rows.event);
    for (const r of rows.outcomes) await store.repo.upsertOutcome(r);
    const all = await store.repo.reportRows(T0 - 1, T0 + 86_400_000);
    const byKey = (campaign: string | null, kind: string) => all.find((r) => r.utm_campaign === campaign && r.kind === kind);
    expect(byKey('brand', 'lead')?.seen_before).toBe(0);
    expect(byKey('retarget', 'lead')?.seen_before).toBe(1);
    expect((await store.repo.reportRows(T0 + 3_000_000, T0 + 86_400_000)).map((r) => r.utm_campaign)).toEqual(['retarget']);
  });

  it(`${d.name}: prune deletes rows received before the cut-off, events and outcomes`, async () => {
    const before = (await store.repo.reportRows(0, Number.MAX_SAFE_INTEGER)).length;
    const n = await store.repo.prune(T0 + 1);
    expect(n).toBeGreaterThan(0);
    const after = await store.repo.reportRows(0, Number.MAX_SAFE_INTEGER);
    expect(after.map((r) => r.utm_campaign)).toEqual(['retarget']);
    expect(before).toBeGreaterThan(after.length);
    expect(await store.repo.eventsByKey(['site.hashA'])).toEqual([]);
  });

  it(`${d.name}: the generated contact-hash key is stored once and read back by the next process`, async () => {
    const again = await d.open();
    try {
      expect(again.generatedHashKey).toBe(true);
      expect(again.hashKey).toBe(store.hashKey);
      expect(store.hashKey).toMatch(/^[0-9a-f]{64}$/);
    } finally {
      await again.close();
    }
  });
});
