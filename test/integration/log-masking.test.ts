/**
 * A log scan over an end-to-end run (gateway + workers + amoCRM emulator, the production logger at debug level):
 * accepted, rejected and unauthenticated requests, a CRM outage with retries, a repeat inquiry. No phone number,
 * e-mail address, token or secret may appear unmasked in any line, nor the inquiry's free text.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolve } from 'node:path';
import { resolveConfig } from '../../src/config/load.ts';
import { registry } from '../../src/runtime/load-runtime-config.ts';
import { startGateway, type RunningGateway } from '../../src/runtime/gateway.ts';
import { startWorkers, type RunningWorkers } from '../../src/pipeline/worker.ts';
import { createLogger } from '../../src/infra/logger.ts';
import { QUEUE_DELIVER, QUEUE_INTAKE } from '../../src/pipeline/queues.ts';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { startAmoEmulator, type RunningAmoEmulator } from '../emulators/amocrm/start.ts';
import { cleanupPrefix, TEST_REDIS_URL, uniquePrefix } from '../support/redis.ts';
import { tempLedger } from '../support/ledger-file.ts';

const TOKEN_ENV = 'LOGSCAN_AMO_TOKEN';
const SECRET = 'logscan-secret-9f8e7d6c5b';
const PEOPLE = [
  { phone: '+7 (912) 345-67-89', digits: '9123456789', email: 'ivan.petrov@example.ru' },
  { phone: '8 903 111 22 33', digits: '9031112233', email: 'maria_s@mail.example.com' },
  { phone: '+79161234500', digits: '9161234500', email: 'p.sidorov+leads@corp.example.org' },
];
const MESSAGE = 'Нужен расчёт кухни 3 метра, перезвоните после обеда';

describe('log scan of an end-to-end run', () => {
  let emu: RunningAmoEmulator;
  let gateway: RunningGateway;
  let workers: RunningWorkers;
  let prefix: string;
  const lines: string[] = [];
  beforeAll(async () => {
    emu = await startAmoEmulator();
    prefix = uniquePrefix();
    process.env[TOKEN_ENV] = emu.token;
    const env = { ...process.env, LOGSCAN_SECRET: SECRET };
    const config = resolveConfig(
      {
        file: '(log scan)',
        value: {
          redisPrefix: prefix,
          ledger: tempLedger(),
          worker: { maxBackoffMs: 300 },
          crm: [{ id: 'amo', connector: 'amocrm', mapping: resolve('mappings/amocrm.yaml'), settings: { baseUrl: emu.url, auth: 'long-lived', tokenEnv: TOKEN_ENV } }],
          sources: [
            { id: 'site', connector: 'form', name: 'Сайт', secretEnv: 'LOGSCAN_SECRET' },
            { id: 'tilda', connector: 'tilda', name: 'Tilda' },
          ],
        },
        lineOf: () => undefined,
      },
      registry,
      env,
      resolve('.'),
    );
    const log = createLogger({ level: 'debug', name: 'logscan', destination: { write: (s: string) => void lines.push(s) } });
    workers = await startWorkers({ config, redisUrl: TEST_REDIS_URL, log, env });
    gateway = await startGateway({ config, redisUrl: TEST_REDIS_URL, log, port: 0, host: '127.0.0.1', env: {} });
  });
  afterAll(async () => {
    await gateway?.close();
    await workers?.close();
    await emu?.close();
    await cleanupPrefix(prefix);
  });

  it('no unmasked phone, e-mail, token, secret or inquiry text in any log line', async () => {
    const post = (path: string, body: string, headers: Record<string, string>) => fetch(`${gateway.url}${path}`, { method: 'POST', body, headers });
    const json = { 'content-type': 'application/json' };
    emu.faults.failNext(2, { status: 503 }); // retries are logged with their cause
    const [a, b, c] = PEOPLE as [(typeof PEOPLE)[number], (typeof PEOPLE)[number], (typeof PEOPLE)[number]];
    expect((await post(`/hooks/form/site?secret=${SECRET}`, JSON.stringify({ name: 'Иван Петров', phone: a.phone, email: a.email, message: MESSAGE, submission_id: 'ls-1' }), json)).status).toBe(200);
    expect((await post('/hooks/form/site', JSON.stringify({ name: 'Иван', phone: a.phone, email: a.email, message: MESSAGE, submission_id: 'ls-2' }), { ...json, 'x-leadgate-secret': SECRET })).status).toBe(200);
    expect((await post('/hooks/form/site', JSON.stringify({ phone: b.phone, email: b.email }), { ...json, 'x-leadgate-secret': 'wrong-secret-123' })).status).toBe(403);
    expect((await post('/hooks/form/site', JSON.stringify({ phone: { nested: b.phone }, email: [b.email], submission_id: 'ls-3' }), { ...json, 'x-leadgate-secret': SECRET })).status).toBeLessThan(500);
    const form = new URLSearchParams({ Name: 'Мария', Phone: b.phone, Email: b.email, Textarea: MESSAGE, tranid: '123:456', formid: 'form1' }).toString();
    expect((await post('/hooks/tilda/tilda', form, { 'content-type': 'application/x-www-form-urlencoded' })).status).toBe(200);
    expect((await post('/hooks/tilda/tilda', `Phone=${encodeURIComponent(c.phone)}&Email=${encodeURIComponent(c.email)}&tranid=9:9`, { 'content-type': 'text/plain' })).status).toBeLessThan(500);

    // Every job finished (retries included), so their log lines are in.
    const queues = [QUEUE_INTAKE, QUEUE_DELIVER].map((n) => new Queue(n, { connection: new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null }), prefix }));
    const until = Date.now() + 30_000;
    for (;;) {
      const counts = await Promise.all(queues.map((q) => q.getJobCounts('waiting', 'active', 'delayed')));
      if (counts.every((c) => !c.waiting && !c.active && !c.delayed) && emu.state.counts().leads >= 2) break;
      if (Date.now() > until) throw new Error(`not drained: ${JSON.stringify(counts)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    for (const q of queues) await q.close();
    expect(emu.state.counts().leads).toBeGreaterThanOrEqual(2);

    const text = lines.join('');
    expect(lines.length).toBeGreaterThan(10);
    const leaks: string[] = [];
    const check = (what: string, needle: string): void => {
      if (needle && text.includes(needle)) leaks.push(`${what}: ${needle} in ${lines.find((l) => l.includes(needle))?.slice(0, 300)}`);
    };
    check('token', emu.token);
    check('token (tail)', emu.token.slice(-24));
    check('secret', SECRET);
    for (const p of PEOPLE) {
      const d = p.digits;
      for (const form of [`+7${d}`, `7${d}`, `8${d}`, d, `${d.slice(0, 3)} ${d.slice(3, 6)}-${d.slice(6, 8)}-${d.slice(8)}`, `(${d.slice(0, 3)}) ${d.slice(3, 6)}`, `${d.slice(3, 6)}-${d.slice(6, 8)}-${d.slice(8)}`, `${d.slice(3, 6)} ${d.slice(6, 8)} ${d.slice(8)}`, p.phone]) check('phone', form);
      check('e-mail', p.email);
      check('e-mail (url-encoded)', encodeURIComponent(p.email));
      check('e-mail local part', `${p.email.split('@')[0]}@`);
    }
    check('inquiry text', MESSAGE.slice(0, 20));
    expect(leaks).toEqual([]);
  });
});
