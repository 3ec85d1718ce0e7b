/**
 * `leadgate init --yes …` writes a config that the project's own loader accepts once the vendor credentials are
 * filled in, never a secret inline, and a `.env` template naming each one; it refuses to overwrite.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '#sdk';
import { loadConfigFile } from '../../src/config/load.ts';
import { registry } from '../../src/runtime/load-runtime-config.ts';
import { INIT_CHANNELS } from '../../src/cli/init.command.ts';

const CLI = fileURLToPath(new URL('../../bin/leadgate.mjs', import.meta.url));
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function init(...args: string[]): { dir: string; status: number | null; out: string } {
  const dir = mkdtempSync(join(tmpdir(), 'leadgate-init-'));
  dirs.push(dir);
  return { dir, ...again(dir, ...args) };
}
function again(dir: string, ...args: string[]): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, [CLI, 'init', ...args], { cwd: dir, encoding: 'utf8', timeout: 30_000, stdio: ['ignore', 'pipe', 'pipe'] });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

/** `.env` as `set -a; . ./.env` would read it: NAME=value lines, comments skipped. */
function readEnv(file: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
    if (m) env[m[1]!] = m[2]!;
  }
  return env;
}

describe('leadgate init', () => {
  it('amoCRM with every channel it knows: the config loads once the vendor credentials are set, secrets only in .env', () => {
    const channels = Object.keys(INIT_CHANNELS);
    const r = init('--crm', 'amocrm', '--url', 'https://acme.amocrm.ru', '--channels', channels.join(','), '--public-url', 'https://hub.acme.ru', '--yes');
    expect(r.status, r.out).toBe(0);
    expect(r.out).toContain('https://hub.acme.ru/hooks/tilda/tilda-site?secret=$TILDA_SECRET');
    const configText = readFileSync(join(r.dir, 'leadgate.yaml'), 'utf8');
    const env = readEnv(join(r.dir, '.env'));
    // Generated webhook secrets are long and random, and never appear in the config.
    const generatedNames = Object.entries(env).filter(([, v]) => v !== '').map(([k]) => k);
    expect(generatedNames.sort()).toEqual(['ELEMENTOR_SECRET', 'PBX_SECRET', 'SIPUNI_SECRET', 'TELEGRAM_WEBHOOK_SECRET', 'TILDA_SECRET', 'UIS_SECRET']);
    for (const name of generatedNames) {
      expect(env[name]).toMatch(/^[0-9a-f]{48}$/);
      expect(configText).not.toContain(env[name]);
    }
    // Vendor credentials are left for the admin, each with a line saying where to find it.
    const vendor = Object.entries(env).filter(([, v]) => v === '').map(([k]) => k);
    expect(vendor.sort()).toEqual(['AMO_TOKEN', 'MANGO_SALT', 'TELEGRAM_BOT_TOKEN', 'ZADARMA_SECRET']);
    expect(readFileSync(join(r.dir, '.env'), 'utf8')).toMatch(/# fill in: amoCRM → Settings → Integrations.*\nAMO_TOKEN=\n/);

    const filled = { ...env, AMO_TOKEN: 'amo-token-value-0123456789', MANGO_SALT: 'mango-salt-0123456789', TELEGRAM_BOT_TOKEN: '123456:abc', ZADARMA_SECRET: 'zadarma-secret-0123' };
    const cfg = loadConfigFile(join(r.dir, 'leadgate.yaml'), registry, filled);
    expect([...cfg.sources.values()].map((s) => s.connector.id).sort()).toEqual([...channels].sort());
    expect([...cfg.crm.values()].map((a) => a.connector.id)).toEqual(['amocrm']);
    expect(cfg.raw.gateway.publicUrl).toBe('https://hub.acme.ru');
    expect([...cfg.sources.values()].every((s) => s.crmAccountId === 'main')).toBe(true);
    expect(configText.split('\n')[0]).toBe('# yaml-language-server: $schema=./schemas/config.schema.json');
    expect(readFileSync(join(r.dir, 'schemas/config.schema.json'), 'utf8')).toContain('"title": "Leadgate configuration');
  });

  it('an unfilled credential stops start-up naming file, line, key and fix', () => {
    const r = init('--crm', 'amocrm', '--url', 'https://acme.amocrm.ru', '--channels', 'mango', '--yes');
    expect(r.status, r.out).toBe(0);
    const env = readEnv(join(r.dir, '.env'));
    const lines = readFileSync(join(r.dir, 'leadgate.yaml'), 'utf8').split('\n');
    const lineOf = (text: string): number => lines.findIndex((l) => l.includes(text)) + 1;
    let err: unknown;
    try {
      loadConfigFile(join(r.dir, 'leadgate.yaml'), registry, env);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(new RegExp(`leadgate\\.yaml:${lineOf('tokenEnv: AMO_TOKEN')} crm\\.0\\.settings\\.tokenEnv: AMO_TOKEN is empty\\. Fix: set AMO_TOKEN`));
    expect(() => loadConfigFile(join(r.dir, 'leadgate.yaml'), registry, { ...env, AMO_TOKEN: 'x'.repeat(30) })).toThrow(
      new RegExp(`leadgate\\.yaml:${lineOf('secretEnv: MANGO_SALT')} sources\\.0\\.secretEnv: MANGO_SALT is empty\\. Fix: set MANGO_SALT`),
    );
  });

  it('Bitrix24: the webhook URL is named, never written; the config loads with it set', () => {
    const r = init('--crm', 'bitrix24', '--url', 'https://acme.bitrix24.ru', '--channels', 'form,tilda', '--yes');
    expect(r.status, r.out).toBe(0);
    const env = readEnv(join(r.dir, '.env'));
    expect(env).toHaveProperty('B24_WEBHOOK_URL', '');
    expect(readFileSync(join(r.dir, '.env'), 'utf8')).toContain('https://acme.bitrix24.ru/rest/<user id>/<code>/');
    const cfg = loadConfigFile(join(r.dir, 'leadgate.yaml'), registry, { ...env, B24_WEBHOOK_URL: 'https://acme.bitrix24.ru/rest/1/abc123def456/' });
    expect(cfg.crm.get('main')?.connector.id).toBe('bitrix24');
    expect(cfg.crm.get('main')?.mapping.crm).toBe('bitrix24');
  });

  it('refuses to overwrite without --force, and overwrites with it', () => {
    const r = init('--crm', 'amocrm', '--url', 'https://acme.amocrm.ru', '--channels', 'form', '--yes');
    expect(r.status).toBe(0);
    writeFileSync(join(r.dir, 'leadgate.yaml'), 'mine: true\n');
    const refused = again(r.dir, '--crm', 'amocrm', '--url', 'https://acme.amocrm.ru', '--channels', 'tilda', '--yes');
    expect(refused.status).toBe(1);
    expect(refused.out).toMatch(/leadgate\.yaml and \.env exist already; nothing written\. Use --force/);
    expect(readFileSync(join(r.dir, 'leadgate.yaml'), 'utf8')).toBe('mine: true\n');
    const forced = again(r.dir, '--crm', 'amocrm', '--url', 'https://acme.amocrm.ru', '--channels', 'tilda', '--yes', '--force');
    expect(forced.status).toBe(0);
    expect(readFileSync(join(r.dir, 'leadgate.yaml'), 'utf8')).toContain('connector: tilda');
  });

  it('names a wrong answer and writes nothing', () => {
    const badUrl = init('--crm', 'amocrm', '--url', 'https://www.amocrm.ru', '--channels', 'form', '--yes');
    expect(badUrl.status).toBe(2);
    expect(badUrl.out).toMatch(/--url https:\/\/www\.amocrm\.ru: the account address like https:\/\/acme\.amocrm\.ru/);
    const badChannel = init('--crm', 'amocrm', '--url', 'https://acme.amocrm.ru', '--channels', 'tilda,vk', '--yes');
    expect(badChannel.status).toBe(2);
    expect(badChannel.out).toContain('--channels: unknown vk');
    const noUrl = init('--crm', 'bitrix24', '--yes');
    expect(noUrl.status).toBe(2);
    expect(noUrl.out).toContain('--url is required');
    expect(() => readFileSync(join(noUrl.dir, 'leadgate.yaml'))).toThrow();
  });
});
