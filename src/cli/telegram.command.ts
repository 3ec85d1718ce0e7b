/**
 * `leadgate telegram <set-webhook|delete-webhook|webhook-info|link|poll> <sourceId> …`: the Telegram chores.
 *
 *   set-webhook <sourceId> [--url https://hub…/hooks/telegram/<sourceId>] [--drop-pending]
 *   delete-webhook <sourceId> [--drop-pending]
 *   webhook-info <sourceId>
 *   link <sourceId> --utm-source yandex [--utm-medium cpc] [--utm-campaign …] [--utm-content …] [--utm-term …]
 *        [--yclid …] [--gclid …] [--landing https://…] [--ttl-days 90]
 *   poll <sourceId>            long polling for development: getUpdates → the same intake store as the webhook
 */
import { parseArgs } from 'node:util';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { ResolvedSource, RuntimeConfig } from '../config/load.ts';
import type { Lead } from '../sdk/lead.ts';
import type { Keys } from '../infra/keys.ts';
import type { IntakeStore } from '../pipeline/enqueue.ts';
import { buildStartLink, mintAttributionCode } from '../../connectors/channels/telegram/deeplink.ts';
import type { TelegramSettings } from '../../connectors/channels/telegram/settings.ts';

const USAGE = `usage:
  leadgate telegram set-webhook <sourceId> [--url https://hub.example.ru/hooks/telegram/<sourceId>] [--drop-pending]
  leadgate telegram delete-webhook <sourceId> [--drop-pending]
  leadgate telegram webhook-info <sourceId>
  leadgate telegram link <sourceId> --utm-source S [--utm-medium M] [--utm-campaign C] [--utm-content X] [--utm-term T]
                         [--yclid ID] [--gclid ID] [--landing URL] [--ttl-days 90]
  leadgate telegram poll <sourceId>     (development: long polling instead of a webhook; run \`leadgate worker\` too)
`;

/** How long a deep link's attribution is kept. @defaultValue 90 days */
export const DEFAULT_LINK_TTL_DAYS = 90;

export interface Attribution {
  utm: Lead['utm'];
  tracking: Lead['tracking'];
}

/**
 * Mints `src_<code>`, stores the attribution under `keys.attribution(code)` (read by the deliver processor when a
 * `/start src_<code>` lead arrives) and returns the t.me link to put on the site or in the ad.
 */
export async function createTelegramLink(o: { redis: Redis; keys: Keys; botUsername: string; attribution: Attribution; ttlDays?: number; random?: (n: number) => Uint8Array }): Promise<{ code: string; link: string; expiresAt: string }> {
  const ttlDays = o.ttlDays ?? DEFAULT_LINK_TTL_DAYS;
  if (!(ttlDays > 0 && ttlDays <= 3650)) throw new RangeError(`--ttl-days: expected 1–3650, received ${ttlDays}`);
  const code = o.random ? mintAttributionCode(o.random) : mintAttributionCode();
  const link = buildStartLink(o.botUsername, code);
  const ttlSec = Math.round(ttlDays * 86_400);
  const ok = await o.redis.set(o.keys.attribution(code), JSON.stringify(o.attribution), 'EX', ttlSec, 'NX');
  if (ok !== 'OK') throw new Error('attribution code collision; run the command again');
  return { code, link, expiresAt: new Date(Date.now() + ttlSec * 1000).toISOString() };
}

/**
 * Development intake without a public URL: getUpdates batches go through the same `putRaw` as a poller's items
 * (decode → eventId `tg:<update_id>` → the idempotent intake store). Resolves when `signal` aborts.
 */
