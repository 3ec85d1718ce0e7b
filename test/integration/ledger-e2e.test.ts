/**
 * The lead ledger end to end: real HTTP into the gateway → Redis + BullMQ → workers → the amoCRM emulator; the
 * ledger (a SQLite file of this test) then holds the form lead and the ignored robot with the right outcome,
 * `leadgate trace` finds the inquiry by phone, and the channel report (CLI and `GET /reports/channels`) counts it.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAmoEmulator, type RunningAmoEmulator } from '../emulators/amocrm/start.ts';
import { startHarness, type Harness } from '../support/harness.ts';
import { openLedger, type LedgerStore } from '../../src/ledger/open.ts';
import { hashPhone } from '../../src/ledger/privacy.ts';
import { traceCommand } from '../../src/cli/trace.command.ts';
import { reportCommand } from '../../src/cli/report.command.ts';
import type { ChannelReport } from '../../src/reports/channels.ts';
import { loadChannelReport } from '../../src/reports/load.ts';

const ADMIN = { LEADGATE_ADMIN_USER: 'ops', LEADGATE_ADMIN_PASSWORD: 'a-long-admin-password' };
const auth = { authorization: `Basic ${Buffer.from(`${ADMIN.LEADGATE_ADMIN_USER}:${ADMIN.LEADGATE_ADMIN_PASSWORD}`).toString('base64')}` };

function capture(): { stream: Writable; text: () => string } {
  let buf = '';
  return {
    stream: new Writable({
      write(chunk, _enc, cb) {
        buf += String(chunk);
        cb();
      },
    }),
    text: () => buf,
  };
}

const PG_URL = process.env.TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** The ledger section for each dialect: a SQLite file in the test's directory, or a PostgreSQL schema of its own. */
const DIALECTS = [
  { name: 'SQLite', ledger: (dir: string) => ({ file: join(dir, 'ledger.sqlite') }), env: {} as Record<string, string>, cleanup: async () => undefined },
  (() => {
    const schema = `lg_e2e_${randomBytes(5).toString('hex')}`;
    return {
      name: 'PostgreSQL',
      ledger: () => ({ urlEnv: 'LEDGER_E2E_PG_URL', schema }),
      env: { LEDGER_E2E_PG_URL: PG_URL } as Record<string, string>,
      async cleanup() {
        const c = new pg.Client({ connectionString: PG_URL });
        await c.connect();
        await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        await c.end();
      },
    };
  })(),
];

