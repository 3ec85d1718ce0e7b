/**
 * What the workers call to write the ledger. Never throws and never makes a delivery wait: each write is started
 * in the background, bounded by `ledger.writeTimeoutMs`; a failure is logged (masked) and counted in
 * `leadgate_ledger_errors_total`, and the delivery goes on. A ledger that cannot be opened is tried again at most
 * every 30 s. `flush()` waits for the writes in flight (tests, shutdown).
 */
import type { Logger } from 'pino';
import { withTimeout } from '../sdk/timeout.ts';
import type { Outcome } from '../sdk/lead.ts';
import type { DeliverJob, StoredEvent } from '../pipeline/queues.ts';
import { intakeRows, receiptFacts, rejectedEventRow, outcomeFacts, type OutcomeRow } from './records.ts';
import type { LedgerStore } from './open.ts';
import { createRepository } from './repository.ts';
import { contactKeys } from './privacy.ts';
import { maskText } from '../infra/logger.ts';

export interface LedgerRecorder {
  /** A stored event was normalised: the event row and one row per outcome (ignored, queued or logged). */
  intake(o: { ev: StoredEvent; channel: string; outcomes: readonly Outcome[]; accountId: string | undefined; at?: Date }): void;
  /** A stored event could not be normalised. */
  rejected(o: { ev: StoredEvent; channel: string; reason: string; at?: Date }): void;
  /** A delivery job finished: in the CRM (receipt), or skipped (call not final yet). */
  delivered(o: { job: DeliverJob; channel: string | undefined; result: unknown; at?: Date }): void;
  /** A delivery failed for good (in the failed set, `leadgate jobs failed`). */
  failed(o: { job: DeliverJob; channel: string | undefined; reason: string; at?: Date }): void;
  /** A call is final: whether it was a missed inbound call (one per call, whichever event finished it). */
  callFinal(o: { job: DeliverJob; channel: string | undefined; missed: boolean; clientPhoneE164?: string | undefined }): void;
  /** For the assignment rules: the manager given a lead (by delivery key, or every row of a CRM lead). */
  responsible(q: { deliveryKey: string } | { accountId: string; leadId: string }, userId: string): void;
  /** For the assignment rules: the lead's follow-up task was completed at `at` (first contact). */
  firstContact(q: { accountId: string; leadId: string }, at: Date): void;
  /** Waits for every write started so far. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

export interface RecorderOptions {
  open: () => Promise<LedgerStore>;
  log: Logger;
  writeTimeoutMs: number;
  /** Counts a failed write (metrics `leadgate_ledger_errors_total{op}`). */
  onError?: (op: string) => void;
  /** Deletes rows older than this many days, once at open and then daily. */
  retentionDays?: number;
  now?: () => number;
}

const REOPEN_AFTER_MS = 30_000;
const DAY_MS = 86_400_000;

