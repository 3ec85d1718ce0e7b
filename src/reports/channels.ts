/**
 * The channel report, pure: ledger rows → counts and medians per channel, per source and per UTM campaign, plus a
 * time series per channel for the charts. What each figure means:
 * - `leads`: inquiries that are (or will be) a CRM card: every form/chat/mail lead outcome, and a later message or a
 *   call whose delivery opened a new lead (an unknown caller);
 * - `repeatInquiries`: of those, the ones from someone already known: the CRM put them on an open lead as a note,
 *   or the same phone/e-mail brought an earlier inquiry in the ledger;
 * - `ignoredRobots`: outcomes ignored by a channel (robot mail, honeypot, test pings…), by reason in `ignoredByReason`;
 * - `missedCalls`: distinct inbound calls nobody answered;
 * - `medianTimeToCardMs`: received at the gateway → written to the CRM, for leads delivered;
 * - `medianTimeToFirstContactMs`: received → the follow-up task completed, where the assignment rules recorded it.
 */
import { z } from 'zod';
import type { ReportRow } from '../ledger/repository.ts';
import { isTimeZone, localToIso } from '../domain/local-time.ts';

export interface Stats {
  leads: number;
  repeatInquiries: number;
  ignoredRobots: number;
  missedCalls: number;
  delivered: number;
  failed: number;
  medianTimeToCardMs: number | null;
  medianTimeToFirstContactMs: number | null;
}

export interface SeriesPoint {
  /** Start of the bucket, ISO UTC. */
  t: string;
  /** The bucket as the report's time zone reads it: `2026-11-20` (days) or `2026-11-20 14:00` (hours). */
  label: string;
  leads: number;
  repeatInquiries: number;
  ignoredRobots: number;
  missedCalls: number;
}

