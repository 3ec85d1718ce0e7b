/**
 * What every fault test shares: a config for the amoCRM emulator, leads that can be found again in the CRM,
 * a sender that records what was acknowledged, `leadgate gateway|worker` child processes, queue drain, the tally
 * (sent → acknowledged → in the CRM exactly once) and the printed report.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { Agent, request } from 'undici';
import type { RunningAmoEmulator } from '../../emulators/amocrm/start.ts';
import { QUEUE_DELIVER, QUEUE_INTAKE } from '../../../src/pipeline/queues.ts';
import { tempLedger } from '../../support/ledger-file.ts';

export const TOKEN_ENV = 'FAULT_AMO_TOKEN';
export const MAPPING_FILE = resolve('mappings/amocrm.yaml');

/** The config of a fault run (no `redisPrefix` when none is given: the harness sets its own); time compressed: small backoff cap so retries happen within seconds, generous gateway rate limit. */
export function faultConfig(o: { prefix?: string; crmUrl: string; port?: number; maxBackoffMs?: number; attempts?: number; concurrency?: number; crmTimeoutMs?: number }): Record<string, unknown> {
  return {
    ...(o.prefix ? { redisPrefix: o.prefix } : {}),
    gateway: { host: '127.0.0.1', port: o.port ?? 0, rateLimitPerMinute: 1_000_000 },
    // One ledger file per run, shared by its processes (as on one real box), never the working copy's.
    ledger: tempLedger(),
    // Compressed time: a killed worker's job is taken over after ~8 s + the 2 s stalled check instead of 30 + 30 s.
    worker: { concurrency: o.concurrency ?? 4, attempts: o.attempts ?? 200, maxBackoffMs: o.maxBackoffMs ?? 2_000, lockDurationMs: 8_000, stalledIntervalMs: 2_000 },
    crm: [
      {
        id: 'amo',
        connector: 'amocrm',
        mapping: MAPPING_FILE,
        settings: { baseUrl: o.crmUrl, auth: 'long-lived', tokenEnv: TOKEN_ENV, timeoutMs: o.crmTimeoutMs ?? 3_000, rateLimitPauseMs: 2_000 },
      },
    ],
    sources: [{ id: 'site', connector: 'form', name: 'Сайт (fault run)', rateLimitPerMinute: 1_000_000 }],
  };
}

