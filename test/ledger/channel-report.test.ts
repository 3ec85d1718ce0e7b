/** The channel report's arithmetic (pure): what counts as a lead, a repeat, a robot, a missed call; medians; buckets. */
import { describe, expect, it } from 'vitest';
import { buildChannelReport, formatDuration, parseSince, renderReportText } from '../../src/reports/channels.ts';
import { escapeHtml, renderChart } from '../../src/reports/page.ts';
import type { ReportRow } from '../../src/ledger/repository.ts';

const T = Date.parse('2026-11-20T00:00:00Z');
const H = 3_600_000;

function row(p: Partial<ReportRow>): ReportRow {
  return {
    channel: 'form',
    source_id: 'site',
    source_name: 'Сайт',
    utm_source: null,
    utm_medium: null,
    utm_campaign: null,
    kind: 'lead',
    status: 'delivered',
    reason_code: null,
    created_lead: 1,
    call_key: null,
    call_missed: null,
    received_at: T,
    delivered_at: null,
    first_contact_at: null,
    seen_before: 0,
    ...p,
  };
}

describe('parseSince', () => {
  const now = new Date('2026-11-23T12:00:00Z');
  it.each([
    ['7d', '2026-11-16T12:00:00.000Z'],
    ['24h', '2026-11-22T12:00:00.000Z'],
    ['90m', '2026-11-23T10:30:00.000Z'],
    ['2w', '2026-11-09T12:00:00.000Z'],
    ['2026-11-20T00:00:00Z', '2026-11-20T00:00:00.000Z'],
  ])('%s → %s', (s, iso) => expect(parseSince(s, now).toISOString()).toBe(iso));
  it.each(['yesterday', '7', 'd7', '-1d', ''])('rejects %j naming the forms it takes', (s) => expect(() => parseSince(s, now)).toThrow(/since: .* expected e\.g\. 7d, 24h/));
});

