/**
 * `leadgate init`: a few questions (CRM, account address, channels, the hub's public address), then a working
 * `leadgate.yaml` and a `.env` template next to it. Secrets are only ever named in the config (`…Env` keys);
 * their values go to `.env`: webhook secrets we choose are generated there, vendor credentials are left empty
 * with a line saying where to get them. Start-up then names whatever is still empty.
 *
 * Non-interactive (CI, tests): `--crm amocrm --url https://acme.amocrm.ru --channels tilda,mango --yes`.
 * Never overwrites an existing file without `--force`.
 */
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline/promises';
import { stringify } from 'yaml';
import { registry } from '../runtime/load-runtime-config.ts';

export const INIT_CRMS = ['amocrm', 'bitrix24'] as const;
export type InitCrm = (typeof INIT_CRMS)[number];

/** One env var of the `.env` template: generated (our own webhook secret) or left for the admin to fill in. */
interface EnvVar {
  name: string;
  value: string;
  comment: string;
}

interface SourceRecipe {
  /** The source entry in leadgate.yaml. */
  source: Record<string, unknown>;
  env: EnvVar[];
  /** What to paste in the sender's cabinet (after the hub's address). */
  hook: (base: string) => string;
  note: string;
}

const secret = (): string => randomBytes(24).toString('hex');
const generated = (name: string, where: string): EnvVar => ({ name, value: secret(), comment: `generated: ${where}` });
const fromVendor = (name: string, where: string): EnvVar => ({ name, value: '', comment: `fill in: ${where}` });

/** The sources `init` can write, by channel connector id. E-mail needs a mailbox: see its README. */
export const INIT_CHANNELS: Record<string, () => SourceRecipe> = {
  form: () => ({
    source: { id: 'site-form', connector: 'form', name: 'Форма на сайте' },
    env: [],
    hook: (b) => `${b}/hooks/form/site-form`,
    note: 'a form in the visitor’s browser cannot keep a secret: no secretEnv, the honeypot and rate limit protect it (connectors/channels/form/README.md)',
  }),
  tilda: () => ({
    source: { id: 'tilda-site', connector: 'tilda', name: 'Сайт (Tilda)', secretEnv: 'TILDA_SECRET' },
    env: [generated('TILDA_SECRET', 'the ?secret= of the Tilda webhook URL')],
    hook: (b) => `${b}/hooks/tilda/tilda-site?secret=$TILDA_SECRET`,
    note: 'Tilda: Site settings → Forms → Webhook (connectors/channels/tilda/README.md)',
  }),
  elementor: () => ({
    source: { id: 'elementor-site', connector: 'elementor', name: 'Сайт (Elementor)', secretEnv: 'ELEMENTOR_SECRET' },
    env: [generated('ELEMENTOR_SECRET', 'the ?secret= of the Elementor webhook URL')],
    hook: (b) => `${b}/hooks/elementor/elementor-site?secret=$ELEMENTOR_SECRET`,
    note: 'Elementor form → Actions After Submit → Webhook (connectors/channels/elementor/README.md)',
  }),
  mango: () => ({
    source: { id: 'mango-office', connector: 'mango', name: 'Телефония Mango', secretEnv: 'MANGO_SALT', settings: { apiKey: 'PASTE-vpbx_api_key' } },
    env: [fromVendor('MANGO_SALT', 'Mango cabinet → Интеграции → API коннектор → «Ключ для создания подписи» (vpbx_api_salt); put «Уникальный код АТС» into settings.apiKey in leadgate.yaml')],
    hook: (b) => `${b}/hooks/mango/mango-office`,
    note: 'Mango: Интеграции → API коннектор → «Адрес внешней системы» (connectors/channels/mango/README.md)',
  }),
  zadarma: () => {
    // Zadarma signs only a few fields: a source id nobody can guess keeps the URL private (see its README).
    const id = `zd-${randomBytes(5).toString('hex')}`;
    return {
      source: { id, connector: 'zadarma', name: 'Телефония Zadarma', secretEnv: 'ZADARMA_SECRET', settings: { provider: 'zadarma', timeZone: 'Europe/Moscow' } },
      env: [fromVendor('ZADARMA_SECRET', 'Zadarma cabinet → Настройки → Интеграции и API → Ключи API → Secret')],
      hook: (b) => `${b}/hooks/zadarma/${id}`,
      note: 'Zadarma: Моя АТС → Интеграции → Уведомления о звонках в АТС (connectors/channels/zadarma/README.md)',
    };
  },
  sipuni: () => ({
    source: { id: 'sipuni-office', connector: 'sipuni', name: 'Телефония Sipuni', secretEnv: 'SIPUNI_SECRET' },
    env: [generated('SIPUNI_SECRET', 'the ?secret= of the Sipuni events URL')],
    hook: (b) => `${b}/hooks/sipuni/sipuni-office?secret=$SIPUNI_SECRET`,
    note: 'Sipuni: Настройки → API → События на АТС (connectors/channels/sipuni/README.md)',
  }),
  uis: () => ({
    source: { id: 'uis-office', connector: 'uis', name: 'Телефония UIS', secretEnv: 'UIS_SECRET', settings: { provider: 'uis', timeZone: 'Europe/Moscow' } },
    env: [generated('UIS_SECRET', 'the ?secret= of every UIS notification URL')],
    hook: (b) => `${b}/hooks/uis/uis-office?secret=$UIS_SECRET`,
    note: 'UIS: Уведомления → Добавить, one per event, with the body templates of connectors/channels/uis/README.md',
  }),
  pbx: () => ({
    source: { id: 'office-pbx', connector: 'pbx', name: 'Офисная АТС', secretEnv: 'PBX_SECRET', settings: { provider: 'asterisk' } },
    env: [generated('PBX_SECRET', 'the HMAC key shared with the PBX agent (its LEADGATE_SECRET)')],
    hook: (b) => `${b}/hooks/pbx/office-pbx`,
    note: 'the agent in examples/asterisk/ signs each event (connectors/channels/pbx/README.md)',
  }),
  telegram: () => ({
    source: { id: 'telegram-bot', connector: 'telegram', name: 'Telegram', secretEnv: 'TELEGRAM_WEBHOOK_SECRET', settings: { tokenEnv: 'TELEGRAM_BOT_TOKEN' } },
    env: [generated('TELEGRAM_WEBHOOK_SECRET', 'sent by Telegram in X-Telegram-Bot-Api-Secret-Token'), fromVendor('TELEGRAM_BOT_TOKEN', 'the bot token from @BotFather')],
    hook: (b) => `${b}/hooks/telegram/telegram-bot`,
    note: 'then `npx leadgate telegram set-webhook telegram-bot` (connectors/channels/telegram/README.md)',
  }),
};

