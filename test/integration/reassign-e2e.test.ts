/**
 * Assignment and reassignment end to end, for amoCRM and Bitrix24, with time compressed (the follow-up check runs
 * ~1.5 s after delivery instead of 15 min): form → gateway → Redis/BullMQ → worker picks the manager by the rules →
 * CRM emulator; then the delayed check either moves the lead and its task to the next manager with a note (task
 * still open) or leaves it (task completed, learnt from the CRM's webhook). Also: the caller-ID preview.
 */
import { createHmac } from 'node:crypto';
import { Queue, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { startAmoEmulator, type RunningAmoEmulator } from '../emulators/amocrm/start.ts';
import { startBitrixEmulator, type RunningBitrixEmulator } from '../emulators/bitrix24/start.ts';
import { startHarness, type Harness } from '../support/harness.ts';
import { writeRules } from '../assignment/support/rules-file.ts';
import { QUEUE_REASSIGN } from '../../src/pipeline/queues.ts';
import { createAssignmentState } from '../../src/assignment/state.ts';
import { nextOpening } from '../../src/assignment/hours.ts';
import { loadAssignment } from '../../src/assignment/load.ts';
import type { ReassignResult } from '../../src/pipeline/reassign.processor.ts';
import { openLedger } from '../../src/ledger/open.ts';
import { basename, dirname } from 'node:path';

const ENV = { RA_EVENTS_SECRET: 'events-secret-0123456789', RA_LOOKUP_TOKEN: 'lookup-token-0123456789abcdef' };
/** 0.025 min = 1.5 s: the "15 minutes" of the real rule. */
const AFTER_MINUTES = 0.025;

interface CrmUnderTest {
  name: string;
  account: Record<string, unknown>;
  env: Record<string, string>;
  /** Two active managers in round-robin order, and their names (for the note). */
  users: [string, string];
  names: [string, string];
  leadResponsible(leadId: string): string;
  taskResponsible(taskId: string): string;
  notesOn(leadId: string): string[];
  completeTask(taskId: string): Promise<void>;
  /** The CRM's outbound webhook saying the task changed/was completed. */
  taskWebhook(taskId: string): { body: string; contentType: string };
  close(): Promise<void>;
}

/** A manager's edit in amoCRM: outside the hub's shared limiter, so a 429 (7 requests/s) is waited out here. */
async function amoPatch(emu: RunningAmoEmulator, path: string, body: unknown): Promise<number> {
  for (let i = 0; ; i++) {
    const res = await fetch(`${emu.url}${path}`, { method: 'PATCH', headers: { authorization: `Bearer ${emu.token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    if (res.status !== 429 || i >= 5) return res.status;
    await new Promise((r) => setTimeout(r, 1_100));
  }
}

async function amo(): Promise<CrmUnderTest & { emu: RunningAmoEmulator }> {
  const emu: RunningAmoEmulator = await startAmoEmulator();
  return {
    emu,
    name: 'amocrm',
    account: { id: 'crm', connector: 'amocrm', settings: { baseUrl: emu.url, auth: 'long-lived', tokenEnv: 'RA_AMO_TOKEN' }, extensions: { '8801234': '200', '8801235': '201' }, events: { secretEnv: 'RA_EVENTS_SECRET' } },
    env: { RA_AMO_TOKEN: emu.token },
    users: ['8801234', '8801235'],
    names: ['Администратор', 'Ирина Менеджер'],
    leadResponsible: (id) => String(emu.state.leads.get(Number(id))?.responsible_user_id),
    taskResponsible: (id) => String(emu.state.tasks.get(Number(id))?.responsible_user_id),
    notesOn: (id) => [...emu.state.notes.values()].filter((n) => n.entity_type === 'leads' && n.entity_id === Number(id) && typeof n.params.text === 'string').map((n) => String(n.params.text)),
    async completeTask(id) {
      expect(await amoPatch(emu, `/api/v4/tasks/${id}`, { is_completed: true, result: { text: 'Позвонил' } })).toBe(200);
    },
    // amoCRM account webhooks: PHP-bracket form, legacy field names (reference §12); status 1 = completed.
    taskWebhook: (id) => ({ body: `task%5Bupdate%5D%5B0%5D%5Bid%5D=${id}&task%5Bupdate%5D%5B0%5D%5Bstatus%5D=1&task%5Bupdate%5D%5B0%5D%5Belement_type%5D=2&account%5Bid%5D=28805383`, contentType: 'application/x-www-form-urlencoded' }),
    close: () => emu.close(),
  };
}

async function bitrix(): Promise<CrmUnderTest> {
  const emu: RunningBitrixEmulator = await startBitrixEmulator();
  const call = async (method: string, params: unknown): Promise<unknown> => {
    const res = await fetch(`${emu.webhookUrl}${method}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(params) });
    const body = (await res.json()) as { result?: unknown; error?: string };
    if (!res.ok) throw new Error(`${method}: ${JSON.stringify(body)}`);
    return body.result;
  };
  return {
    name: 'bitrix24',
    account: { id: 'crm', connector: 'bitrix24', settings: { auth: 'webhook', webhookUrlEnv: 'RA_B24_WEBHOOK' }, extensions: { '1': '101', '7': '107' }, events: { secretEnv: 'RA_EVENTS_SECRET' } },
    env: { RA_B24_WEBHOOK: emu.webhookUrl },
    users: ['1', '7'],
    names: ['Admin Portal', 'Anna Manager'],
    leadResponsible: (id) => String(emu.state.leads.get(Number(id))?.ASSIGNED_BY_ID),
    taskResponsible: (id) => String(emu.state.activities.get(Number(id))?.RESPONSIBLE_ID),
    notesOn: (id) => [...emu.state.comments.values()].filter((c) => c.ENTITY_TYPE === 'lead' && c.ENTITY_ID === Number(id)).map((c) => c.COMMENT),
    async completeTask(id) {
      await call('crm.activity.update', { id, fields: { COMPLETED: 'Y' } });
    },
    // Bitrix24 outgoing webhook: only the id (reference §9); the hub asks crm.activity.get whether it is done.
    taskWebhook: (id) => ({ body: `event=ONCRMACTIVITYUPDATE&data%5BFIELDS%5D%5BID%5D=${id}&ts=1724697689&auth%5Bdomain%5D=emulator`, contentType: 'application/x-www-form-urlencoded' }),
    close: () => emu.close(),
  };
}

function rulesYaml(users: readonly string[], extra = '', afterMinutes = AFTER_MINUTES): string {
  return `timeZone: Europe/Moscow
groups:
  sales: { strategy: round-robin, users: [${users.map((u) => `"${u}"`).join(', ')}] }
rules:
  - { group: sales }
reassign:
  afterMinutes: ${afterMinutes}
  maxTimes: 1
  note: "Не взята в работу за {minutes} мин.: передана от {from} к {to}"
${extra}`;
}

async function start(crm: CrmUnderTest, rulesFile: string): Promise<Harness> {
  return startHarness({
    config: {
      crm: [{ ...crm.account, assignment: rulesFile }],
      sources: [{ id: 'site', connector: 'form', name: 'Сайт' }],
      telephony: { lookup: { tokenEnv: 'RA_LOOKUP_TOKEN' } },
    },
    env: { ...ENV, ...crm.env },
  });
}

interface Receipt {
  leadId: string;
  taskId: string;
  createdLead: boolean;
  responsibleUserId?: string;
}

let sent = 0;
async function sendLead(h: Harness, phone: string): Promise<Receipt> {
  const before = h.delivered.length;
  // A distinct body each time: a form without an event id is deduplicated by its body hash.
  const res = await h.post('/hooks/form/site', JSON.stringify({ name: 'Клиент', phone, comment: `Перезвоните (${++sent})` }), { 'content-type': 'application/json' });
  expect(res.status).toBe(200);
  await h.drain();
  const d = h.delivered.slice(before).find((x) => x.kind === 'lead');
  expect(d, 'a lead outcome was delivered').toBeDefined();
  return d!.receipt as Receipt;
}

/** Runs `fn` with a handle on the harness's reassign queue (its own connection, closed after). */
async function withReassignQueue<T>(h: Harness, fn: (q: Queue) => Promise<T>): Promise<T> {
  const conn = new Redis(h.redisUrl, { maxRetriesPerRequest: null });
  const q = new Queue(QUEUE_REASSIGN, { connection: conn, prefix: h.prefix });
  try {
    return await fn(q);
  } finally {
    await q.close();
    conn.disconnect();
  }
}

/** The finished follow-up check of a lead at `step` (polls the reassign queue; the check is delayed by design). */
function checkResult(h: Harness, leadId: string, step = 0, timeoutMs = 20_000): Promise<ReassignResult> {
  return withReassignQueue(h, async (q) => {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const jobs: Job[] = await q.getJobs(['completed', 'failed']);
      const mine = jobs.find((j) => (j.data as { leadId?: string }).leadId === leadId && (j.data as { step?: number }).step === step && j.finishedOn);
      if (mine) {
        if (mine.failedReason) throw new Error(`reassign check failed: ${mine.failedReason}`);
        return mine.returnvalue as ReassignResult;
      }
      if (Date.now() > until) throw new Error(`no finished reassign check for lead ${leadId} after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  });
}

const lastCheck = (h: Harness, leadId: string): Promise<ReassignResult> => checkResult(h, leadId, 1);

function pendingChecks(h: Harness): Promise<number> {
  return withReassignQueue(h, async (q) => {
    const c = await q.getJobCounts('waiting', 'delayed', 'active');
    return (c.waiting ?? 0) + (c.delayed ?? 0) + (c.active ?? 0);
  });
}

describe.each([['amocrm', amo], ['bitrix24', bitrix]] as const)('assignment and reassignment: %s', (_name, make) => {
  let crm: CrmUnderTest | undefined;
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    await crm?.close();
    h = undefined;
    crm = undefined;
  });

  it('round robin picks the manager; a task still open at the deadline moves lead and task to the next one, with a note, once', async () => {
    crm = await make();
    h = await start(crm, writeRules(rulesYaml(crm.users)));
    const r = await sendLead(h, '+79161110001');
    expect(r.createdLead).toBe(true);
    expect(r.responsibleUserId).toBe(crm.users[0]);
    expect(crm.leadResponsible(r.leadId)).toBe(crm.users[0]);
    expect(crm.taskResponsible(r.taskId)).toBe(crm.users[0]);

    const result = await checkResult(h, r.leadId);
    expect(result).toEqual({ outcome: 'moved', from: crm.users[0], to: crm.users[1], step: 1 });
    expect(crm.leadResponsible(r.leadId)).toBe(crm.users[1]);
    expect(crm.taskResponsible(r.taskId)).toBe(crm.users[1]);
    expect(crm.notesOn(r.leadId).filter((t) => t.startsWith('Не взята в работу'))).toEqual([`Не взята в работу за ${AFTER_MINUTES} мин.: передана от ${crm.names[0]} к ${crm.names[1]}`]);
    // The open-lead count moved with the lead.
    const state = createAssignmentState(h.redis, h.prefix, 'crm', 3600);
    expect(await state.load()).toMatchObject({ [crm.users[0]]: 0, [crm.users[1]]: 1 });
    // maxTimes: 1 → one last check, which moves nothing although the task is still open; then none.
    expect(await lastCheck(h, r.leadId)).toEqual({ outcome: 'limit' });
    expect(crm.leadResponsible(r.leadId)).toBe(crm.users[1]);
    expect(await pendingChecks(h)).toBe(0);
  });

  it('a task completed in the CRM (its webhook reaches /crm-events) is not moved; the lead stops counting', async () => {
    crm = await make();
    h = await start(crm, writeRules(rulesYaml(crm.users)));
    const first = await sendLead(h, '+79161110002');
    const second = await sendLead(h, '+79161110003');
    expect([first.responsibleUserId, second.responsibleUserId]).toEqual(crm.users); // round robin
    await crm.completeTask(second.taskId);
    const hook = crm.taskWebhook(second.taskId);
    const res = await h.post(`/crm-events/crm?secret=${ENV.RA_EVENTS_SECRET}`, hook.body, { 'content-type': hook.contentType });
    expect(res.status, res.body).toBe(200);
    const state = createAssignmentState(h.redis, h.prefix, 'crm', 3600);
    // Recorded from the webhook (Bitrix24: after one crm.activity.get the hub makes once it has answered).
    for (let i = 0; i < 100 && !(await state.isTaskDone(second.taskId)); i++) await new Promise((r) => setTimeout(r, 50));
    expect(await state.isTaskDone(second.taskId)).toBe(true);

    expect(await checkResult(h, second.leadId)).toEqual({ outcome: 'done', via: 'webhook' });
    expect(crm.leadResponsible(second.leadId)).toBe(crm.users[1]);
    expect(crm.notesOn(second.leadId).some((t) => t.startsWith('Не взята в работу'))).toBe(false);
    // The first lead's task was never completed: it moved (to the only other manager).
    expect(await checkResult(h, first.leadId)).toMatchObject({ outcome: 'moved', to: crm.users[1] });
    expect(await state.load()).toMatchObject({ [crm.users[0]]: 0, [crm.users[1]]: 1 });
    // The ledger: first contact is when the CRM said the task was done; the moved lead has none, and its new manager.
    await h.flushLedger();
    const ledger = await openLedger(h.config.raw.ledger, {});
    try {
      const rows = (await ledger.db.all('SELECT crm_lead_id, first_contact_at, responsible_user_id FROM ledger_outcomes WHERE crm_lead_id IN (?, ?)', [first.leadId, second.leadId])) as { crm_lead_id: string; first_contact_at: number | null; responsible_user_id: string | null }[];
      const byLead = new Map(rows.map((r) => [String(r.crm_lead_id), r]));
      expect(byLead.get(String(second.leadId))?.first_contact_at).toBeGreaterThan(0);
      expect(byLead.get(String(first.leadId))?.first_contact_at ?? null).toBeNull();
      expect(String(byLead.get(String(first.leadId))?.responsible_user_id)).toBe(String(crm.users[1]));
    } finally {
      await ledger.close();
    }
  });

  it('a task completed without any webhook is found by the poll at the deadline', async () => {
    crm = await make();
    h = await start(crm, writeRules(rulesYaml(crm.users)));
    const r = await sendLead(h, '+79161110004');
    await crm.completeTask(r.taskId);
    expect(await checkResult(h, r.leadId)).toEqual({ outcome: 'done', via: 'poll' });
    expect(crm.leadResponsible(r.leadId)).toBe(crm.users[0]);
  });
});

describe('assignment with the amoCRM emulator: hours, sticky, caller-ID preview', () => {
  let crm: Awaited<ReturnType<typeof amo>> | undefined;
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    await crm?.close();
    h = undefined;
    crm = undefined;
  });

  it('start-up stops on a deactivated or unknown user in the rules, naming the file line and the fix', async () => {
    crm = await amo();
    const file = writeRules(rulesYaml(['8801235', '8801236', '999']));
    const err = await start(crm, file).then(
      (started) => {
        h = started;
        return undefined;
      },
      (e: unknown) => e as Error,
    );
    expect(err?.name).toBe('ConfigError');
    // The file is named as the loader shows it (relative to the working directory when shorter): match its tail.
    expect(err?.message).toContain(`${basename(dirname(file))}/assignment.yaml:3 groups.sales.users.1: user Бывший Сотрудник (8801236) is deactivated in the CRM. Fix: remove them from the group or reactivate them`);
    expect(err?.message).toMatch(/groups\.sales\.users\.2: no CRM user 999\. Fix: use an active user id; known: .*Ирина Менеджер \(8801235\)/);
  });

  it('outside working hours the check waits for the next opening', async () => {
    crm = await amo();
    // A calendar open only on a day that is not today (Moscow): the check must be scheduled for its next opening.
    const today = new Intl.DateTimeFormat('en-US', { timeZone: 'Europe/Moscow', weekday: 'short' }).format(new Date()).toLowerCase().slice(0, 3);
    const other = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'].find((d) => d !== today)!;
    const file = writeRules(rulesYaml(crm.users, `hours:\n  office: { windows: [ { days: [${other}], from: "09:00", to: "18:00" } ] }\n`).replace('  maxTimes: 1', '  maxTimes: 1\n  hours: office'));
    h = await start(crm, file);
    const r = await sendLead(h, '+79161110005');
    const [job] = await withReassignQueue(h, (q) => q.getJobs(['delayed']));
    expect(job).toBeDefined();
    const rules = loadAssignment(file);
    const opening = nextOpening(rules.hours.office!, rules.timeZone, new Date(job!.timestamp + AFTER_MINUTES * 60_000))!;
    expect(Math.abs(job!.timestamp + (job!.opts.delay ?? 0) - opening.getTime())).toBeLessThan(2_000);
    expect(opening.getTime() - Date.now()).toBeGreaterThan(60 * 60_000);
    expect(crm.leadResponsible(r.leadId)).toBe(crm.users[0]);
  });

  it('the lookup answers an unknown caller with the manager the rules would pick, without taking the turn', async () => {
    crm = await amo();
    h = await start(crm, writeRules(rulesYaml(crm.users)));
    const ask = async () => {
      const res = await fetch(`${h!.gateway.url}/lookup/phone/89161110006`, { headers: { authorization: `Bearer ${ENV.RA_LOOKUP_TOKEN}` } });
      expect(res.status).toBe(200);
      return (await res.json()) as { found: boolean; responsible?: { id: string; extension?: string; name?: string; assignedBy?: string } };
    };
    expect(await ask()).toMatchObject({ found: false, responsible: { id: '8801234', extension: '200', name: 'Администратор', assignedBy: 'rules' } });
    expect((await ask()).responsible?.id).toBe('8801234'); // a preview takes no slot
    const r = await sendLead(h, '+79161110007');
    expect(r.responsibleUserId).toBe('8801234');
    expect((await ask()).responsible).toMatchObject({ id: '8801235', extension: '201' });
  });

  it('the synchronous PBX answer (Zadarma NOTIFY_START) routes an unknown caller to the manager the rules would pick', async () => {
    crm = await amo();
    const zdEnv = { RA_ZD_SECRET: 'zadarma-secret-0123456789', RA_ZD_KEY: 'zadarma-key-0123' };
    h = await startHarness({
      config: {
        crm: [{ ...crm.account, assignment: writeRules(rulesYaml(crm.users, '', 60)) }],
        sources: [
          { id: 'site', connector: 'form', name: 'Сайт' },
          { id: 'zd-main', connector: 'zadarma', name: 'Zadarma', secretEnv: 'RA_ZD_SECRET', settings: { apiKeyEnv: 'RA_ZD_KEY', routing: { enabled: true, deadlineMs: 800 } } },
        ],
        telephony: { lookup: { tokenEnv: 'RA_LOOKUP_TOKEN' } },
      },
      env: { ...ENV, ...crm.env, ...zdEnv },
    });
    await sendLead(h, '+79161110010'); // takes 8801234's turn: the next unknown caller goes to 8801235
    const caller = '79161110011';
    const fields = { event: 'NOTIFY_START', pbx_call_id: `in_${Date.now().toString(16)}`, call_start: new Date(Date.now() + 3 * 3600_000).toISOString().replace('T', ' ').slice(0, 19), caller_id: caller, called_did: '74951234567' };
    // Zadarma signs caller_id + called_did + call_start with HMAC-SHA1 (hex, then base64) — reference telephony.md.
    const signature = Buffer.from(createHmac('sha1', zdEnv.RA_ZD_SECRET).update(fields.caller_id + fields.called_did + fields.call_start).digest('hex')).toString('base64');
    const res = await h.post('/hooks/zadarma/zd-main', new URLSearchParams(fields).toString(), { 'content-type': 'application/x-www-form-urlencoded', signature });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ redirect: '201', return_timeout: 20 });
    // The answer took no turn: the next lead still goes to 8801235.
    await h.drain();
    expect((await sendLead(h, '+79161110012')).responsibleUserId).toBe('8801235');
  });

  it('sticky: a known contact keeps its manager; the round-robin turn is not taken', async () => {
    crm = await amo();
    // No reassignment during this test (it would take a turn too).
    h = await start(crm, writeRules(rulesYaml(crm.users, '', 60)));
    const first = await sendLead(h, '+79161110008');
    expect(first.responsibleUserId).toBe('8801234');
    // The lead is won, so the next inquiry opens a new lead for the same (now known) contact.
    expect(await amoPatch(crm.emu, `/api/v4/leads/${first.leadId}`, { status_id: 142 })).toBe(200);
    // amoCRM tells the hub the lead was won: it stops counting as open.
    const won = await h.post(`/crm-events/crm?secret=${ENV.RA_EVENTS_SECRET}`, `leads%5Bstatus%5D%5B0%5D%5Bid%5D=${first.leadId}&leads%5Bstatus%5D%5B0%5D%5Bstatus_id%5D=142&leads%5Bstatus%5D%5B0%5D%5Bold_status_id%5D=142&account%5Bid%5D=28805383`, { 'content-type': 'application/x-www-form-urlencoded' });
    expect(won.status).toBe(200);
    const state = createAssignmentState(h.redis, h.prefix, 'crm', 3600);
    expect(await state.lead(first.leadId)).toMatchObject({ open: false });
    expect(await state.load()).toMatchObject({ '8801234': 0 });
    const again = await sendLead(h, '+79161110008');
    expect(again.createdLead).toBe(true);
    expect(again.responsibleUserId).toBe('8801234');
    const other = await sendLead(h, '+79161110009');
    expect(other.responsibleUserId).toBe('8801235');
  });
});