describe.each(DIALECTS)('lead ledger through the whole pipeline ($name)', (dialect) => {
  let emu: RunningAmoEmulator;
  let h: Harness;
  let dir: string;
  let configFile: string;
  let store: LedgerStore;
  let cliEnv: NodeJS.ProcessEnv;

  beforeAll(async () => {
    emu = await startAmoEmulator();
    dir = mkdtempSync(join(tmpdir(), 'lg-ledger-e2e-'));
    const ledger = dialect.ledger(dir);
    h = await startHarness({
      env: { LEDGER_E2E_AMO_TOKEN: emu.token, ...ADMIN, ...dialect.env },
      config: {
        crm: [{ id: 'amo', connector: 'amocrm', mapping: resolve('mappings/amocrm.yaml'), settings: { baseUrl: emu.url, auth: 'long-lived', tokenEnv: 'LEDGER_E2E_AMO_TOKEN' } }],
        sources: [{ id: 'site', connector: 'form', name: 'Сайт acme.ru' }],
        ledger,
      },
    });
    // What an operator's leadgate.yaml would say for the CLI: the same ledger and Redis prefix.
    configFile = join(dir, 'leadgate.yaml');
    writeFileSync(configFile, `redisPrefix: "${h.prefix}"\nledger: ${JSON.stringify(ledger)}\n`);
    cliEnv = { ...process.env, ...dialect.env, LEADGATE_CONFIG: configFile, REDIS_URL: h.redisUrl };

    const json = { 'content-type': 'application/json' };
    const lead = await h.post('/hooks/form/site', JSON.stringify({ name: 'Иван', phone: '8 912 345-67-89', email: 'Ivan@Example.ru', submission_id: 'sub-e2e-1', utm_source: 'yandex', utm_medium: 'cpc', utm_campaign: 'brand' }), json);
    const robot = await h.post('/hooks/form/site', JSON.stringify({ name: 'bot', phone: '+7 999 000-00-00', website: 'http://spam.example', submission_id: 'sub-e2e-robot' }), json);
    expect([lead.status, robot.status]).toEqual([200, 200]);
    await h.drain();
    await h.flushLedger();
    store = await openLedger(h.config.raw.ledger, dialect.env);
  });
  afterAll(async () => {
    await store?.close();
    await h?.close();
    await emu?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
    await dialect.cleanup();
  });

  it('holds the lead with its CRM ids, attribution and timings, and the robot as ignored with its reason', async () => {
    const rows = await store.db.all<Record<string, unknown>>('SELECT * FROM ledger_outcomes ORDER BY received_at');
    expect(rows).toHaveLength(2);
    const lead = rows.find((r) => r.kind === 'lead')!;
    const robot = rows.find((r) => r.kind === 'ignored')!;
    const leadInCrm = emu.state.leads.size ? [...emu.state.leads.values()][0] : undefined;
    expect(leadInCrm).toBeDefined();
    expect({ status: lead.status, account: lead.account_id, leadId: lead.crm_lead_id, created: lead.created_lead, channel: lead.channel, source: lead.source_id }).toEqual({
      status: 'delivered',
      account: 'amo',
      leadId: String(leadInCrm!.id),
      created: 1,
      channel: 'form',
      source: 'site',
    });
    expect(String(lead.crm_url)).toContain(`/leads/detail/${leadInCrm!.id}`);
    expect(lead.crm_contact_id).toBeTruthy();
    expect([lead.utm_source, lead.utm_medium, lead.utm_campaign]).toEqual(['yandex', 'cpc', 'brand']);
    expect(lead.phone_hash).toBe(hashPhone(store.hashKey, '+79123456789'));
    const [received, normalised, delivered] = [lead.received_at, lead.normalised_at, lead.delivered_at].map(Number);
    expect(received).toBeGreaterThan(0);
    expect(normalised).toBeGreaterThanOrEqual(received!);
    expect(delivered).toBeGreaterThanOrEqual(normalised!);
    expect({ status: robot.status, reason: robot.reason_code, crm: robot.crm_lead_id }).toEqual({ status: 'ignored', reason: 'form:honeypot', crm: null });
    // The database holds no phone, e-mail or name in clear.
    const all = JSON.stringify(await store.db.all('SELECT * FROM ledger_outcomes')) + JSON.stringify(await store.db.all('SELECT * FROM ledger_events'));
    expect(all).not.toMatch(/9123456789|912 345|ivan@example|Иван/i);
    expect(all).toContain('+7 *** ***-**-89');
  });

  it('`leadgate trace <phone>` shows the path from the raw event to the CRM card, with the delivery steps', async () => {
    const out = capture();
    const code = await traceCommand(['+7', '(912)', '345-67-89'], out.stream, cliEnv);
    const text = out.text();
    expect(code).toBe(0);
    const leadId = String([...emu.state.leads.values()][0]!.id);
    expect(text).toContain('phone +7 *** ***-**-89');
    expect(text).toMatch(/sender's event id +sub-e2e-1/);
    expect(text).toMatch(/#0 lead: delivered/);
    expect(text).toContain(`lead ${leadId} (new)`);
    expect(text).toContain(`/leads/detail/${leadId}`);
    expect(text).toContain('utm yandex / cpc / brand');
    expect(text).toMatch(/✓ createLead/);
    expect(text).not.toContain('sub-e2e-robot'); // another number's event
    expect(text).not.toMatch(/9123456789/);
    // By e-mail (any case) and by the robot's sender id too.
    const byMail = capture();
    expect(await traceCommand(['IVAN@example.ru', '--no-redis'], byMail.stream, cliEnv)).toBe(0);
    expect(byMail.text()).toContain(`lead ${leadId} (new)`);
    const byId = capture();
    expect(await traceCommand(['sub-e2e-robot', '--no-redis'], byId.stream, cliEnv)).toBe(0);
    expect(byId.text()).toMatch(/#0 ignored: ignored — form:honeypot/);
    const none = capture();
    expect(await traceCommand(['+7 900 111-22-33', '--no-redis'], none.stream, cliEnv)).toBe(1);
    expect(none.text()).toContain('Nothing in the ledger for phone +7 *** ***-**-33');
  });

  it('`npx leadgate trace` runs from the command line', () => {
    const r = spawnSync(process.execPath, [resolve('bin/leadgate.mjs'), 'trace', 'sub-e2e-1', '--no-redis'], { env: cliEnv, encoding: 'utf8', timeout: 60_000 });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/#0 lead: delivered/);
  });

  it('the channel report counts the lead and the robot: CLI table, --json, and GET /reports/channels behind admin auth', async () => {
    const json = capture();
    expect(await reportCommand(['channels', '--since', '1d', '--json'], json.stream, cliEnv)).toBe(0);
    const r = JSON.parse(json.text()) as ChannelReport;
    const form = r.channels.find((c) => c.channel === 'form')!;
    expect({ leads: form.stats.leads, repeat: form.stats.repeatInquiries, robots: form.stats.ignoredRobots, missed: form.stats.missedCalls, delivered: form.stats.delivered }).toEqual({ leads: 1, repeat: 0, robots: 1, missed: 0, delivered: 1 });
    expect(form.stats.medianTimeToCardMs).not.toBeNull();
    expect(form.stats.medianTimeToFirstContactMs).toBeNull();
    expect(r.campaigns.map((c) => [c.utmSource, c.utmMedium, c.utmCampaign, c.stats.leads])).toEqual([['yandex', 'cpc', 'brand', 1]]);
    expect(r.sources.map((s) => [s.sourceId, s.sourceName, s.stats.leads, s.stats.ignoredRobots])).toEqual([['site', 'Сайт acme.ru', 1, 1]]);
    expect(r.ignoredByReason).toEqual({ 'form:honeypot': 1 });

    const table = capture();
    expect(await reportCommand(['channels', '--since', '1d'], table.stream, cliEnv)).toBe(0);
    expect(table.text()).toMatch(/^form\s+1\s+0\s+1\s+0\s+/m);

    const denied = await fetch(`${h.gateway.url}/reports/channels?since=1d`);
    expect(denied.status).toBe(401);
    const res = await fetch(`${h.gateway.url}/reports/channels?since=1d`, { headers: auth });
    expect(res.status).toBe(200);
    const viaHttp = (await res.json()) as ChannelReport;
    expect(viaHttp.channels.find((c) => c.channel === 'form')?.stats).toEqual(form.stats);
    const bad = await fetch(`${h.gateway.url}/reports/channels?since=yesterday`, { headers: auth });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { field: string } }).error.field).toBe('since');
    const badTz = await fetch(`${h.gateway.url}/reports/channels?since=1d&tz=Mars/Olympus`, { headers: auth });
    expect(badTz.status).toBe(400);
    expect(((await badTz.json()) as { error: { field: string } }).error.field).toBe('tz');
    const moscow = (await (await fetch(`${h.gateway.url}/reports/channels?since=7d&tz=Europe/Moscow`, { headers: auth })).json()) as ChannelReport;
    expect([moscow.timeZone, moscow.bucket, moscow.totals.leads]).toEqual(['Europe/Moscow', 'day', 1]);
  });

  it('a job run twice leaves one row per outcome, unchanged (idempotent writes)', async () => {
    const before = await store.db.all<Record<string, unknown>>('SELECT delivery_key, status, crm_lead_id, delivered_at FROM ledger_outcomes ORDER BY delivery_key');
    const deliver = h.workers!.ctx.deliverQueue;
    const [done] = await deliver.getCompleted(0, 0);
    expect(done).toBeDefined();
    // The same delivery job again: BullMQ may run a job twice after a stall.
    await deliver.add('lead', done!.data, { jobId: `${String(done!.id)}-again` });
    await h.drain();
    await h.flushLedger();
    const after = await store.db.all<Record<string, unknown>>('SELECT delivery_key, status, crm_lead_id, delivered_at FROM ledger_outcomes ORDER BY delivery_key');
    expect(after).toEqual(before);
  });
});

