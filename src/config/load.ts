import { existsSync, readFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import type { ZodError } from 'zod';
import { ConfigError, type ChannelConnector, type CrmConnector, type SourceRef } from '#sdk';
import { ConfigSchema, type Config, type CrmAccountConfig, type SourceConfig } from './schema.ts';
import { parseLocatedYaml, type LocatedYaml } from './yaml-location.ts';
import { loadMapping, type Mapping } from '../mapping/load.ts';
import { loadAssignment, type AssignmentRules } from '../assignment/load.ts';
import type { CountryCode } from '../domain/phone.ts';

export interface ResolvedSource {
  config: SourceConfig;
  ref: SourceRef;
  connector: ChannelConnector<unknown, unknown>;
  settings: unknown;
  /** Resolved from env at start-up; undefined when the source has no secret configured. */
  secret: string | undefined;
  crmAccountId: string | undefined;
}

export interface ResolvedCrmAccount {
  config: CrmAccountConfig;
  connector: CrmConnector<unknown>;
  settings: unknown;
  mapping: Mapping;
  /** `crm[].assignment`: the rules file, loaded and checked offline (users are checked when the worker starts). */
  assignment?: AssignmentRules;
}

export interface RuntimeConfig {
  file: string;
  raw: Config;
  defaultRegion: CountryCode;
  sources: Map<string, ResolvedSource>;
  crm: Map<string, ResolvedCrmAccount>;
  demo: boolean;
}

export interface Registry {
  channels: readonly ChannelConnector<unknown, unknown>[];
  crms: readonly CrmConnector<unknown>[];
}

/** Reads, validates and resolves a config file. Every mistake throws ConfigError naming file, line, key and fix. */
export function loadConfigFile(file: string, registry: Registry, env: NodeJS.ProcessEnv = process.env): RuntimeConfig {
  const abs = resolve(file);
  const shown = relative(process.cwd(), abs) || abs;
  if (!existsSync(abs)) {
    throw new ConfigError({ file: shown, key: '(file)', problem: 'file not found', fix: 'create it (see leadgate.example.yaml) or set LEADGATE_CONFIG to its path' });
  }
  const parsed = parseLocatedYaml(shown, readFileSync(abs, 'utf8'));
  if ('error' in parsed) {
    throw new ConfigError({ file: shown, key: '(yaml)', problem: parsed.error, fix: 'correct the YAML syntax at that line', ...(parsed.line !== undefined ? { line: parsed.line } : {}) });
  }
  return resolveConfig(parsed, registry, env, dirname(abs));
}

export function resolveConfig(y: LocatedYaml, registry: Registry, env: NodeJS.ProcessEnv, baseDir: string, demo = false): RuntimeConfig {
  // `$schema` names the JSON Schema for editors (schemas/config.schema.json); it is no setting.
  const { $schema: _schema, ...value } = (y.value ?? {}) as Record<string, unknown>;
  const r = ConfigSchema.safeParse(value);
  if (!r.success) throw zodConfigError(y, r.error);
  const cfg = r.data;
  const err = (path: (string | number)[], problem: string, fix: string): ConfigError => {
    const line = y.lineOf(path);
    return new ConfigError({ file: y.file, key: path.join('.'), problem, fix, ...(line !== undefined ? { line } : {}) });
  };

  const crm = new Map<string, ResolvedCrmAccount>();
  cfg.crm.forEach((acct, i) => {
    if (crm.has(acct.id)) throw err(['crm', i, 'id'], `duplicate account id "${acct.id}"`, 'give each CRM account its own id');
    const connector = registry.crms.find((c) => c.id === acct.connector);
    if (!connector) throw err(['crm', i, 'connector'], `unknown CRM "${acct.connector}"`, `use one of: ${registry.crms.map((c) => c.id).join(', ') || '(none registered)'}`);
    const s = connector.settings.safeParse(acct.settings);
    if (!s.success) {
      const issue = s.error.issues[0]!;
      throw err(['crm', i, 'settings', ...issue.path.map((p) => (typeof p === 'number' ? p : String(p)))], issue.message, `see connectors/crm/${connector.id}/README.md for the settings`);
    }
    checkEnvRefs(s.data, env, (key, name) => err(['crm', i, 'settings', key], `${name} is empty`, `set ${name} in the environment (or .env) or remove the key`));
    const mappingFile = resolve(baseDir, acct.mapping ?? `mappings/${connector.id}.yaml`);
    const mapping = loadMapping(mappingFile, connector.id, env);
    const assignment = acct.assignment ? loadAssignment(resolve(baseDir, acct.assignment)) : undefined;
    crm.set(acct.id, { config: acct, connector, settings: s.data, mapping, ...(assignment ? { assignment } : {}) });
  });

  const sources = new Map<string, ResolvedSource>();
  cfg.sources.forEach((src, i) => {
    if (sources.has(src.id)) throw err(['sources', i, 'id'], `duplicate source id "${src.id}"`, 'give each source its own id (it is the URL segment)');
    const connector = registry.channels.find((c) => c.id === src.connector);
    if (!connector) throw err(['sources', i, 'connector'], `unknown channel "${src.connector}"`, `use one of: ${registry.channels.map((c) => c.id).join(', ')}`);
    const s = connector.settings.safeParse(src.settings ?? {});
    if (!s.success) {
      const issue = s.error.issues[0]!;
      throw err(['sources', i, 'settings', ...issue.path.map((p) => (typeof p === 'number' ? p : String(p)))], issue.message, `see connectors/channels/${connector.id}/README.md for the settings`);
    }
    let secret: string | undefined;
    if (src.secretEnv) {
      secret = env[src.secretEnv];
      if (!secret) throw err(['sources', i, 'secretEnv'], `${src.secretEnv} is empty`, `set ${src.secretEnv} in the environment or remove the key`);
      if (secret.length < 8 && !demo) throw err(['sources', i, 'secretEnv'], `${src.secretEnv} is shorter than 8 characters`, 'use a long random value, e.g. `openssl rand -hex 24`');
    } else if (connector.requiresSecret) {
      throw err(['sources', i], `channel "${connector.id}" signs its requests but no secretEnv is set`, `add secretEnv: ${src.id.toUpperCase().replace(/-/g, '_')}_SECRET and set that variable`);
    }
    let crmAccountId = src.crm;
    if (crmAccountId && !crm.has(crmAccountId)) throw err(['sources', i, 'crm'], `unknown CRM account "${crmAccountId}"`, `use one of: ${[...crm.keys()].join(', ') || '(define crm: accounts first)'}`);
    if (!crmAccountId && crm.size === 1) crmAccountId = [...crm.keys()][0];
    if (!crmAccountId && crm.size > 1) throw err(['sources', i, 'crm'], 'several CRM accounts are defined and this source names none', `add crm: <one of ${[...crm.keys()].join(', ')}>`);
    sources.set(src.id, {
      config: src,
      ref: { channel: connector.id, sourceId: src.id, name: src.name },
      connector,
      settings: s.data,
      secret,
      crmAccountId,
    });
  });

  return { file: y.file, raw: cfg, defaultRegion: cfg.defaultRegion as CountryCode, sources, crm, demo };
}

/** Settings keys ending in `Env` name an environment variable that must be set. */
function checkEnvRefs(settings: unknown, env: NodeJS.ProcessEnv, fail: (key: string, name: string) => ConfigError): void {
  if (!settings || typeof settings !== 'object') return;
  for (const [k, v] of Object.entries(settings as Record<string, unknown>)) {
    if (k.endsWith('Env') && typeof v === 'string' && !env[v]) throw fail(k, v);
  }
}

function zodConfigError(y: LocatedYaml, e: ZodError): ConfigError {
  const issue = e.issues[0]!;
  const path = issue.path.map((p) => (typeof p === 'number' ? p : String(p)));
  const line = y.lineOf(path);
  const known = issue.code === 'unrecognized_keys' ? '' : '';
  return new ConfigError({
    file: y.file,
    key: path.join('.') || '(root)',
    problem: issue.message + known,
    fix: 'see leadgate.example.yaml and the README "Configuration" section',
    ...(line !== undefined ? { line } : {}),
  });
}
