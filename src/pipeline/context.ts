import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { RuntimeConfig } from '../config/load.ts';
import type { Keys } from '../infra/keys.ts';
import type { Mailer } from '../infra/mailer.ts';
import type { AccountRuntime } from './crm-runtime.ts';
import type { LedgerRecorder } from '../ledger/recorder.ts';
import type { AssignmentService } from '../assignment/service.ts';

/** What the worker processors share. Built once per worker process by src/pipeline/worker.ts. */
export interface WorkerContext {
  config: RuntimeConfig;
  redis: Redis;
  keys: Keys;
  log: Logger;
  deliverQueue: Queue;
  accounts: Map<string, AccountRuntime>;
  env: Readonly<Record<string, string | undefined>>;
  idempotencyTtlSec: number;
  /** Replies to senders (connectors with `respond`); absent → no replies (tests, tools). */
  respondQueue?: Queue;
  /** Auto-acknowledgements and admin alerts; absent when `mail:` is not configured. */
  mailer?: Mailer;
  /** Assignment rules per CRM account that has `crm[].assignment` (src/assignment). */
  assignment?: Map<string, AssignmentService>;
  /** Delayed follow-up checks of new leads (reassignment); absent when no account has rules. */
  reassignQueue?: Queue;
  /**
   * The lead ledger (src/ledger): every event, outcome and delivery, written in the background; absent when
   * `ledger.enabled` is false. Never throws, never makes a delivery wait.
   */
  ledger?: LedgerRecorder;
  /** Called for every outcome finished (tests, metrics, demo printing). */
  onDelivered?: (e: { deliveryKey: string; kind: string; accountId?: string; receipt?: unknown; reason?: string }) => void;
}