export function createLedgerRecorder(o: RecorderOptions): LedgerRecorder {
  const now = o.now ?? Date.now;
  const pending = new Set<Promise<void>>();
  let store: Promise<LedgerStore> | undefined;
  let failedAt = 0;
  let pruneTimer: NodeJS.Timeout | undefined;
  let closed = false;

  const getStore = (): Promise<LedgerStore> => {
    if (store) return store;
    if (failedAt && now() - failedAt < REOPEN_AFTER_MS) return Promise.reject(new Error('ledger unavailable (opening failed recently; retried every 30 s)'));
    store = o.open().then(
      (s) => {
        o.log.info({ ledger: s.where }, 'lead ledger open');
        if (s.generatedHashKey) o.log.info('ledger: contact hashes use a key kept in the ledger itself; set ledger.hashKeyEnv to keep the key apart from the data');
        if (o.retentionDays) schedulePrune(s, o.retentionDays);
        return s;
      },
      (err: unknown) => {
        store = undefined;
        failedAt = now();
        throw err;
      },
    );
    return store;
  };

  function schedulePrune(s: LedgerStore, days: number): void {
    const prune = () =>
      track('prune', async (st) => {
        const n = await st.repo.prune(now() - days * DAY_MS);
        if (n) o.log.info({ rows: n, olderThanDays: days }, 'ledger: old rows deleted');
      }, s);
    prune();
    pruneTimer = setInterval(prune, DAY_MS);
    pruneTimer.unref();
  }

  /** Starts one write in the background; its failure is logged and counted, never thrown. */
  function track(op: string, write: (s: LedgerStore) => Promise<void>, given?: LedgerStore): void {
    if (closed) return;
    const p = withTimeout((given ? Promise.resolve(given) : getStore()).then(write), o.writeTimeoutMs, `ledger ${op}`)
      .catch((err: unknown) => {
        o.onError?.(op);
        // The logger masks phones and e-mails; the message of a driver error never carries a secret (no URL).
        o.log.warn({ op, err: (err as Error).message }, 'ledger write failed: the delivery goes on without it');
      })
      .finally(() => pending.delete(p));
    pending.add(p);
  }

  const upsert = (s: LedgerStore, row: OutcomeRow): Promise<void> => s.repo.upsertOutcome(row, now());
  /** Follow-up recording checks (`rec.…`) are not inquiries: they only re-write a call already counted. */
  const isFollowUpJob = (key: string): boolean => key.startsWith('rec.');
  const jobFacts = (s: LedgerStore, job: DeliverJob, channel: string | undefined): Omit<OutcomeRow, 'status'> => ({
    delivery_key: job.deliveryKey,
    source_id: job.sourceId,
    ...(channel ? { channel } : {}),
    account_id: job.accountId,
    received_at: Date.parse(job.receivedAt),
    ...outcomeFacts(job.outcome, s.hashKey),
  });

  return {
    intake(e) {
      track('intake', async (s) => {
        const rows = intakeRows({ ev: e.ev, channel: e.channel, outcomes: e.outcomes, accountId: e.accountId, normalisedAt: e.at ?? new Date(now()), hashKeySecret: s.hashKey });
        await s.db.transaction(async (db) => {
          const repo = createRepository(db);
          await repo.upsertEvent(rows.event, now());
          for (const r of rows.outcomes) await repo.upsertOutcome(r, now());
        });
      });
    },
    rejected(e) {
      track('rejected', (s) => s.repo.upsertEvent(rejectedEventRow(e.ev, e.channel, e.reason, e.at ?? new Date(now())), now()));
    },
    delivered(e) {
      if (isFollowUpJob(e.job.deliveryKey)) return;
      const skipped = typeof e.result === 'object' && e.result !== null && 'skipped' in e.result;
      track('delivered', (s) =>
        upsert(s, {
          ...jobFacts(s, e.job, e.channel),
          status: skipped ? 'skipped' : 'delivered',
          ...(skipped ? {} : { delivered_at: (e.at ?? new Date(now())).getTime(), ...receiptFacts(e.result) }),
        }),
      );
    },
    failed(e) {
      if (isFollowUpJob(e.job.deliveryKey)) return;
      track('failed', async (s) => {
        await upsert(s, { ...jobFacts(s, e.job, e.channel), status: 'failed', reason_code: 'delivery-failed', reason_detail: maskText(e.reason).slice(0, 300) });
      });
    },
    callFinal(e) {
      if (isFollowUpJob(e.job.deliveryKey)) return;
      track('call', async (s) => {
        const k = e.clientPhoneE164 ? contactKeys(s.hashKey, { phonesE164: [e.clientPhoneE164], emails: [] }) : {};
        await upsert(s, {
          ...jobFacts(s, e.job, e.channel),
          status: 'queued',
          call_missed: e.missed ? 1 : 0,
          ...(k.phoneHash ? { phone_hash: k.phoneHash, phone_masked: k.phoneMasked! } : {}),
        });
      });
    },
    responsible(q, userId) {
      track('responsible', async (s) => {
        await s.repo.setResponsible(q, userId, now());
      });
    },
    firstContact(q, at) {
      track('first-contact', async (s) => {
        await s.repo.setFirstContact(q, at.getTime(), now());
      });
    },
    async flush() {
      while (pending.size) await Promise.allSettled([...pending]);
    },
    async close() {
      await this.flush();
      closed = true;
      if (pruneTimer) clearInterval(pruneTimer);
      const s = await store?.catch(() => undefined);
      await s?.close().catch(() => undefined);
    },
  };
}