export async function runTelegramPoll(o: { src: ResolvedSource; intake: IntakeStore; token: string; signal: AbortSignal; log: Logger; timeoutSec?: number }): Promise<{ stored: number; duplicates: number }> {
  const [{ pollUpdates }, { putRaw }] = await Promise.all([import('../../connectors/channels/telegram/updates.ts'), import('../pipeline/poll-runner.ts')]);
  const settings = o.src.settings as TelegramSettings;
  const counts = { stored: 0, duplicates: 0 };
  const batches = pollUpdates({
    token: o.token,
    apiRoot: settings.apiRoot,
    signal: o.signal,
    ...(o.timeoutSec !== undefined ? { timeoutSec: o.timeoutSec } : {}),
    onError: (err, waitMs) => {
      const hint = /409|webhook is active/i.test(err.message) ? ` (a webhook is set: run \`leadgate telegram delete-webhook ${o.src.config.id}\` first)` : '';
      o.log.warn({ err: err.message, waitMs }, `getUpdates failed${hint}`);
    },
  });
  for await (const batch of batches) {
    for (const raw of batch) {
      // Until the put succeeds the generator stays paused, so the offset does not move on: Telegram keeps the batch.
      let r: 'accepted' | 'duplicate' | undefined;
      for (let attempt = 0; r === undefined; attempt++) {
        try {
          r = await putRaw(o.intake, o.src, raw);
        } catch (err) {
          if (o.signal.aborted) return counts;
          o.log.warn({ err: (err as Error).message }, 'intake store unavailable: retrying');
          await new Promise((res) => setTimeout(res, Math.min(10_000, 250 * 2 ** Math.min(attempt, 6))));
        }
      }
      if (r === 'accepted') counts.stored++;
      else counts.duplicates++;
    }
    o.log.info({ updates: batch.length, ...counts }, 'updates stored');
  }
  return counts;
}

export async function telegramCommand(args: string[]): Promise<number> {
  const [sub, sourceId, ...rest] = args;
  if (!sub || !sourceId || sub === 'help' || sub.startsWith('-')) {
    process.stderr.write(USAGE);
    return 2;
  }
  const { values } = parseArgs({
    args: rest,
    options: {
      url: { type: 'string' },
      'drop-pending': { type: 'boolean', default: false },
      'utm-source': { type: 'string' },
      'utm-medium': { type: 'string' },
      'utm-campaign': { type: 'string' },
      'utm-content': { type: 'string' },
      'utm-term': { type: 'string' },
      yclid: { type: 'string' },
      gclid: { type: 'string' },
      landing: { type: 'string' },
      'ttl-days': { type: 'string' },
    },
    strict: true,
  });
  const { loadRuntimeConfig } = await import('../runtime/load-runtime-config.ts');
  const config = loadRuntimeConfig();
  if (!config) {
    process.stderr.write('no configuration: set LEADGATE_CONFIG or create ./leadgate.yaml with the Telegram source first (see connectors/channels/telegram/README.md)\n');
    return 2;
  }
  const src = config.sources.get(sourceId);
  if (!src || src.connector.id !== 'telegram') {
    const ids = [...config.sources.values()].filter((s) => s.connector.id === 'telegram').map((s) => s.config.id);
    process.stderr.write(`no telegram source "${sourceId}" in ${config.file}; ${ids.length ? `known: ${ids.join(', ')}` : 'add one under sources: with connector: telegram'}\n`);
    return 2;
  }
  const settings = src.settings as TelegramSettings;
  const token = process.env[settings.tokenEnv];
  const { Telegram } = await import('telegraf');
  const needsToken = sub !== 'link' || !settings.botUsername;
  if (needsToken && !token) {
    process.stderr.write(`${settings.tokenEnv} is empty: set it to the bot token from @BotFather (the source's settings.tokenEnv)\n`);
    return 2;
  }
  const tg = token ? new Telegram(token, { apiRoot: settings.apiRoot }) : undefined;

  switch (sub) {
    case 'set-webhook': {
      const url = values.url ?? (config.raw.gateway.publicUrl ? `${config.raw.gateway.publicUrl.replace(/\/+$/, '')}/hooks/telegram/${sourceId}` : undefined);
      if (!url) {
        process.stderr.write('no URL: pass --url https://hub.example.ru/hooks/telegram/<sourceId> or set gateway.publicUrl in the config\n');
        return 2;
      }
      if (!src.secret) {
        process.stderr.write(`source "${sourceId}" has no secretEnv: Telegram must send a secret_token the gateway checks\n`);
        return 2;
      }
      const { registerWebhook } = await import('../../connectors/channels/telegram/bot.ts');
      const { Telegraf } = await import('telegraf');
      const bot = new Telegraf(token!, { telegram: { apiRoot: settings.apiRoot } });
      await registerWebhook(bot, { url, secretToken: src.secret, dropPendingUpdates: values['drop-pending'] });
      process.stdout.write(`Webhook set: ${url} (secret_token = ${src.config.secretEnv}).\n`);
      return printInfo(tg!);
    }
    case 'delete-webhook':
      await tg!.deleteWebhook({ drop_pending_updates: values['drop-pending'] });
      process.stdout.write('Webhook deleted: the bot now gets updates only through `leadgate telegram poll`.\n');
      return 0;
    case 'webhook-info':
      return printInfo(tg!);
    case 'link':
      return linkCommand(config, settings, tg, values);
    case 'poll':
      return pollCommand(config, src, token!);
    default:
      process.stderr.write(`unknown telegram command "${sub}"\n${USAGE}`);
      return 2;
  }
}

