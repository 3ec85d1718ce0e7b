/**
 * The ledger's reads and writes, the same SQL on SQLite and PostgreSQL. Writes are idempotent upserts by event key
 * and delivery key (BullMQ may run a job twice); which value wins per column is decided here:
 * - `status` (and its reason) by stage rank: a late "queued" never hides a "delivered";
 * - times of first occurrence (received, normalised, delivered, first contact) keep the first value written;
 * - every other column takes the latest value given, and a write that does not know a column leaves it alone.
 */
import type { SqlDriver } from './driver.ts';
import { STATUS_RANK, type EventRow, type OutcomeRow } from './records.ts';

const FIRST_WINS = new Set(['received_at', 'normalised_at', 'delivered_at', 'first_contact_at']);
const FOLLOWS_STATUS = new Set(['reason_code', 'reason_detail']);

export interface StoredOutcome extends Required<Pick<OutcomeRow, 'delivery_key' | 'status'>> {
  [column: string]: unknown;
}

/** One row of the channel report's input (src/reports/channels.ts aggregates them). */
export interface ReportRow {
  channel: string | null;
  source_id: string | null;
  source_name: string | null;
  utm_source: string | null;
  utm_medium: string | null;
  utm_campaign: string | null;
  kind: string | null;
  status: string;
  reason_code: string | null;
  created_lead: number | null;
  call_key: string | null;
  call_missed: number | null;
  received_at: number | null;
  delivered_at: number | null;
  first_contact_at: number | null;
  /** 1 when the same phone or e-mail brought an earlier inquiry (any channel). */
  seen_before: number;
}

export interface LedgerRepository {
  upsertEvent(row: EventRow, now?: number): Promise<void>;
  upsertOutcome(row: OutcomeRow, now?: number): Promise<void>;
  /** Sets the manager on every outcome of a CRM lead (or one delivery key). Returns rows changed. */
  setResponsible(q: { deliveryKey: string } | { accountId: string; leadId: string }, userId: string, now?: number): Promise<number>;
  /** The follow-up task was done: first contact. Only the first time counts. Returns rows changed. */
  setFirstContact(q: { accountId: string; leadId: string }, at: number, now?: number): Promise<number>;
  eventsByKey(keys: readonly string[]): Promise<Record<string, unknown>[]>;
  /** Events whose sender id, event hash or event key equals `id`, or that own the delivery key `id`. */
  eventKeysById(id: string): Promise<string[]>;
  outcomesByEvent(eventKeys: readonly string[]): Promise<StoredOutcome[]>;
  outcomesByContact(q: { phoneHash?: string; emailHash?: string }, limit: number): Promise<StoredOutcome[]>;
  outcomeByKey(deliveryKey: string): Promise<StoredOutcome | undefined>;
  reportRows(sinceMs: number, untilMs: number): Promise<ReportRow[]>;
  /** Deletes events and outcomes received before `beforeMs`. Returns rows deleted. */
  prune(beforeMs: number): Promise<number>;
  getMeta(key: string): Promise<string | undefined>;
  /** Sets `key` unless it is set; returns the value stored (first writer wins across processes). */
  initMeta(key: string, value: string): Promise<string>;
}

