/** What every step gets: the account's IO, a client, live facts and the delivery's journal. */
import type { AccountFacts, CrmIO, StepJournal } from '#sdk';
import type { AmoClient } from '../client.ts';
import type { AmoMeta } from '../fields.ts';
import type { AmoSettings } from '../settings.ts';

export interface StepCtx {
  io: CrmIO;
  s: AmoSettings;
  c: AmoClient;
  facts: AccountFacts;
  meta: AmoMeta;
  journal: StepJournal;
}

/** Leads and notes written by Leadgate carry this line so a crashed write can be found again. */
export function marker(key: string): string {
  return `Leadgate: ${key}`;
}

export const sec = (iso: string | Date): number => Math.floor((typeof iso === 'string' ? Date.parse(iso) : iso.getTime()) / 1000);

/**
 * amoCRM stamps `created_at` with its own clock: a write begun at `intentAt` may carry a slightly earlier time
 * when clocks differ. This much slack is allowed when looking a write up after a crash.
 */
export const CLOCK_SLACK_SEC = 60;