describe('buildChannelReport', () => {
  const range = { since: new Date(T), until: new Date(T + 24 * H) };

  it('counts leads, repeats (note on an open lead, or a contact seen before), robots and distinct missed calls', () => {
    const r = buildChannelReport(
      [
        row({ delivered_at: T + 1000 }),
        row({ received_at: T + H, created_lead: 0, delivered_at: T + H + 3000 }), // note on an open lead
        row({ received_at: T + 2 * H, seen_before: 1, status: 'queued' }), // not in the CRM yet, known number
        row({ kind: 'ignored', status: 'ignored', created_lead: null, reason_code: 'form:honeypot' }),
        row({ kind: 'ignored', status: 'ignored', created_lead: null, reason_code: 'form:empty' }),
        row({ kind: 'message', created_lead: 0 }), // a chat's next message: neither a lead nor a repeat
        // One missed call, three events; its final delivery opened a lead.
        row({ channel: 'mango', kind: 'call', call_key: 'c1', created_lead: null, status: 'skipped' }),
        row({ channel: 'mango', kind: 'call', call_key: 'c1', created_lead: 1, call_missed: 1, delivered_at: T + 5000 }),
        row({ channel: 'mango', kind: 'call', call_key: 'c1', created_lead: 1, call_missed: 1 }),
        row({ channel: 'mango', kind: 'call', call_key: 'c2', created_lead: 0, call_missed: 0 }), // answered, known caller
      ],
      range,
    );
    const form = r.channels.find((c) => c.channel === 'form')!.stats;
    expect(form).toEqual({ leads: 3, repeatInquiries: 2, ignoredRobots: 2, missedCalls: 0, delivered: 2, failed: 0, medianTimeToCardMs: 2000, medianTimeToFirstContactMs: null });
    const mango = r.channels.find((c) => c.channel === 'mango')!.stats;
    expect([mango.leads, mango.missedCalls, mango.repeatInquiries]).toEqual([2, 1, 0]);
    expect(r.ignoredByReason).toEqual({ 'form:honeypot': 1, 'form:empty': 1 });
    expect(r.totals.leads).toBe(5);
  });

  it('medians: odd count takes the middle, even the mean of the two middles; first contact where recorded', () => {
    const r = buildChannelReport(
      [
        row({ delivered_at: T + 1000, first_contact_at: T + 60_000 }),
        row({ delivered_at: T + 5000, first_contact_at: T + 180_000 }),
        row({ delivered_at: T + 2000 }),
      ],
      range,
    );
    expect([r.totals.medianTimeToCardMs, r.totals.medianTimeToFirstContactMs]).toEqual([2000, 120_000]);
  });

  it('series: hourly for two days or less, daily beyond; every bucket present, each row in its own', () => {
    const rows = [row({ received_at: T + 30 * 60_000 }), row({ received_at: T + 5 * H }), row({ received_at: T + 5 * H + 1 })];
    const hourly = buildChannelReport(rows, range);
    expect(hourly.bucket).toBe('hour');
    const s = hourly.channels[0]!.series;
    expect(s).toHaveLength(24);
    expect(s.filter((p) => p.leads).map((p) => [p.t, p.leads])).toEqual([
      ['2026-11-20T00:00:00.000Z', 1],
      ['2026-11-20T05:00:00.000Z', 2],
    ]);
    const daily = buildChannelReport(rows, { since: new Date(T - 6 * 24 * H), until: new Date(T + 12 * H) });
    expect(daily.bucket).toBe('day');
    expect(daily.channels[0]!.series.map((p) => p.leads)).toEqual([0, 0, 0, 0, 0, 0, 3]);
  });

  it('days start at local midnight in the report\'s time zone, DST days included', () => {
    // 22:30 UTC on the 20th is 01:30 on the 21st in Moscow (UTC+3).
    const late = [row({ received_at: Date.parse('2026-11-20T22:30:00Z') })];
    const span = { since: new Date('2026-11-17T12:00:00Z'), until: new Date('2026-11-21T12:00:00Z') };
    const utc = buildChannelReport(late, span).channels[0]!.series.filter((p) => p.leads);
    const msk = buildChannelReport(late, { ...span, timeZone: 'Europe/Moscow' }).channels[0]!.series.filter((p) => p.leads);
    expect(utc.map((p) => [p.label, p.t])).toEqual([['2026-11-20', '2026-11-20T00:00:00.000Z']]);
    expect(msk.map((p) => [p.label, p.t])).toEqual([['2026-11-21', '2026-11-20T21:00:00.000Z']]);
    // Berlin leaves summer time on 25 October 2026: that day is 25 hours long, and no date is skipped or repeated.
    const berlin = buildChannelReport([], { since: new Date('2026-10-23T12:00:00Z'), until: new Date('2026-10-28T12:00:00Z'), timeZone: 'Europe/Berlin' });
    const days = berlin.channels.length ? berlin.channels[0]!.series : [];
    expect(days).toEqual([]); // no rows, no channel
    const one = buildChannelReport([row({ received_at: Date.parse('2026-10-25T23:30:00Z') })], { since: new Date('2026-10-23T12:00:00Z'), until: new Date('2026-10-28T12:00:00Z'), timeZone: 'Europe/Berlin' });
    const series = one.channels[0]!.series;
    expect(series.map((p) => p.label)).toEqual(['2026-10-23', '2026-10-24', '2026-10-25', '2026-10-26', '2026-10-27', '2026-10-28']);
    expect(Date.parse(series[3]!.t) - Date.parse(series[2]!.t)).toBe(25 * H);
    expect(series.find((p) => p.leads)?.label).toBe('2026-10-26'); // 00:30 local on the 26th
  });

  it('groups by source and by UTM campaign; robots carry no campaign', () => {
    const r = buildChannelReport(
      [
        row({ utm_source: 'yandex', utm_medium: 'cpc', utm_campaign: 'brand' }),
        row({ utm_source: 'yandex', utm_medium: 'cpc', utm_campaign: 'brand', source_id: 'landing', source_name: 'Лендинг' }),
        row({ utm_source: 'google', utm_medium: 'cpc', utm_campaign: 'generic' }),
        row({ kind: 'ignored', status: 'ignored', utm_campaign: 'brand' }),
      ],
      range,
    );
    expect(r.campaigns.map((c) => [c.utmSource, c.utmCampaign, c.stats.leads])).toEqual([
      ['yandex', 'brand', 2],
      ['google', 'generic', 1],
    ]);
    expect(r.sources.map((s) => [s.sourceId, s.sourceName, s.stats.leads, s.stats.ignoredRobots])).toEqual([
      ['site', 'Сайт', 2, 1],
      ['landing', 'Лендинг', 1, 0],
    ]);
    const text = renderReportText(r);
    expect(text).toMatch(/^form\s+3\s+0\s+1\s+0\s+—\s+—$/m);
    expect(text).toMatch(/^yandex\s+cpc\s+brand\s+2/m);
  });
});

describe('rendering', () => {
  it('formats durations for people', () => {
    expect([formatDuration(null), formatDuration(1234), formatDuration(150_000), formatDuration(2.5 * H)]).toEqual(['—', '1.2 s', '2.5 min', '2.5 h']);
  });
  it('escapes what a visitor wrote', () => {
    expect(escapeHtml(`<img src=x onerror="a('b')">&`)).toBe('&lt;img src=x onerror=&quot;a(&#39;b&#39;)&quot;&gt;&amp;');
  });
  it('a chart scales bars to the largest value of any series', () => {
    const svg = renderChart('form', [{ t: '2026-11-20T00:00:00.000Z', label: '2026-11-20', leads: 4, repeatInquiries: 1, ignoredRobots: 0, missedCalls: 2 }], 'day');
    const height = (series: string) => Number(new RegExp(`data-series="${series}"[^>]*height="([\\d.]+)"`).exec(svg)![1]);
    expect(height('leads') / height('repeatInquiries')).toBeCloseTo(4);
    expect(height('missedCalls') / height('leads')).toBeCloseTo(0.5);
    expect(height('ignoredRobots')).toBe(0);
  });
});