export function createRepository(db: SqlDriver): LedgerRepository {
  return {
    async upsertEvent(row, now = Date.now()) {
      await db.run(
        `INSERT INTO ledger_events (event_key, source_id, channel, event_id, event_hash, status, error, outcome_count, received_at, normalised_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (event_key) DO UPDATE SET
           status = excluded.status,
           error = excluded.error,
           outcome_count = COALESCE(excluded.outcome_count, ledger_events.outcome_count),
           normalised_at = COALESCE(ledger_events.normalised_at, excluded.normalised_at),
           updated_at = excluded.updated_at`,
        [row.event_key, row.source_id, row.channel, row.event_id, row.event_hash, row.status, row.error ?? null, row.outcome_count ?? null, row.received_at, row.normalised_at ?? null, now],
      );
    },

    async upsertOutcome(row, now = Date.now()) {
      const entries = Object.entries(row).filter(([k, v]) => v !== undefined && k !== 'status');
      const cols = ['status', 'status_rank', ...entries.map(([k]) => k), 'updated_at'];
      const values = [row.status, STATUS_RANK[row.status], ...entries.map(([, v]) => v), now];
      const t = 'ledger_outcomes';
      const wins = `excluded.status_rank >= ${t}.status_rank`;
      const sets = [
        `status = CASE WHEN ${wins} THEN excluded.status ELSE ${t}.status END`,
        `status_rank = CASE WHEN ${wins} THEN excluded.status_rank ELSE ${t}.status_rank END`,
        ...entries
          .map(([k]) => k)
          .filter((k) => k !== 'delivery_key')
          .map((k) =>
            FIRST_WINS.has(k)
              ? `${k} = COALESCE(${t}.${k}, excluded.${k})`
              : FOLLOWS_STATUS.has(k)
                ? `${k} = CASE WHEN ${wins} THEN excluded.${k} ELSE ${t}.${k} END`
                : `${k} = COALESCE(excluded.${k}, ${t}.${k})`,
          ),
        // A stage that outranks one with a reason (failed → delivered after a replay) clears the stale reason.
        ...['reason_code', 'reason_detail'].filter((k) => !entries.some(([c]) => c === k)).map((k) => `${k} = CASE WHEN excluded.status_rank > ${t}.status_rank THEN NULL ELSE ${t}.${k} END`),
        'updated_at = excluded.updated_at',
      ];
      await db.run(`INSERT INTO ${t} (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')}) ON CONFLICT (delivery_key) DO UPDATE SET ${sets.join(', ')}`, values);
    },

    async setResponsible(q, userId, now = Date.now()) {
      if ('deliveryKey' in q) return db.run('UPDATE ledger_outcomes SET responsible_user_id = ?, updated_at = ? WHERE delivery_key = ?', [userId, now, q.deliveryKey]);
      return db.run('UPDATE ledger_outcomes SET responsible_user_id = ?, updated_at = ? WHERE account_id = ? AND crm_lead_id = ?', [userId, now, q.accountId, q.leadId]);
    },

    async setFirstContact(q, at, now = Date.now()) {
      return db.run('UPDATE ledger_outcomes SET first_contact_at = ?, updated_at = ? WHERE account_id = ? AND crm_lead_id = ? AND first_contact_at IS NULL', [at, now, q.accountId, q.leadId]);
    },

    async eventsByKey(keys) {
      if (!keys.length) return [];
      return db.all(`SELECT * FROM ledger_events WHERE event_key IN (${keys.map(() => '?').join(', ')}) ORDER BY received_at DESC`, keys);
    },

    async eventKeysById(id) {
      const rows = await db.all<{ event_key: string }>(
        `SELECT event_key FROM ledger_events WHERE event_id = ? OR event_hash = ? OR event_key = ?
         UNION SELECT event_key FROM ledger_outcomes WHERE delivery_key = ? AND event_key IS NOT NULL`,
        [id, id, id, id],
      );
      return rows.map((r) => r.event_key);
    },

    async outcomesByEvent(eventKeys) {
      if (!eventKeys.length) return [];
      return db.all<StoredOutcome>(`SELECT * FROM ledger_outcomes WHERE event_key IN (${eventKeys.map(() => '?').join(', ')}) ORDER BY received_at, outcome_index`, eventKeys);
    },

    async outcomesByContact(q, limit) {
      const where: string[] = [];
      const params: unknown[] = [];
      if (q.phoneHash) {
        where.push('phone_hash = ?');
        params.push(q.phoneHash);
      }
      if (q.emailHash) {
        where.push('email_hash = ?');
        params.push(q.emailHash);
      }
      if (!where.length) return [];
      return db.all<StoredOutcome>(`SELECT * FROM ledger_outcomes WHERE ${where.join(' OR ')} ORDER BY received_at DESC LIMIT ${Math.max(1, Math.floor(limit))}`, params);
    },

    async outcomeByKey(deliveryKey) {
      return (await db.all<StoredOutcome>('SELECT * FROM ledger_outcomes WHERE delivery_key = ?', [deliveryKey]))[0];
    },

    async reportRows(sinceMs, untilMs) {
      // "Seen before": an earlier inquiry (not the same call's other events) from the same phone or e-mail.
      const prior = (col: string) =>
        `(o.${col} IS NOT NULL AND EXISTS (SELECT 1 FROM ledger_outcomes p WHERE p.${col} = o.${col} AND p.kind IN ('lead', 'message', 'call') AND p.received_at < o.received_at AND COALESCE(p.call_key, '') <> COALESCE(o.call_key, '-')))`;
      const rows = await db.all<ReportRow & { seen_before: unknown }>(
        `SELECT o.channel, o.source_id, o.source_name, o.utm_source, o.utm_medium, o.utm_campaign, o.kind, o.status, o.reason_code, o.created_lead,
                o.call_key, o.call_missed, o.received_at, o.delivered_at, o.first_contact_at,
                CASE WHEN ${prior('phone_hash')} OR ${prior('email_hash')} THEN 1 ELSE 0 END AS seen_before
         FROM ledger_outcomes o WHERE o.received_at >= ? AND o.received_at < ? ORDER BY o.received_at`,
        [sinceMs, untilMs],
      );
      return rows.map((r) => ({ ...r, seen_before: Number(r.seen_before) }));
    },

    async prune(beforeMs) {
      const a = await db.run('DELETE FROM ledger_outcomes WHERE received_at < ?', [beforeMs]);
      const b = await db.run('DELETE FROM ledger_events WHERE received_at < ?', [beforeMs]);
      return a + b;
    },

    async getMeta(key) {
      return (await db.all<{ meta_value: string }>('SELECT meta_value FROM ledger_meta WHERE meta_key = ?', [key]))[0]?.meta_value;
    },

    async initMeta(key, value) {
      await db.run('INSERT INTO ledger_meta (meta_key, meta_value) VALUES (?, ?) ON CONFLICT (meta_key) DO NOTHING', [key, value]);
      return (await this.getMeta(key))!;
    },
  };
}