async function printInfo(tg: import('telegraf').Telegram): Promise<number> {
  const info = await tg.getWebhookInfo();
  process.stdout.write(
    `url: ${info.url || '(none)'}\npending updates: ${info.pending_update_count}\n` +
      (info.last_error_message ? `last error: ${info.last_error_message} at ${new Date((info.last_error_date ?? 0) * 1000).toISOString()}\n` : 'last error: none\n') +
      (info.allowed_updates ? `allowed updates: ${info.allowed_updates.join(', ')}\n` : ''),
  );
  return 0;
}

async function linkCommand(config: RuntimeConfig, settings: TelegramSettings, tg: import('telegraf').Telegram | undefined, v: Record<string, string | boolean | undefined>): Promise<number> {
  const str = (k: string): string | undefined => (typeof v[k] === 'string' && v[k] !== '' ? (v[k] as string) : undefined);
  const utm: Lead['utm'] = {};
  for (const k of ['source', 'medium', 'campaign', 'content', 'term'] as const) {
    const x = str(`utm-${k}`);
    if (x) utm[k] = x;
  }
  const tracking: Lead['tracking'] = {};
  if (str('yclid')) tracking.yclid = str('yclid');
  if (str('gclid')) tracking.gclid = str('gclid');
  if (str('landing')) tracking.landingUrl = str('landing');
  if (!Object.keys(utm).length && !Object.keys(tracking).length) {
    process.stderr.write(`nothing to carry: pass at least --utm-source\n${USAGE}`);
    return 2;
  }
  const ttlDays = str('ttl-days') !== undefined ? Number(str('ttl-days')) : DEFAULT_LINK_TTL_DAYS;
  const botUsername = settings.botUsername ?? (await tg!.getMe()).username;
  const [{ chooseRedis }, { createRedis }, { makeKeys }] = await Promise.all([import('../infra/embedded-redis.ts'), import('../infra/redis.ts'), import('../infra/keys.ts')]);
  const choice = await chooseRedis();
  const redis = createRedis(choice.url, 'plain');
  try {
    const r = await createTelegramLink({ redis, keys: makeKeys(config.raw.redisPrefix), botUsername, attribution: { utm, tracking }, ttlDays });
    process.stdout.write(`${r.link}\n`);
    process.stderr.write(`code ${r.code} stored in Redis (${choice.how}) until ${r.expiresAt}; a lead opened by /start ${r.code} gets these UTM values.\n`);
    return 0;
  } finally {
    redis.disconnect();
    choice.child?.kill();
  }
}

async function pollCommand(config: RuntimeConfig, src: ResolvedSource, token: string): Promise<number> {
  const [{ chooseRedis }, { createRedis }, { makeKeys }, { createIntakeStore }, { QUEUE_INTAKE }, { intakeJobOptions }, { createLogger }] = await Promise.all([
    import('../infra/embedded-redis.ts'),
    import('../infra/redis.ts'),
    import('../infra/keys.ts'),
    import('../pipeline/enqueue.ts'),
    import('../pipeline/queues.ts'),
    import('../pipeline/worker.ts'),
    import('../infra/logger.ts'),
  ]);
  const log = createLogger({ name: 'leadgate-telegram-poll' });
  const choice = await chooseRedis();
  const redis = createRedis(choice.url, 'worker');
  const cfg = config.raw;
  const queue = new Queue(QUEUE_INTAKE, { connection: redis, prefix: cfg.redisPrefix, defaultJobOptions: intakeJobOptions(10) });
  queue.on('error', () => undefined);
  const intake = createIntakeStore({ queue, redis, keys: makeKeys(cfg.redisPrefix), ttlSec: Math.round(cfg.idempotencyTtlDays * 86_400), timeoutMs: 5_000 });
  const stop = new AbortController();
  process.once('SIGINT', () => stop.abort());
  process.once('SIGTERM', () => stop.abort());
  log.info(`polling getUpdates for source "${src.config.id}" (Redis: ${choice.how}); run \`leadgate worker\` alongside to deliver. Ctrl-C stops.`);
  try {
    const r = await runTelegramPoll({ src, intake, token, signal: stop.signal, log });
    log.info(r, 'stopped');
    return 0;
  } finally {
    await queue.close().catch(() => undefined);
    redis.disconnect();
    choice.child?.kill();
  }
}