describe('a ledger that is down', () => {
  it('loses and blocks no delivery: the lead reaches the CRM while every ledger write fails', async () => {
    const emu = await startAmoEmulator();
    const h = await startHarness({
      // Nothing listens on port 1: every ledger connection is refused.
      env: { LEDGER_DOWN_AMO_TOKEN: emu.token, LEDGER_DOWN_URL: 'postgres://postgres@127.0.0.1:1/test' },
      config: {
        crm: [{ id: 'amo', connector: 'amocrm', mapping: resolve('mappings/amocrm.yaml'), settings: { baseUrl: emu.url, auth: 'long-lived', tokenEnv: 'LEDGER_DOWN_AMO_TOKEN' } }],
        sources: [{ id: 'site', connector: 'form', name: 'Сайт' }],
        ledger: { urlEnv: 'LEDGER_DOWN_URL', writeTimeoutMs: 2_000 },
      },
    });
    try {
      const res = await h.post('/hooks/form/site', JSON.stringify({ name: 'Пётр', phone: '+7 912 000-11-22', submission_id: 'down-1' }), { 'content-type': 'application/json' });
      expect(res.status).toBe(200);
      await h.drain();
      await h.flushLedger();
      expect(emu.state.leads.size).toBe(1);
      expect(h.delivered.map((d) => d.kind)).toEqual(['lead']);
      expect(await h.counts()).toMatchObject({ deliver: { failed: 0, completed: 1 }, intake: { failed: 0, completed: 1 } });
    } finally {
      await h.close();
      await emu.close();
    }
  });
});