export interface InitAnswers {
  crm: InitCrm;
  /** amoCRM: the account address; Bitrix24: the portal address (the webhook URL itself goes to .env). */
  url: string;
  channels: string[];
  /** The hub's public HTTPS address, for the webhook URLs printed at the end. */
  publicUrl?: string;
}

export interface InitResult {
  config: string;
  env: string;
  /** Lines to show: each sender's URL and where to paste it. */
  hooks: string[];
}

/** Validates the answers and renders both files. Throws an Error naming the option and the fix. */
export function renderInit(a: InitAnswers, o: { mappingPath: string; schemaPath: string }): InitResult {
  if (!INIT_CRMS.includes(a.crm)) throw new Error(`--crm ${a.crm}: use one of ${INIT_CRMS.join(', ')}`);
  const unknown = a.channels.filter((c) => !INIT_CHANNELS[c]);
  if (unknown.length) throw new Error(`--channels: unknown ${unknown.join(', ')}; use any of ${Object.keys(INIT_CHANNELS).join(', ')} (e-mail: see connectors/channels/email/README.md)`);
  if (a.channels.length === 0) throw new Error('--channels: name at least one, e.g. --channels tilda,form');
  const crmConnector = registry.crms.find((c) => c.id === a.crm);
  if (!crmConnector) throw new Error(`CRM connector ${a.crm} is not registered in connectors/index.ts`);
  const env: EnvVar[] = [];
  let settings: Record<string, unknown>;
  if (a.crm === 'amocrm') {
    settings = { baseUrl: a.url, auth: 'long-lived', tokenEnv: 'AMO_TOKEN' };
    env.push(fromVendor('AMO_TOKEN', 'amoCRM → Settings → Integrations → your private integration → Keys and scopes → long-lived token (connectors/crm/amocrm/README.md)'));
  } else {
    settings = { auth: 'webhook', webhookUrlEnv: 'B24_WEBHOOK_URL' };
    env.push(fromVendor('B24_WEBHOOK_URL', `${a.url.replace(/\/+$/, '')}/rest/<user id>/<code>/ from Bitrix24 → Applications → Developer resources → Other → Inbound webhook, scopes crm, telephony, user (connectors/crm/bitrix24/README.md)`));
  }
  // The account address is checked now, with the connector's own rules, not at the first start.
  const urlCheck = a.crm === 'amocrm' ? crmConnector.settings.safeParse(settings) : crmConnector.settings.safeParse({ ...settings, auth: 'oauth', portalUrl: a.url, clientId: 'x', clientSecretEnv: 'X', initialRefreshTokenEnv: 'X' });
  if (!urlCheck.success) {
    const issue = urlCheck.error.issues.find((i) => i.path[0] === (a.crm === 'amocrm' ? 'baseUrl' : 'portalUrl'));
    if (issue) throw new Error(`--url ${a.url}: ${issue.message}`);
  }
  if (a.publicUrl !== undefined && !/^https?:\/\/[^/\s]+$/.test(a.publicUrl.replace(/\/+$/, ''))) throw new Error(`--public-url ${a.publicUrl}: the hub's address like https://hub.example.ru (no path)`);

  const recipes = a.channels.map((c) => INIT_CHANNELS[c]!());
  for (const r of recipes) env.push(...r.env);
  const base = a.publicUrl?.replace(/\/+$/, '') ?? 'https://<your hub>';
  const value = {
    defaultRegion: 'RU',
    gateway: { port: 3000, ...(a.publicUrl ? { publicUrl: a.publicUrl.replace(/\/+$/, '') } : {}) },
    crm: [{ id: 'main', connector: a.crm, mapping: o.mappingPath, settings }],
    sources: recipes.map((r) => r.source),
  };
  const config =
    `# yaml-language-server: $schema=${o.schemaPath}\n` +
    '# Written by `npx leadgate init`. Secrets are never written here: each …Env key names a variable of .env.\n' +
    '# Every key is explained in schemas/config.schema.json (editor hover) and the README "Configuration".\n' +
    stringify(value, { lineWidth: 0 });
  const envText =
    '# Leadgate secrets, written by `npx leadgate init`. Never commit this file.\n' +
    '# docker compose reads it (env_file); in a shell: `set -a; . ./.env; set +a` before `npx leadgate start`.\n' +
    env.map((v) => `\n# ${v.comment}\n${v.name}=${v.value}`).join('\n') +
    '\n';
  const hooks = a.channels.map((c, i) => `${c}: ${recipes[i]!.hook(base)}\n    ${recipes[i]!.note}`);
  return { config, env: envText, hooks };
}

