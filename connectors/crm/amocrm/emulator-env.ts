/** The amoCRM emulator with a real CrmIO (Redis limiter, credential store, journal), shared by the connector's emulator test files. */
import { resolve } from 'node:path';
import pino from 'pino';
import { Redis } from 'ioredis';
import type { AccountFacts, DeliveryTask } from '#sdk';
import { makeKeys, type Keys } from '../../../src/infra/keys.ts';
import { createAccountRuntime, type AccountRuntime } from '../../../src/pipeline/crm-runtime.ts';
import { createJournal } from '../../../src/pipeline/journal.ts';
import { loadMapping } from '../../../src/mapping/load.ts';
import { applyMapping } from '../../../src/mapping/apply.ts';
import { renderLeadNote } from '../../../src/domain/note-text.ts';
import type { Lead, LeadInput } from '../../../src/sdk/lead.ts';
import { LeadSchema } from '../../../src/sdk/lead.ts';
import { cleanupPrefix, TEST_REDIS_URL, uniquePrefix } from '../../../test/support/redis.ts';
import { startAmoEmulator, type RunningAmoEmulator } from '../../../test/emulators/amocrm/index.ts';
import { amocrm } from './index.ts';
import { findCrm } from '../../index.ts';
import { AmoSettingsSchema, type AmoSettings } from './settings.ts';

export const silent = pino({ level: 'silent' });


export const ACCOUNT_ID = 'acme';
export const TOKEN_ENV = 'LG_TEST_AMO_TOKEN';
export const SECRET_ENV = 'LG_TEST_AMO_SECRET';

export interface Env {
  emu: RunningAmoEmulator;
  redis: Redis;
  prefix: string;
  keys: Keys;
  rt: AccountRuntime;
  settings: AmoSettings;
  facts: AccountFacts;
  deliver(task: DeliveryTask, journalName?: string): ReturnType<typeof amocrm.deliver>;
  journalKey(name: string): string;
}

export function leadInput(over: Partial<LeadInput> = {}): Lead {
  return LeadSchema.parse({
    source: { channel: 'form', sourceId: 'site', name: 'Сайт acme.ru' },
    externalId: 'ev-1',
    title: 'Заявка с сайта',
    message: 'Перезвоните, пожалуйста',
    contact: { name: 'Ирина', phonesE164: ['+79123456789'], emails: ['irina@example.ru'] },
    utm: { source: 'yandex', medium: 'cpc', campaign: 'brand' },
    tracking: { yclid: '123456', referrer: 'https://ya.ru/', pageUrl: 'https://acme.ru/pricing' },
    occurredAt: '2026-11-23T09:00:00.000Z',
    ...over,
  });
}

export function leadTask(key: string, lead: Lead = leadInput(), over: Partial<Extract<DeliveryTask, { kind: 'lead' }>> = {}): DeliveryTask {
  const mapping = loadMapping(resolve('mappings/amocrm.yaml'), 'amocrm');
  return {
    kind: 'lead',
    key,
    lead,
    repeatPolicy: 'note-on-open-lead',
    placement: { kind: 'incoming' },
    fields: applyMapping(mapping, lead, {}),
    phoneFormat: 'ru-display',
    noteText: renderLeadNote(lead),
    task: { text: 'Связаться с клиентом', dueAt: '2026-11-23T09:15:00.000Z' },
    ...over,
  };
}

export async function startEnv(o: { auth?: 'long-lived' | 'oauth'; emulator?: Parameters<typeof startAmoEmulator>[0]; settings?: Record<string, unknown> } = {}): Promise<Env> {
  const emu = await startAmoEmulator(o.emulator ?? {});
  const prefix = uniquePrefix();
  const keys = makeKeys(prefix);
  const redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
  process.env[TOKEN_ENV] = emu.token;
  process.env[SECRET_ENV] = emu.options.oauth.clientSecret;
  const auth = o.auth ?? 'long-lived';
  const settings = AmoSettingsSchema.parse({
    baseUrl: emu.url,
    auth,
    ...(auth === 'long-lived' ? { tokenEnv: TOKEN_ENV } : { clientId: emu.options.oauth.clientId, clientSecretEnv: SECRET_ENV, redirectUri: emu.options.oauth.redirectUri }),
    ...o.settings,
  });
  const mapping = loadMapping(resolve('mappings/amocrm.yaml'), 'amocrm');
  const rt = createAccountRuntime({
    account: { config: { id: ACCOUNT_ID, connector: 'amocrm', settings: {} }, connector: findCrm('amocrm')!, settings, mapping },
    redis,
    keys,
    log: silent,
  });
  const env: Env = {
    emu,
    redis,
    prefix,
    keys,
    rt,
    settings,
    facts: { fields: [], problems: [], warnings: [], meta: {} },
    journalKey: (name) => keys.journal(`${ACCOUNT_ID}:${name}`),
    deliver: (task, journalName = task.key) => amocrm.deliver(rt.io, settings, task, createJournal(redis, env.journalKey(journalName), 3600), env.facts),
  };
  return env;
}

export async function stopEnv(e: Env): Promise<void> {
  await e.emu.close();
  e.redis.disconnect();
  await cleanupPrefix(e.prefix);
}

export const notesOf = (e: Env, leadId: number) => [...e.emu.state.notes.values()].filter((n) => n.entity_type === 'leads' && n.entity_id === leadId);
export const cf = (values: { field_code: string | null; values: { value: unknown }[] }[], code: string) => values.find((v) => v.field_code === code)?.values[0]?.value;