/** Writes a config as a leadgate.yaml (JSON is YAML) in a temp dir; returns its path and a remover. */
export function writeConfigFile(config: Record<string, unknown>): { file: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'lg-fault-'));
  const file = join(dir, 'leadgate.yaml');
  writeFileSync(file, JSON.stringify(config, null, 2));
  return { file, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

let phoneSeq = Math.floor(Math.random() * 1_000_000);

/** One inquiry, findable in the CRM by the marker `[<id>]` in its message; phone and e-mail unique per lead. */
export function leadBody(id: string): string {
  const n = phoneSeq++;
  return JSON.stringify({
    name: `Клиент ${id}`,
    phone: `+7 912 ${String(n % 10_000_000).padStart(7, '0')}`,
    email: `${id}@fault.example.ru`,
    message: `[${id}] проверка под отказами`,
    submission_id: id,
    utm_source: 'faults',
  });
}

export const ids = (tag: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${tag}-${i}`);

export interface Attempt {
  id: string;
  /** HTTP status, or 0 for a transport error (connection refused/reset, timeout). */
  status: number;
  sentAt: number;
  answeredAt: number;
  error?: string;
}

export interface SendResult {
  attempts: Attempt[];
  /** Ids answered 2xx at least once. */
  acked: Set<string>;
}

const agent = new Agent({ connections: 64, pipelining: 1, headersTimeout: 10_000, bodyTimeout: 10_000, connectTimeout: 2_000 });

export async function postLead(baseUrl: string, id: string): Promise<Attempt> {
  const sentAt = Date.now();
  try {
    const res = await request(`${baseUrl}/hooks/form/site`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: leadBody(id), dispatcher: agent });
    await res.body.dump();
    return { id, status: res.statusCode, sentAt, answeredAt: Date.now() };
  } catch (err) {
    return { id, status: 0, sentAt, answeredAt: Date.now(), error: (err as { code?: string }).code ?? (err as Error).message };
  }
}

/**
 * Posts every id with `concurrency` in flight, spaced by `gapMs` per sender. `retry`: like a real sender, an id
 * not answered 2xx is posted again (after `retryAfterMs`) until `deadline`. `baseUrl` is asked per attempt,
 * so a test can point senders at another gateway.
 */
export async function send(o: { ids: string[]; baseUrl: () => string; concurrency?: number; gapMs?: number; retry?: boolean; retryAfterMs?: number; deadline?: number }): Promise<SendResult> {
  const attempts: Attempt[] = [];
  const acked = new Set<string>();
  const queue = [...o.ids];
  const deadline = o.deadline ?? Date.now() + 120_000;
  await Promise.all(
    Array.from({ length: o.concurrency ?? 4 }, async () => {
      for (;;) {
        const id = queue.shift();
        if (id === undefined) return;
        for (;;) {
          const a = await postLead(o.baseUrl(), id);
          attempts.push(a);
          if (a.status >= 200 && a.status < 300) {
            acked.add(id);
            break;
          }
          if (!o.retry || Date.now() > deadline) break;
          await sleep(o.retryAfterMs ?? 300);
        }
        if (o.gapMs) await sleep(o.gapMs);
      }
    }),
  );
  return { attempts, acked };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** What the CRM holds for each id: leads, notes and tasks carrying its marker, contacts with its e-mail. */
export interface Tally {
  once: string[];
  missing: string[];
  duplicated: { id: string; leads: number; notes: number; tasks: number; contacts: number }[];
  /** Leads in the CRM without any of our markers (a lead written twice, its note only once). */
  strayLeads: number;
}

export function tally(emu: RunningAmoEmulator, expected: Iterable<string>): Tally {
  const notesByMarker = new Map<string, number[]>();
  for (const n of emu.state.notes.values()) {
    const text = typeof n.params.text === 'string' ? n.params.text : '';
    const m = /\[([^\]\s]+-\d+)\]/.exec(text);
    if (m && n.entity_type === 'leads') notesByMarker.set(m[1]!, [...(notesByMarker.get(m[1]!) ?? []), n.entity_id]);
  }
  const contactsByEmail = new Map<string, number>();
  for (const c of emu.state.contacts.values()) {
    for (const m of JSON.stringify(c.custom_fields_values ?? []).matchAll(/"([^"\s]+)@fault\.example\.ru"/g)) contactsByEmail.set(m[1]!, (contactsByEmail.get(m[1]!) ?? 0) + 1);
  }
  const tasksByLead = new Map<number, number>();
  for (const t of emu.state.tasks.values()) if (t.entity_id !== null) tasksByLead.set(t.entity_id, (tasksByLead.get(t.entity_id) ?? 0) + 1);
  const out: Tally = { once: [], missing: [], duplicated: [], strayLeads: 0 };
  const markedLeads = new Set<number>();
  for (const id of expected) {
    const leadIds = notesByMarker.get(id) ?? [];
    leadIds.forEach((l) => markedLeads.add(l));
    const leads = new Set(leadIds).size;
    const tasks = [...new Set(leadIds)].reduce((n, l) => n + (tasksByLead.get(l) ?? 0), 0);
    const contacts = contactsByEmail.get(id) ?? 0;
    if (leadIds.length === 0) out.missing.push(id);
    else if (leadIds.length === 1 && leads === 1 && tasks === 1 && contacts === 1) out.once.push(id);
    else out.duplicated.push({ id, leads, notes: leadIds.length, tasks, contacts });
  }
  out.strayLeads = [...emu.state.leads.keys()].filter((l) => !markedLeads.has(l)).length;
  return out;
}

/** What the CRM holds for one id, for a failure message: its lead(s), their contacts, notes and tasks. */
export function explain(emu: RunningAmoEmulator, id: string): string {
  const marker = `[${id}]`;
  const notes = [...emu.state.notes.values()].filter((n) => typeof n.params.text === 'string' && n.params.text.includes(marker));
  const leadIds = new Set(notes.map((n) => n.entity_id));
  const contacts = [...emu.state.contacts.values()].filter((c) => JSON.stringify(c.custom_fields_values ?? []).includes(`${id}@`));
  const out = [`${id}: notes on leads ${[...leadIds].join(',')}`];
  for (const l of leadIds) {
    const lead = emu.state.leads.get(l);
    const tasks = [...emu.state.tasks.values()].filter((t) => t.entity_id === l);
    out.push(`  lead ${l} "${lead?.name}" contacts=${JSON.stringify(lead?.contacts.map((c) => c.id))} tasks=${JSON.stringify(tasks.map((t) => ({ id: t.id, text: t.text, till: t.complete_till })))}`);
    for (const lc of lead?.contacts ?? []) {
      const c = emu.state.contacts.get(lc.id);
      out.push(`    contact ${lc.id} "${c?.name}" ${JSON.stringify(c?.custom_fields_values?.map((f) => f.values.map((v) => v.value)))}`);
    }
  }
  out.push(`  contacts with its e-mail: ${contacts.map((c) => `${c.id} "${c.name}" leads=${JSON.stringify(emu.state.leadsOfContact(c.id).map((l) => l.id))}`).join('; ')}`);
  const unsorted = [...emu.state.unsorted.values()].filter((u) => JSON.stringify(u).includes(id));
  out.push(`  unsorted items mentioning it: ${unsorted.length}`);
  return out.join('\n');
}

/** Prints what was sent, acknowledged and delivered, plus the test's own figures. */
export function report(title: string, o: { sent: number; send?: SendResult; tally: Tally; figures?: Record<string, unknown>; emu?: RunningAmoEmulator }): void {
  const statuses: Record<string, number> = {};
  for (const a of o.send?.attempts ?? []) {
    const k = a.status === 0 ? `error:${a.error}` : String(a.status);
    statuses[k] = (statuses[k] ?? 0) + 1;
  }
  const lines = [
    `── fault report: ${title}`,
    `   sent (distinct leads): ${o.sent}; requests: ${o.send?.attempts.length ?? 0} ${JSON.stringify(statuses)}`,
    `   acknowledged 2xx:      ${o.send ? o.send.acked.size : '-'}`,
    `   in CRM exactly once:   ${o.tally.once.length}`,
    `   missing:               ${o.tally.missing.length}${o.tally.missing.length ? ` ${o.tally.missing.slice(0, 10).join(', ')}` : ''}`,
    `   duplicated:            ${o.tally.duplicated.length}${o.tally.duplicated.length ? ` ${JSON.stringify(o.tally.duplicated.slice(0, 5))}` : ''}`,
    `   stray leads:           ${o.tally.strayLeads}`,
    ...Object.entries(o.figures ?? {}).map(([k, v]) => `   ${`${k}:`.padEnd(23)}${typeof v === 'string' ? v : JSON.stringify(v)}`),
    ...(o.emu ? [...o.tally.duplicated.slice(0, 4).map((d) => explain(o.emu!, d.id)), ...o.tally.missing.slice(0, 2).map((id) => explain(o.emu!, id))] : []),
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

/** Job counts of both queues under a prefix. */
export class QueueWatch {
  private readonly conn: Redis;
  private readonly queues: Queue[];
  constructor(redisUrl: string, prefix: string) {
    this.conn = new Redis(redisUrl, { maxRetriesPerRequest: null });
    this.conn.on('error', () => undefined);
    this.queues = [QUEUE_INTAKE, QUEUE_DELIVER].map((n) => new Queue(n, { connection: this.conn, prefix }));
    for (const q of this.queues) q.on('error', () => undefined);
  }
  async counts(): Promise<Record<string, Record<string, number>>> {
    const out: Record<string, Record<string, number>> = {};
    for (const q of this.queues) out[q.name] = await q.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'completed', 'failed');
    return out;
  }
  async failedReasons(): Promise<string[]> {
    const out: string[] = [];
    for (const q of this.queues) for (const j of await q.getFailed(0, 50)) out.push(`${q.name}/${j.id}: ${j.failedReason}`);
    return out;
  }
  /** Resolves when nothing is waiting, delayed or active for `quietMs` (stalled jobs count as active until reclaimed). */
  async drained(timeoutMs: number, quietMs = 500): Promise<Record<string, Record<string, number>>> {
    const until = Date.now() + timeoutMs;
    let quietSince = 0;
    for (;;) {
      const c = await this.counts();
      const busy = Object.values(c).reduce((n, x) => n + (x.waiting ?? 0) + (x.active ?? 0) + (x.delayed ?? 0) + (x.prioritized ?? 0), 0);
      if (busy === 0) {
        quietSince ||= Date.now();
        if (Date.now() - quietSince >= quietMs) return c;
      } else quietSince = 0;
      if (Date.now() > until) throw new Error(`queues not drained after ${timeoutMs} ms: ${JSON.stringify(c)}`);
      await sleep(200);
    }
  }
  async close(): Promise<void> {
    for (const q of this.queues) await q.close();
    this.conn.disconnect();
  }
}

export interface LeadgateChild {
  child: ChildProcess;
  role: 'gateway' | 'worker';
  /** Last lines of output, for failure messages. */
  tail(): string;
  /** SIGKILL, or `SIGTERM` for a graceful stop; resolves on exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** `node bin/leadgate.mjs gateway|worker`, exactly as an operator runs it; resolves once it says it is up. */
export async function spawnLeadgate(role: 'gateway' | 'worker', o: { configFile: string; redisUrl: string; env?: Record<string, string>; readyTimeoutMs?: number }): Promise<LeadgateChild> {
  const child = spawn(process.execPath, [resolve('bin/leadgate.mjs'), role], {
    env: { ...process.env, LEADGATE_CONFIG: o.configFile, REDIS_URL: o.redisUrl, LOG_LEVEL: 'info', ...(o.env ?? {}) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const keep = (c: Buffer): void => {
    out = (out + c.toString()).slice(-4_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const readyText = role === 'gateway' ? 'gateway listening on' : 'workers started';
  await new Promise<void>((res, rej) => {
    const t = setTimeout(() => rej(new Error(`leadgate ${role} not up in time: ${out.slice(-800)}`)), o.readyTimeoutMs ?? 30_000);
    const onData = (): void => {
      if (out.includes(readyText)) {
        clearTimeout(t);
        child.stdout!.off('data', onData);
        res();
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(t);
      rej(new Error(`leadgate ${role} exited ${code}: ${out.slice(-800)}`));
    });
  });
  return {
    child,
    role,
    tail: () => out,
    stop: (signal = 'SIGKILL') =>
      new Promise<void>((res) => {
        if (child.exitCode !== null || child.signalCode !== null) return res();
        child.once('exit', () => res());
        child.kill(signal);
      }),
  };
}

/** Requests per sliding window as the CRM saw them, and the drain rate over an interval. */
export function crmRate(emu: RunningAmoEmulator, fromMs: number, toMs: number): { requests: number; perSec: number } {
  const n = emu.stats.requests.filter((r) => r.at >= fromMs && r.at <= toMs).length;
  return { requests: n, perSec: n / Math.max(0.001, (toMs - fromMs) / 1000) };
}