const SHIPPED = fileURLToPath(new URL('../../', import.meta.url));

function parseArgs(args: string[]): { opts: Record<string, string>; flags: Set<string> } {
  const opts: Record<string, string> = {};
  const flags = new Set<string>();
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (['--yes', '-y', '--force', '--help', '-h'].includes(a)) flags.add(a.replace(/^-+/, '').replace(/^y$/, 'yes').replace(/^h$/, 'help'));
    else if (a.startsWith('--')) opts[a.slice(2)] = args[++i] ?? '';
    else throw new Error(`unexpected argument "${a}"`);
  }
  return { opts, flags };
}

const USAGE = `usage: leadgate init [--crm amocrm|bitrix24] [--url <account address>] [--channels ${Object.keys(INIT_CHANNELS).join(',')}]
                     [--public-url https://hub.example.ru] [--dir <dir>] [--config leadgate.yaml] [--env-file .env] [--yes] [--force]
  Writes a working leadgate.yaml and a .env template. --yes asks nothing (then --url is required).\n`;

async function ask(questions: { key: string; text: string; def?: string }[], known: Record<string, string>): Promise<Record<string, string>> {
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  const out = { ...known };
  try {
    for (const q of questions) {
      if (out[q.key] !== undefined) continue;
      const answer = (await rl.question(`${q.text}${q.def ? ` [${q.def}]` : ''}: `)).trim();
      out[q.key] = answer || q.def || '';
    }
  } finally {
    rl.close();
  }
  return out;
}