describe('missed calls through the pipeline', () => {
  it('one missed call ringing two extensions: three events, one missed call and one lead in the report; trace finds it by the caller', async () => {
    const emu = await startAmoEmulator();
    const dir = mkdtempSync(join(tmpdir(), 'lg-ledger-calls-'));
    const h = await startHarness({
      env: { LEDGER_CALLS_AMO_TOKEN: emu.token, LEDGER_CALLS_SIPUNI: 'sipuni-secret-0123456789' },
      config: {
        crm: [{ id: 'amo', connector: 'amocrm', mapping: resolve('mappings/amocrm.yaml'), settings: { baseUrl: emu.url, auth: 'long-lived', tokenEnv: 'LEDGER_CALLS_AMO_TOKEN' } }],
        sources: [{ id: 'sipuni-main', connector: 'sipuni', name: 'Sipuni', secretEnv: 'LEDGER_CALLS_SIPUNI' }],
        ledger: { file: join(dir, 'ledger.sqlite') },
      },
    });
    try {
      const now = Math.floor(Date.now() / 1000);
      const callId = `${now}.${Math.floor(Math.random() * 1e6)}`;
      const common = { secret: 'sipuni-secret-0123456789', call_id: callId, src_num: '79035550202', src_type: '1', dst_num: '201', dst_type: '2', pbxdstnum: '74951234567' };
      const get = (q: Record<string, string>) => fetch(`${h.gateway.url}/hooks/sipuni/sipuni-main?${new URLSearchParams(q)}`);
      expect((await get({ ...common, event: '1', timestamp: String(now - 40), short_dst_num: '201' })).status).toBe(200);
      expect((await get({ ...common, event: '1', timestamp: String(now - 40), dst_num: '202', short_dst_num: '202' })).status).toBe(200); // the other extension rings too
      await h.drain();
      const end = { ...common, event: '2', timestamp: String(now), status: 'NOANSWER', call_start_timestamp: String(now - 40) };
      expect((await get(end)).status).toBe(200);
      await h.drain();
      await h.flushLedger();

      const store = await openLedger(h.config.raw.ledger, {});
      try {
        const rows = await store.db.all<Record<string, unknown>>("SELECT status, call_missed, created_lead, crm_lead_id FROM ledger_outcomes WHERE kind = 'call' ORDER BY received_at, delivery_key");
        expect(rows).toHaveLength(3);
        // The ringing events: not final yet; the end: the call is written, missed.
        expect(rows.map((r) => [r.status, r.call_missed === null ? null : Number(r.call_missed)])).toEqual([
          ['skipped', null],
          ['skipped', null],
          ['delivered', 1],
        ]);
        const report = await loadChannelReport(store, '1d');
        const sipuni = report.channels.find((c) => c.channel === 'sipuni')!;
        expect({ missed: sipuni.stats.missedCalls, leads: sipuni.stats.leads, robots: sipuni.stats.ignoredRobots }).toEqual({ missed: 1, leads: emu.state.leads.size, robots: 0 });
        expect(emu.state.leads.size).toBe(1);
      } finally {
        await store.close();
      }
      writeFileSync(join(dir, 'leadgate.yaml'), `redisPrefix: "${h.prefix}"\nledger: ${JSON.stringify({ file: join(dir, 'ledger.sqlite') })}\n`);
      const out = capture();
      expect(await traceCommand(['+7 903 555-02-02'], out.stream, { ...process.env, LEADGATE_CONFIG: join(dir, 'leadgate.yaml'), REDIS_URL: h.redisUrl })).toBe(0);
      expect(out.text()).toMatch(/call\s+inbound, MISSED/);
      expect(out.text()).toMatch(/#0 call: delivered/);
    } finally {
      await h.close();
      await emu.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
