import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { channels, crms } from '../../connectors/index.ts';
import { loadConfigFile, resolveConfig, type RuntimeConfig } from '../config/load.ts';
import type { ChannelConnector, CrmConnector } from '../sdk/index.ts';

export const registry = {
  channels: channels as readonly ChannelConnector<unknown, unknown>[],
  crms: crms as readonly CrmConnector<unknown>[],
};

/** LEADGATE_CONFIG, else ./leadgate.yaml; null when neither exists (the hub then runs in demo mode). */
export function findConfigFile(env: NodeJS.ProcessEnv = process.env): string | null {
  if (env.LEADGATE_CONFIG) return env.LEADGATE_CONFIG;
  const local = resolve('leadgate.yaml');
  return existsSync(local) ? local : null;
}

export function loadRuntimeConfig(env: NodeJS.ProcessEnv = process.env): RuntimeConfig | null {
  const file = findConfigFile(env);
  return file ? loadConfigFile(file, registry, env) : null;
}

/** Demo mode keeps its own keys and starts clean each time: its emulator is fresh too. */
export const DEMO_PREFIX = '{leadgate-demo}';

/**
 * Demo mode: sources a newcomer can post to without secrets, delivering into the amoCRM emulator when one is
 * given (`crmBaseUrl`), else only printing each normalised lead.
 */
export function demoConfig(o: { crmBaseUrl?: string; token?: string; port: number }): RuntimeConfig {
  const value = {
    redisPrefix: DEMO_PREFIX,
    gateway: { port: o.port, host: '127.0.0.1' },
    crm: o.crmBaseUrl && registry.crms.some((c) => c.id === 'amocrm') ? [{ id: 'demo', connector: 'amocrm', settings: { baseUrl: o.crmBaseUrl, auth: 'long-lived', tokenEnv: 'LEADGATE_DEMO_AMO_TOKEN' } }] : [],
    sources: [
      { id: 'demo', connector: 'form', name: 'Демо-форма' },
      { id: 'demo', connector: 'tilda', name: 'Демо Tilda' },
    ].filter((s) => registry.channels.some((c) => c.id === s.connector)).map((s, i) => ({ ...s, id: i === 0 ? 'demo' : 'demo-tilda' })),
  };
  // The connector reads the token from the environment at run time, like any real account.
  if (o.token) process.env.LEADGATE_DEMO_AMO_TOKEN = o.token;
  const env = process.env;
  return resolveConfig({ file: '(built-in demo config)', value, lineOf: () => undefined }, registry, env, resolve('.'), true);
}
