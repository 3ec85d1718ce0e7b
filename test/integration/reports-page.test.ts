/**
 * The `/reports` page in a real headless Chromium (Debian package `chromium`, driven by playwright-core): a known
 * ledger is served by the reports plugin, and each channel's chart must draw bars whose rendered heights match the
 * numbers. Without /usr/bin/chromium the test is skipped with a loud message, except in CI (CI=true), where it fails.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config/load.ts';
import { registry } from '../../src/runtime/load-runtime-config.ts';
import { reportsPlugin } from '../../src/gateway/reports.plugin.ts';
import { openLedger, type LedgerStore } from '../../src/ledger/open.ts';
import { intakeRows } from '../../src/ledger/records.ts';
import type { StoredEvent } from '../../src/pipeline/queues.ts';
import type { Outcome } from '../../src/sdk/lead.ts';

const CHROMIUM = '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const IN_CI = process.env.CI === 'true';
if (!HAVE_CHROMIUM && !IN_CI) {
  console.warn(`\n!!!!!!!!\n!!! reports-page.test.ts SKIPPED: ${CHROMIUM} is missing. Install it: apt-get install -y chromium (.ci/run does).\n!!!!!!!!\n`);
}

const ADMIN = { LEADGATE_ADMIN_USER: 'ops', LEADGATE_ADMIN_PASSWORD: 'a-long-admin-password' };
const NOW = new Date('2026-11-23T12:00:00.000Z');
const at = (iso: string) => Date.parse(iso);

function ev(sourceId: string, connector: string, hash: string, receivedAt: number): StoredEvent {
  return { sourceId, connector, eventId: `id-${hash}`, eventHash: hash, raw: { method: 'POST', subPath: '', headers: {}, query: {}, bodyB64: '', receivedAt: new Date(receivedAt).toISOString() } };
}
const formLead = (phone: string, campaign: string): Outcome => ({
  kind: 'lead',
  lead: {
    source: { channel: 'form', sourceId: 'site', name: 'Сайт' },
    externalId: 'x',
    contact: { phonesE164: [phone], phonesUnparsed: [], emails: [] },
    title: 'Заявка',
    utm: { source: 'yandex', medium: 'cpc', campaign },
    tracking: {},
    fields: [],
    attachments: [],
    occurredAt: NOW.toISOString(),
  },
});
const missedCall: Outcome = {
  kind: 'call',
  call: {
    source: { channel: 'mango', sourceId: 'pbx', name: 'Телефония' },
    externalId: 'e1',
    provider: 'mango',
    providerCallId: 'call-1',
    kind: 'ended',
    direction: 'inbound',
    fromE164: '+79261112233',
    status: 'missed',
    occurredAt: NOW.toISOString(),
  },
};

describe.skipIf(!HAVE_CHROMIUM && !IN_CI)('/reports page in headless Chromium', () => {
  let dir: string;
  let store: LedgerStore;
  let app: FastifyInstance;
  let url: string;
  let browser: Browser;

  /** Writes one event as the workers would: intake, then the delivery's receipt. */
  async function seed(e: StoredEvent, channel: string, o: Outcome, receipt?: { leadId: string; createdLead: boolean; deliveredAfterMs: number; missed?: boolean }): Promise<void> {
    const rows = intakeRows({ ev: e, channel, outcomes: [o], accountId: 'amo', normalisedAt: new Date(Date.parse(e.raw.receivedAt) + 100), hashKeySecret: store.hashKey });
    await store.repo.upsertEvent(rows.event);
    for (const r of rows.outcomes) await store.repo.upsertOutcome(r);
    if (receipt) {
      await store.repo.upsertOutcome({
        delivery_key: rows.outcomes[0]!.delivery_key,
        status: 'delivered',
        crm_lead_id: receipt.leadId,
        created_lead: receipt.createdLead ? 1 : 0,
        delivered_at: Date.parse(e.raw.receivedAt) + receipt.deliveredAfterMs,
        ...(receipt.missed !== undefined ? { call_missed: receipt.missed ? 1 : 0 } : {}),
      });
    }
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lg-reports-page-'));
    const config = resolveConfig({ file: '(reports test)', value: { ledger: { file: join(dir, 'ledger.sqlite') } }, lineOf: () => undefined }, registry, process.env, resolve('.'));
    store = await openLedger(config.raw.ledger, {});
    // form: 1 lead on the 20th; 2 on the 21st, the second from the first one's number again (a repeat); 1 robot.
    await seed(ev('site', 'form', 'f1', at('2026-11-20T09:00:00Z')), 'form', formLead('+79120000001', 'brand'), { leadId: '11', createdLead: true, deliveredAfterMs: 800 });
    await seed(ev('site', 'form', 'f2', at('2026-11-21T09:00:00Z')), 'form', formLead('+79120000002', 'brand'), { leadId: '12', createdLead: true, deliveredAfterMs: 1_200 });
    await seed(ev('site', 'form', 'f3', at('2026-11-21T15:00:00Z')), 'form', formLead('+79120000002', '<script>window.__xss=1</script>'), { leadId: '12', createdLead: false, deliveredAfterMs: 1_000 });
    await seed(ev('site', 'form', 'f4', at('2026-11-21T16:00:00Z')), 'form', { kind: 'ignored', reason: { code: 'form:honeypot' } });
    // mango: one missed call from an unknown number on the 22nd (a new lead in the CRM).
    await seed(ev('pbx', 'mango', 'm1', at('2026-11-22T10:00:00Z')), 'mango', missedCall, { leadId: '13', createdLead: true, deliveredAfterMs: 2_000, missed: true });

    app = Fastify();
    await app.register(reportsPlugin, { config, env: ADMIN, now: () => NOW });
    url = await app.listen({ port: 0, host: '127.0.0.1' });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await app?.close();
    await store?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('asks for the admin password', async () => {
    const res = await fetch(`${url}/reports?since=7d`);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toContain('Basic');
  });

  it('draws a chart per channel whose bars have the heights of the numbers', async () => {
    const ctx = await browser.newContext({ httpCredentials: { username: ADMIN.LEADGATE_ADMIN_USER, password: ADMIN.LEADGATE_ADMIN_PASSWORD } });
    const page = await ctx.newPage();
    const res = await page.goto(`${url}/reports?since=7d`);
    expect(res?.status()).toBe(200);

    const form = page.locator('figure[data-channel="form"]');
    await expect.poll(() => form.isVisible()).toBe(true);
    expect(await form.locator('.n-leads').textContent()).toBe('3');
    expect(await form.locator('.n-repeat').textContent()).toBe('1');
    expect(await form.locator('.n-robots').textContent()).toBe('1');
    expect(await form.locator('.n-missed').textContent()).toBe('0');
    expect(await form.locator('svg .y-max').textContent()).toBe('2');

    // Rendered geometry, not just markup: the 21st's two leads stand twice as tall as the 20th's one.
    const bar = (series: string, day: string) => form.locator(`rect[data-series="${series}"][data-t="${day}T00:00:00.000Z"]`);
    const h20 = (await bar('leads', '2026-11-20').boundingBox())!.height;
    const h21 = (await bar('leads', '2026-11-21').boundingBox())!.height;
    expect(h20).toBeGreaterThan(10);
    expect(h21 / h20).toBeCloseTo(2, 1);
    expect(await bar('leads', '2026-11-21').getAttribute('data-value')).toBe('2');
    expect(await bar('repeatInquiries', '2026-11-21').getAttribute('data-value')).toBe('1');
    expect((await bar('repeatInquiries', '2026-11-21').boundingBox())!.height).toBeCloseTo(h20, 0);
    expect(await bar('ignoredRobots', '2026-11-21').getAttribute('data-value')).toBe('1');
    expect(await bar('leads', '2026-11-22').getAttribute('data-value')).toBe('0');
    expect(await bar('leads', '2026-11-21').locator('title').textContent()).toBe('2026-11-21: 2 leads');
    // Every day of the period has its place on the axis (16th … 23rd).
    expect(await form.locator('rect[data-series="leads"]').count()).toBe(8);

    const mango = page.locator('figure[data-channel="mango"]');
    expect(await mango.locator('.n-missed').textContent()).toBe('1');
    expect(await mango.locator('.n-leads').textContent()).toBe('1');
    const missed = mango.locator('rect[data-series="missedCalls"][data-t="2026-11-22T00:00:00.000Z"]');
    expect(await missed.getAttribute('data-value')).toBe('1');
    expect((await missed.boundingBox())!.height).toBeGreaterThan(100); // the tallest bar of its chart (max 1)

    // Medians in the table: form 800, 1200, 1000 ms → 1.0 s to card; no first contact recorded.
    const formRow = page.locator('table.by-channel tr', { hasText: 'form' });
    expect((await formRow.locator('td').allTextContents()).slice(0, 7)).toEqual(['form', '3', '1', '1', '0', '1.0 s', '—']);

    // A UTM value is a visitor's text: shown, never run.
    await expect.poll(() => page.locator('table.by-campaign').textContent()).toContain('<script>window.__xss=1</script>');
    expect(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();
    await ctx.close();
  });

  it('changes the period from the page and serves the same numbers as JSON', async () => {
    const ctx = await browser.newContext({ httpCredentials: { username: ADMIN.LEADGATE_ADMIN_USER, password: ADMIN.LEADGATE_ADMIN_PASSWORD } });
    const page = await ctx.newPage();
    await page.goto(`${url}/reports?since=7d`);
    await page.selectOption('select[name="since"]', '24h');
    await Promise.all([page.waitForURL(/since=24h/), page.click('form button')]);
    // The last 24 hours hold nothing: an empty period says so.
    expect(await page.locator('p.empty').textContent()).toContain('No inquiries');
    // The page's own policy forbids scripts and fetches (CSP default-src 'none'): the JSON comes by the same credentials.
    const json = await (await ctx.request.get(`${url}/reports/channels?since=7d`)).json();
    expect((json as { totals: { leads: number; missedCalls: number } }).totals).toMatchObject({ leads: 4, missedCalls: 1 });
    await ctx.close();
  });
});
