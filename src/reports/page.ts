/**
 * The `/reports` page: the channel report as one self-contained HTML document, charts drawn as inline SVG on the
 * server (the hub's machine may have no internet: no CDN, no script). Every value that came from a sender (source
 * names, UTM values) is escaped: a UTM campaign is whatever a visitor put in a URL.
 */
import { formatDuration, type ChannelReport, type SeriesPoint, type Stats } from './channels.ts';

const SERIES: { key: keyof Omit<SeriesPoint, 't' | 'label'>; label: string; color: string }[] = [
  { key: 'leads', label: 'leads', color: '#2563eb' },
  { key: 'repeatInquiries', label: 'repeat inquiries', color: '#f59e0b' },
  { key: 'ignoredRobots', label: 'ignored robots', color: '#9ca3af' },
  { key: 'missedCalls', label: 'missed calls', color: '#dc2626' },
];

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const W = 720;
const H = 200;
const PAD = { left: 36, right: 8, top: 10, bottom: 28 };

/** One channel's chart: for each time bucket, one bar per series; a bar's height is its value on a shared scale. */
export function renderChart(channel: string, series: readonly SeriesPoint[], bucket: 'hour' | 'day'): string {
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const max = Math.max(1, ...series.flatMap((p) => SERIES.map((s) => p[s.key])));
  const step = series.length ? plotW / series.length : plotW;
  const barW = Math.max(1, (step * 0.8) / SERIES.length);
  const y = (v: number) => PAD.top + plotH - (v / max) * plotH;
  const when = (p: SeriesPoint) => (bucket === 'hour' ? p.label.slice(5) : p.label);
  const bars = series.flatMap((p, i) =>
    SERIES.map((s, j) => {
      const v = p[s.key];
      const x = PAD.left + i * step + step * 0.1 + j * barW;
      const h = (v / max) * plotH;
      return `<rect class="bar" data-series="${s.key}" data-t="${p.t}" data-value="${v}" x="${x.toFixed(1)}" y="${y(v).toFixed(1)}" width="${barW.toFixed(1)}" height="${h.toFixed(1)}" fill="${s.color}"><title>${escapeHtml(when(p))}: ${v} ${s.label}</title></rect>`;
    }),
  );
  const labelEvery = Math.max(1, Math.ceil(series.length / 8));
  const xLabels = series
    .map((p, i) => (i % labelEvery === 0 ? `<text x="${(PAD.left + i * step + step / 2).toFixed(1)}" y="${H - 8}" text-anchor="middle" font-size="10" fill="#555">${escapeHtml(when(p))}</text>` : ''))
    .join('');
  return [
    `<svg class="chart" role="img" aria-label="${escapeHtml(channel)} per ${bucket}" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" xmlns="http://www.w3.org/2000/svg">`,
    `<line x1="${PAD.left}" y1="${PAD.top + plotH}" x2="${W - PAD.right}" y2="${PAD.top + plotH}" stroke="#999"/>`,
    `<text class="y-max" x="${PAD.left - 4}" y="${PAD.top + 8}" text-anchor="end" font-size="10" fill="#555">${max}</text>`,
    `<text x="${PAD.left - 4}" y="${PAD.top + plotH}" text-anchor="end" font-size="10" fill="#555">0</text>`,
    ...bars,
    xLabels,
    '</svg>',
  ].join('');
}

const cells = (s: Stats): string =>
  [s.leads, s.repeatInquiries, s.ignoredRobots, s.missedCalls].map((n) => `<td>${n}</td>`).join('') + `<td>${formatDuration(s.medianTimeToCardMs)}</td><td>${formatDuration(s.medianTimeToFirstContactMs)}</td>`;
const HEAD = '<th>leads</th><th>repeat</th><th>robots</th><th>missed calls</th><th>median to card</th><th>median to first contact</th>';

export function renderReportPage(r: ChannelReport, o: { sinceParam: string; tzParam?: string }): string {
  const legend = SERIES.map((s) => `<span class="key"><i style="background:${s.color}"></i>${s.label}</span>`).join(' ');
  const figures = r.channels
    .map(
      (c) => `<figure class="channel" data-channel="${escapeHtml(c.channel)}" data-leads="${c.stats.leads}" data-repeat="${c.stats.repeatInquiries}" data-robots="${c.stats.ignoredRobots}" data-missed="${c.stats.missedCalls}">
<figcaption><b>${escapeHtml(c.channel)}</b>: <span class="n-leads">${c.stats.leads}</span> leads, <span class="n-repeat">${c.stats.repeatInquiries}</span> repeat, <span class="n-robots">${c.stats.ignoredRobots}</span> robots, <span class="n-missed">${c.stats.missedCalls}</span> missed calls; median to card ${formatDuration(c.stats.medianTimeToCardMs)}, to first contact ${formatDuration(c.stats.medianTimeToFirstContactMs)}</figcaption>
${renderChart(c.channel, c.series, r.bucket)}
</figure>`,
    )
    .join('\n');
  const periods = ['24h', '7d', '30d', '90d'].map((p) => `<option value="${p}"${p === o.sinceParam ? ' selected' : ''}>${p}</option>`).join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Leadgate — channels</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#111}
table{border-collapse:collapse;margin:8px 0 24px}th,td{border:1px solid #ddd;padding:4px 8px;text-align:right}th:first-child,td:first-child,td.k{text-align:left}
figure{margin:0 0 24px}figcaption{margin-bottom:4px}.key{margin-right:12px}.key i{display:inline-block;width:10px;height:10px;margin-right:4px}
</style></head><body>
<h1>Channels</h1>
<form method="get" action="/reports">Period <select name="since">${periods}</select> <input type="hidden" name="tz" value="${escapeHtml(r.timeZone)}"> <button>Show</button>
<span>${escapeHtml(r.since.slice(0, 16).replace('T', ' '))} → ${escapeHtml(r.until.slice(0, 16).replace('T', ' '))} UTC, per ${r.bucket} (${escapeHtml(r.timeZone)}) · <a href="/reports/channels?since=${encodeURIComponent(o.sinceParam)}&amp;tz=${encodeURIComponent(r.timeZone)}">JSON</a></span></form>
<p>${legend}</p>
${figures || '<p class="empty">No inquiries in this period.</p>'}
<h2>By channel</h2>
<table class="by-channel"><tr><th>channel</th>${HEAD}</tr>${r.channels.map((c) => `<tr><td class="k">${escapeHtml(c.channel)}</td>${cells(c.stats)}</tr>`).join('')}<tr><td class="k"><b>total</b></td>${cells(r.totals)}</tr></table>
<h2>By source</h2>
<table class="by-source"><tr><th>channel</th><th>source</th>${HEAD}</tr>${r.sources.map((s) => `<tr><td class="k">${escapeHtml(s.channel)}</td><td class="k">${escapeHtml(s.sourceName)} (${escapeHtml(s.sourceId)})</td>${cells(s.stats)}</tr>`).join('')}</table>
<h2>By UTM campaign</h2>
<table class="by-campaign"><tr><th>utm_source</th><th>utm_medium</th><th>utm_campaign</th>${HEAD}</tr>${r.campaigns.map((c) => `<tr><td class="k">${escapeHtml(c.utmSource)}</td><td class="k">${escapeHtml(c.utmMedium)}</td><td class="k">${escapeHtml(c.utmCampaign)}</td>${cells(c.stats)}</tr>`).join('')}</table>
</body></html>
`;
}