export async function initCommand(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs(args);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const { opts, flags } = parsed;
  if (flags.has('help')) {
    process.stdout.write(USAGE);
    return 0;
  }
  const dir = resolve(opts.dir ?? '.');
  const configFile = join(dir, opts.config ?? 'leadgate.yaml');
  const envFile = join(dir, opts['env-file'] ?? '.env');
  const existing = [configFile, envFile].filter((f) => existsSync(f));
  if (existing.length && !flags.has('force')) {
    process.stderr.write(`leadgate init: ${existing.map((f) => relative(process.cwd(), f) || f).join(' and ')} ${existing.length > 1 ? 'exist' : 'exists'} already; nothing written. Use --force to overwrite, or --dir/--config/--env-file to write elsewhere.\n`);
    return 1;
  }
  let answers: Record<string, string> = { ...opts };
  if (!flags.has('yes')) {
    if (!process.stdin.isTTY && (opts.url === undefined || opts.crm === undefined || opts.channels === undefined)) {
      process.stderr.write(`leadgate init: no terminal to ask in; pass --crm, --url and --channels with --yes\n${USAGE}`);
      return 2;
    }
    answers = await ask(
      [
        { key: 'crm', text: `CRM (${INIT_CRMS.join(' or ')})`, def: 'amocrm' },
        { key: 'url', text: 'Account address (amoCRM: https://acme.amocrm.ru, Kommo: https://acme.kommo.com, Bitrix24: https://acme.bitrix24.ru)' },
        { key: 'channels', text: `Channels, comma-separated (${Object.keys(INIT_CHANNELS).join(', ')})`, def: 'form,tilda' },
        { key: 'public-url', text: "The hub's public address for webhook URLs (empty: decide later)", def: '' },
      ],
      answers,
    );
  }
  const crm = (answers.crm || 'amocrm') as InitCrm;
  if (!answers.url) {
    process.stderr.write(`leadgate init: --url is required (the ${crm} account address)\n${USAGE}`);
    return 2;
  }
  // The default mapping sits next to the config; copied (with its schema) when the directory has none.
  const mappingRel = `mappings/${crm}.yaml`;
  const mappingAbs = join(dir, mappingRel);
  let result: InitResult;
  try {
    result = renderInit(
      {
        crm,
        url: answers.url,
        channels: (answers.channels || 'form').split(',').map((c) => c.trim()).filter(Boolean),
        ...(answers['public-url'] ? { publicUrl: answers['public-url'] } : {}),
      },
      { mappingPath: mappingRel, schemaPath: './schemas/config.schema.json' },
    );
  } catch (err) {
    process.stderr.write(`leadgate init: ${(err as Error).message}\n`);
    return 2;
  }
  mkdirSync(dir, { recursive: true });
  // The files the config and mapping point at (editor schemas, the default mapping), when the directory lacks them.
  for (const rel of [mappingRel, 'mappings/mapping.schema.json', 'schemas/config.schema.json']) {
    const abs = join(dir, rel);
    if (existsSync(abs)) continue;
    mkdirSync(dirname(abs), { recursive: true });
    copyFileSync(join(SHIPPED, rel), abs);
  }
  writeFileSync(configFile, result.config);
  writeFileSync(envFile, result.env, { mode: 0o600 });
  const show = (f: string): string => relative(process.cwd(), f) || f;
  process.stdout.write(
    `Wrote ${show(configFile)} and ${show(envFile)} (mapping: ${show(mappingAbs)}).\n\n` +
      `1. Fill in the empty values in ${show(envFile)} (each line says where to find it).\n` +
      `2. Paste each address into the sender's cabinet:\n${result.hooks.map((h) => `   ${h}`).join('\n')}\n` +
      `3. Load .env (\`set -a; . ./.env; set +a\`; docker compose reads it itself), check with \`npx leadgate doctor\`, then \`npx leadgate start\`.\n`,
  );
  return 0;
}