export interface ChannelReport {
  since: string;
  until: string;
  bucket: 'hour' | 'day';
  /** IANA time zone of the buckets (a day starts at local midnight). */
  timeZone: string;
  totals: Stats;
  ignoredByReason: Record<string, number>;
  channels: { channel: string; stats: Stats; series: SeriesPoint[] }[];
  sources: { channel: string; sourceId: string; sourceName: string; stats: Stats }[];
  campaigns: { utmSource: string; utmMedium: string; utmCampaign: string; stats: Stats }[];
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** `7d`, `24h`, `90m`, `2w` before `now`, or an ISO time. Throws naming the expected forms. */
export function parseSince(s: string, now: Date): Date {
  const m = /^(\d+)\s*(m|h|d|w)$/.exec(s.trim());
  if (m) {
    const unit = { m: 60_000, h: HOUR, d: DAY, w: 7 * DAY }[m[2] as 'm' | 'h' | 'd' | 'w'];
    return new Date(now.getTime() - Number(m[1]) * unit);
  }
  const t = Date.parse(s);
  if (/^\d{4}-\d{2}-\d{2}/.test(s.trim()) && Number.isFinite(t)) return new Date(t);
  throw new Error(`since: "${s}" is not a period; expected e.g. 7d, 24h, 90m, 2w or an ISO time like 2026-11-20T00:00:00Z`);
}

/** The query string of `GET /reports/channels` and the page. */
export const ReportQuerySchema = z.object({
  since: z.string().max(40).default('7d'),
  /** IANA time zone of the day/hour buckets, e.g. Europe/Moscow. @defaultValue UTC */
  tz: z.string().max(64).refine(isTimeZone, 'an IANA time zone like Europe/Moscow').default('UTC'),
});

interface Classified {
  row: ReportRow;
  lead: boolean;
  repeat: boolean;
  ignored: boolean;
}

function classify(row: ReportRow): Classified {
  const ignored = row.kind === 'ignored' || row.status === 'ignored';
  const lead = !ignored && (row.kind === 'lead' || row.created_lead === 1);
  const repeat = lead && (row.created_lead === 0 || row.seen_before === 1);
  return { row, lead, repeat, ignored };
}

function median(xs: number[]): number | null {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : Math.round((s[mid - 1]! + s[mid]!) / 2);
}

function stats(items: readonly Classified[]): Stats {
  const leads = items.filter((c) => c.lead);
  const missed = new Set(items.filter((c) => c.row.call_missed === 1 && c.row.call_key).map((c) => c.row.call_key));
  const toCard = leads.filter((c) => c.row.delivered_at != null && c.row.received_at != null).map((c) => Math.max(0, c.row.delivered_at! - c.row.received_at!));
  const toContact = leads.filter((c) => c.row.first_contact_at != null && c.row.received_at != null).map((c) => Math.max(0, c.row.first_contact_at! - c.row.received_at!));
  return {
    leads: leads.length,
    repeatInquiries: leads.filter((c) => c.repeat).length,
    ignoredRobots: items.filter((c) => c.ignored).length,
    missedCalls: missed.size,
    delivered: items.filter((c) => c.row.status === 'delivered' && !c.ignored && c.lead).length,
    failed: items.filter((c) => c.row.status === 'failed').length,
    medianTimeToCardMs: median(toCard),
    medianTimeToFirstContactMs: median(toContact),
  };
}

function groupBy<K>(items: readonly Classified[], key: (c: Classified) => K, id: (k: K) => string): Map<string, { key: K; items: Classified[] }> {
  const out = new Map<string, { key: K; items: Classified[] }>();
  for (const c of items) {
    const k = key(c);
    const g = out.get(id(k)) ?? { key: k, items: [] };
    g.items.push(c);
    out.set(id(k), g);
  }
  return out;
}

/** `YYYY-MM-DD HH:MM` of instant `t` in `timeZone`. */
function localStamp(t: number, timeZone: string): string {
  const f = new Intl.DateTimeFormat('en-CA', { timeZone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' });
  const p = Object.fromEntries(f.formatToParts(new Date(t)).map((x) => [x.type, x.value]));
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}`;
}

/**
 * Buckets from `since` to `until`: hours for two days or less, else days starting at local midnight in `timeZone`
 * (a DST day is 23 or 25 hours long); every bucket present, oldest first.
 */
function buckets(sinceMs: number, untilMs: number, timeZone: string): { bucket: 'hour' | 'day'; starts: { t: number; label: string }[] } {
  const bucket = untilMs - sinceMs <= 2 * DAY ? 'hour' : 'day';
  const starts: { t: number; label: string }[] = [];
  if (bucket === 'hour') {
    // Whole hours: every zone in use is offset by whole hours or by 30/45 minutes, so start from the local hour.
    const first = Date.parse(localToIso(`${localStamp(sinceMs, timeZone).slice(0, 13)}:00:00`, timeZone) ?? new Date(sinceMs).toISOString());
    for (let t = first; t < untilMs; t += HOUR) starts.push({ t, label: localStamp(t, timeZone) });
    return { bucket, starts };
  }
  let day = localStamp(sinceMs, timeZone).slice(0, 10);
  for (let i = 0; i < 3_700; i++) {
    const t = Date.parse(localToIso(`${day} 00:00:00`, timeZone)!);
    if (t >= untilMs) break;
    starts.push({ t, label: day });
    // The next local date: noon of this one plus a day never skips or repeats a date across DST.
    day = localStamp(Date.parse(localToIso(`${day} 12:00:00`, timeZone)!) + DAY, timeZone).slice(0, 10);
  }
  return { bucket, starts };
}

/** Index of the bucket holding `t` (the last start ≤ t), by binary search. */
function bucketOf(starts: readonly { t: number }[], t: number): number {
  let lo = 0;
  let hi = starts.length - 1;
  if (!starts.length || t < starts[0]!.t) return -1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid]!.t <= t) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

export function buildChannelReport(rows: readonly ReportRow[], range: { since: Date; until: Date; timeZone?: string }): ChannelReport {
  const items = rows.map(classify);
  const timeZone = range.timeZone ?? 'UTC';
  const { bucket, starts } = buckets(range.since.getTime(), range.until.getTime(), timeZone);
  const label = (s: string | null): string => s ?? '(none)';
  const byChannel = groupBy(items, (c) => label(c.row.channel), (k) => k);
  const channels = [...byChannel.values()]
    .map(({ key, items: its }) => {
      const perBucket = groupBy(its, (c) => bucketOf(starts, c.row.received_at ?? 0), String);
      return {
        channel: key,
        stats: stats(its),
        series: starts.map((b, i) => {
          const s = stats(perBucket.get(String(i))?.items ?? []);
          return { t: new Date(b.t).toISOString(), label: b.label, leads: s.leads, repeatInquiries: s.repeatInquiries, ignoredRobots: s.ignoredRobots, missedCalls: s.missedCalls };
        }),
      };
    })
    .sort((a, b) => b.stats.leads - a.stats.leads || a.channel.localeCompare(b.channel));
  const sources = [...groupBy(items, (c) => ({ channel: label(c.row.channel), sourceId: label(c.row.source_id), sourceName: c.row.source_name ?? label(c.row.source_id) }), (k) => `${k.channel}\u0000${k.sourceId}`).values()]
    .map(({ key, items: its }) => ({ ...key, stats: stats(its) }))
    .sort((a, b) => b.stats.leads - a.stats.leads || a.sourceId.localeCompare(b.sourceId));
  // Campaigns: inquiries only (a robot carries no campaign worth counting).
  const campaigns = [...groupBy(items.filter((c) => !c.ignored), (c) => ({ utmSource: label(c.row.utm_source), utmMedium: label(c.row.utm_medium), utmCampaign: label(c.row.utm_campaign) }), (k) => `${k.utmSource}\u0000${k.utmMedium}\u0000${k.utmCampaign}`).values()]
    .map(({ key, items: its }) => ({ ...key, stats: stats(its) }))
    .filter((c) => c.stats.leads > 0 || c.stats.missedCalls > 0)
    .sort((a, b) => b.stats.leads - a.stats.leads || a.utmCampaign.localeCompare(b.utmCampaign));
  const ignoredByReason: Record<string, number> = {};
  for (const c of items) if (c.ignored) ignoredByReason[c.row.reason_code ?? '(unknown)'] = (ignoredByReason[c.row.reason_code ?? '(unknown)'] ?? 0) + 1;
  return { since: range.since.toISOString(), until: range.until.toISOString(), bucket, timeZone, totals: stats(items), ignoredByReason, channels, sources, campaigns };
}

/** `1.2 s`, `3.5 min`, `2.1 h`, `—` for none. */
export function formatDuration(ms: number | null): string {
  if (ms === null) return '—';
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < HOUR) return `${(ms / 60_000).toFixed(1)} min`;
  return `${(ms / HOUR).toFixed(1)} h`;
}

/** The report as plain-text tables for the terminal. */
export function renderReportText(r: ChannelReport): string {
  const head = ['leads', 'repeat', 'robots', 'missed calls', 'to card', 'to contact'];
  const cells = (s: Stats) => [String(s.leads), String(s.repeatInquiries), String(s.ignoredRobots), String(s.missedCalls), formatDuration(s.medianTimeToCardMs), formatDuration(s.medianTimeToFirstContactMs)];
  const table = (title: string, keyHead: string[], rows: string[][]): string => {
    const all = [[...keyHead, ...head], ...rows];
    const widths = all[0]!.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
    const line = (r: string[]) => r.map((c, i) => (i < keyHead.length ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
    return [title, line(all[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...all.slice(1).map(line)].join('\n');
  };
  const out = [
    `Channel report ${r.since} → ${r.until}, per ${r.bucket} in ${r.timeZone} (medians: time to card, time to first contact)`,
    '',
    table('By channel', ['channel'], [...r.channels.map((c) => [c.channel, ...cells(c.stats)]), ['TOTAL', ...cells(r.totals)]]),
    '',
    table('By source', ['channel', 'source'], r.sources.map((s) => [s.channel, `${s.sourceId} (${s.sourceName})`, ...cells(s.stats)])),
    '',
    table('By UTM campaign', ['utm_source', 'utm_medium', 'utm_campaign'], r.campaigns.map((c) => [c.utmSource, c.utmMedium, c.utmCampaign, ...cells(c.stats)])),
  ];
  const reasons = Object.entries(r.ignoredByReason).sort((a, b) => b[1] - a[1]);
  if (reasons.length) out.push('', `Ignored by reason: ${reasons.map(([k, n]) => `${k} ${n}`).join(', ')}`);
  return out.join('\n') + '\n';
}
