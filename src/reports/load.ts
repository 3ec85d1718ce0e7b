import type { LedgerStore } from '../ledger/open.ts';
import { buildChannelReport, parseSince, type ChannelReport } from './channels.ts';

/** The channel report from `since` (`7d`, an ISO time…) until `now`, read from the ledger; buckets in `timeZone`. */
export async function loadChannelReport(store: LedgerStore, since: string, now = new Date(), timeZone = 'UTC'): Promise<ChannelReport> {
  const from = parseSince(since, now);
  const rows = await store.repo.reportRows(from.getTime(), now.getTime() + 1);
  return buildChannelReport(rows, { since: from, until: now, timeZone });
}
