/**
 * The Bitrix24 emulator with a real CrmIO built the way the worker builds it (src/pipeline/crm-runtime.ts), shared by
 * the connector's emulator test files. Call `useBitrixEmulator()` inside a describe: it registers the hooks (one
 * emulator per file, reset before each test, Redis prefixes cleaned after) and returns the helpers.
 */
import { resolve } from 'node:path';
import pino from 'pino';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import { LeadSchema, type CallRecord, type DeliveryReceipt, type DeliveryTask, type LeadInput } from '#sdk';
import { makeKeys, type Keys } from '../../../src/infra/keys.ts';
import { createAccountRuntime, type AccountRuntime } from '../../../src/pipeline/crm-runtime.ts';
import { createJournal } from '../../../src/pipeline/journal.ts';
import { loadMapping, type Mapping } from '../../../src/mapping/load.ts';
import { applyMapping } from '../../../src/mapping/apply.ts';
import { dueAt, renderLeadNote } from '../../../src/domain/note-text.ts';
import { cleanupPrefix, TEST_REDIS_URL, uniquePrefix } from '../../../test/support/redis.ts';
import { startBitrixEmulator, type RunningBitrixEmulator } from '../../../test/emulators/bitrix24/index.ts';
import { bitrix24Crm } from './index.ts';
import { resetRateLimitMemory } from './classify.ts';
import { BitrixSettingsSchema, type BitrixSettings } from './settings.ts';

const log = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

export const WEBHOOK_ENV = 'B24_TEST_WEBHOOK_URL';
export const SECRET_ENV = 'B24_TEST_CLIENT_SECRET';
export const REFRESH_ENV = 'B24_TEST_REFRESH_TOKEN';

export interface Account {
  runtime: AccountRuntime;
  settings: BitrixSettings;
  mapping: Mapping;
  keys: Keys;
  deliver(task: DeliveryTask, journalKey?: string): Promise<DeliveryReceipt>;
}

export function useBitrixEmulator() {
  let emu: RunningBitrixEmulator;
  let redis: Redis;
  const prefixes: string[] = [];

  beforeAll(async () => {
    emu = await startBitrixEmulator();
    redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 3 });
  });
  afterAll(async () => {
    redis.disconnect();
    await emu.close();
  });
  beforeEach(() => {
    emu.reset();
    emu.state.setCrmMode('classic');
    resetRateLimitMemory();
    process.env[WEBHOOK_ENV] = emu.webhookUrl;
  });
  afterEach(async () => {
    for (const p of prefixes.splice(0)) await cleanupPrefix(p);
  });

  function account(settings: Record<string, unknown> = {}): Account {
    const s = BitrixSettingsSchema.parse({ auth: 'webhook', webhookUrlEnv: WEBHOOK_ENV, ...settings });
    const mapping = loadMapping(resolve('mappings/bitrix24.yaml'), 'bitrix24');
    const prefix = uniquePrefix();
    prefixes.push(prefix);
    const keys = makeKeys(prefix);
    const runtime = createAccountRuntime({ account: { config: { id: 'b24', connector: 'bitrix24', settings }, connector: bitrix24Crm, settings: s, mapping }, redis, keys, log });
    return {
      runtime,
      settings: s,
      mapping,
      keys,
      async deliver(task, journalKey = task.key) {
        const facts = await runtime.facts();
        return bitrix24Crm.deliver(runtime.io, s, task, createJournal(redis, keys.journal(`b24:${journalKey}`), 3600), facts);
      },
    };
  }

  function oauthAccount(settings: Record<string, unknown> = {}): Account {
    const pair = emu.state.oauth.issuePair();
    process.env[SECRET_ENV] = emu.oauth.clientSecret;
    process.env[REFRESH_ENV] = pair.refresh_token;
    return account({ auth: 'oauth', portalUrl: emu.url, clientId: emu.oauth.clientId, clientSecretEnv: SECRET_ENV, initialRefreshTokenEnv: REFRESH_ENV, tokenUrl: emu.oauth.tokenUrl, ...settings });
  }

  let seq = 0;
  function leadTask(a: Account, input: Partial<LeadInput> & { contact?: LeadInput['contact'] } = {}, opts: Partial<Extract<DeliveryTask, { kind: 'lead' }>> = {}): Extract<DeliveryTask, { kind: 'lead' }> {
    const n = ++seq;
    const lead = LeadSchema.parse({
      source: { channel: 'form', sourceId: 'site', name: 'Сайт acme.ru' },
      externalId: `ev-${n}`,
      contact: { name: 'Иван Петров', phonesE164: ['+79123456789'], emails: ['ivan@example.ru'] },
      title: 'Заявка с сайта',
      message: 'Нужен расчёт',
      utm: { source: 'yandex', medium: 'cpc', campaign: 'brand' },
      occurredAt: '2026-05-14T07:26:32.000Z',
      ...input,
    });
    const receivedAt = '2026-05-14T07:26:33.000Z';
    return {
      kind: 'lead',
      key: `site:${lead.externalId}:0`,
      lead,
      repeatPolicy: 'note-on-open-lead',
      placement: { kind: 'incoming' },
      fields: applyMapping(a.mapping, lead, process.env),
      phoneFormat: a.mapping.phoneFormat,
      noteText: renderLeadNote(lead, a.mapping.phoneFormat),
      task: { text: 'Связаться с клиентом', dueAt: dueAt(receivedAt, 15) },
      ...opts,
    };
  }

  const todos = () => [...emu.state.activities.values()].filter((a) => a.kind === 'todo');
  const counts = () => ({ contacts: emu.state.contacts.size, leads: emu.state.leads.size, deals: emu.state.deals.size, comments: emu.state.comments.size, todos: todos().length });

  async function seedContact(fields: Record<string, unknown>): Promise<number> {
    const res = await fetch(`${emu.webhookUrl}crm.contact.add`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ fields }) });
    return ((await res.json()) as { result: number }).result;
  }

  function callTask(a: Account, call: Partial<CallRecord>, callbackTask: { text: string; dueAt: string } | null = null): Extract<DeliveryTask, { kind: 'call' }> {
    const record: CallRecord = {
      source: { channel: 'mango', sourceId: 'pbx', name: 'Телефония' },
      provider: 'mango',
      providerCallId: 'call-1',
      direction: 'inbound',
      from: '+79161234567',
      fromE164: '+79161234567',
      to: '+74951234567',
      line: '74951234567',
      extension: '107',
      startedAt: '2026-05-14T07:20:00.000Z',
      answeredAt: '2026-05-14T07:20:10.000Z',
      endedAt: '2026-05-14T07:21:45.000Z',
      durationSec: 105,
      talkSec: 95,
      status: 'answered',
      state: 'ended',
      eventIds: ['e1', 'e2'],
      occurredAt: '2026-05-14T07:20:00.000Z',
      ...call,
    };
    return { kind: 'call', key: `${record.provider}:pbx:${record.providerCallId}`, call: record, callbackTask, phoneFormat: a.mapping.phoneFormat, fields: [], sourceName: 'Телефония' };
  }

  return {
    /** The running emulator (set once the file's beforeAll ran). */
    get emu(): RunningBitrixEmulator {
      return emu;
    },
    account,
    oauthAccount,
    leadTask,
    callTask,
    todos,
    counts,
    seedContact,
  };
}
