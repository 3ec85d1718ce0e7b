/**
 * `npx leadgate doctor`: checks what makes "200 = stored, delivered once" true in this installation and prints
 * each problem with its fix. Exit code 1 when any problem is found (warnings alone give 0).
 * - the config loads (file, line and fix otherwise);
 * - Redis: AOF on, `maxmemory-policy noeviction`, AOF writes succeeding, version, memory headroom;
 * - failed deliveries waiting for a replay;
 * - each CRM account: credentials accepted, token expiry, mapping against the live account (`AccountRuntime.facts()`).
 * It never starts a Redis of its own and writes nothing but the CRM's token cache.
 */
import type { Cluster, Redis } from 'ioredis';
import { Queue } from 'bullmq';
import pino from 'pino';
import type { RuntimeConfig } from '../config/load.ts';
import { makeKeys } from '../infra/keys.ts';
import { createRedis, waitReady, withTimeout } from '../infra/redis.ts';

const isCluster = (r: Redis): boolean => (r as unknown as { isCluster?: boolean }).isCluster === true;
import { createAccountRuntime } from '../pipeline/crm-runtime.ts';
import { OPERATED_QUEUES } from '../pipeline/queues.ts';
import { ConfigError, CrmError } from '../sdk/errors.ts';

export interface Finding {
  level: 'ok' | 'warn' | 'problem';
  what: string;
  fix?: string;
}

const PROBLEM = (what: string, fix: string): Finding => ({ level: 'problem', what, fix });
const WARN = (what: string, fix?: string): Finding => ({ level: 'warn', what, ...(fix ? { fix } : {}) });
const OK = (what: string): Finding => ({ level: 'ok', what });

/** Redis settings that decide whether a 200 survives a restart. `info` and `config` are raw server answers. */
export function judgeRedis(info: Record<string, string>, config: Record<string, string | undefined>): Finding[] {
  const out: Finding[] = [];
  const version = info.redis_version ?? '?';
  const [major = 0, minor = 0] = version.split('.').map(Number);
  if (major < 6 || (major === 6 && minor < 2)) out.push(PROBLEM(`Redis ${version} is older than 6.2, which BullMQ needs`, 'upgrade Redis to 6.2 or later (7.x recommended)'));
  else out.push(OK(`Redis ${version} answers`));

  const aofOn = config.appendonly !== undefined ? config.appendonly === 'yes' : info.aof_enabled === '1';
  const fsync = config.appendfsync;
  if (!aofOn) {
    out.push(PROBLEM('Redis persistence: AOF is off (appendonly no): a restart loses every event already answered 200 but not yet delivered', 'set `appendonly yes` and `appendfsync everysec` in redis.conf (or `redis-cli CONFIG SET appendonly yes` then `redis-cli CONFIG REWRITE`); docker-compose.yml runs Redis this way'));
  } else if (fsync === 'no') {
    out.push(WARN('Redis AOF is on with appendfsync no: the OS decides when to write; an OS crash can lose tens of seconds of events', 'set `appendfsync everysec` (at most ~1 s lost on an OS crash) or `always`'));
  } else {
    out.push(OK(`Redis persistence: AOF on (appendfsync ${fsync ?? 'unknown: CONFIG is disabled'})${fsync === 'everysec' ? '; a Redis crash loses nothing acknowledged, an OS crash at most ~1 s' : ''}`));
  }
  if (info.aof_last_write_status && info.aof_last_write_status !== 'ok') {
    out.push(PROBLEM(`Redis cannot write its AOF (aof_last_write_status ${info.aof_last_write_status}): writes are refused or not durable`, 'check the disk of the Redis data directory (space, permissions), then `redis-cli INFO persistence`'));
  }
  const policy = config['maxmemory-policy'] ?? info.maxmemory_policy;
  if (policy && policy !== 'noeviction') {
    out.push(PROBLEM(`Redis maxmemory-policy is ${policy}: under memory pressure Redis deletes keys — queued events, idempotency keys and step journals — silently`, 'set `maxmemory-policy noeviction` (then a full Redis refuses writes and the gateway answers 503 instead of losing data)'));
  } else if (policy) out.push(OK('Redis maxmemory-policy noeviction'));
  else out.push(WARN('Redis maxmemory-policy could not be read (CONFIG and INFO hide it)', 'make sure it is noeviction'));
  const used = Number(info.used_memory);
  const max = Number(info.maxmemory);
  if (max > 0 && used / max > 0.8) {
    out.push(WARN(`Redis uses ${Math.round((used / max) * 100)} % of maxmemory: when it is full the gateway answers 503`, 'raise maxmemory, or drain the backlog (is a CRM down? see `leadgate jobs failed`)'));
  }
  return out;
}

function parseInfo(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) out[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return out;
}

async function configGet(r: Redis, name: string): Promise<string | undefined> {
  try {
    const v = (await r.call('CONFIG', 'GET', name)) as string[];
    return v[1];
  } catch {
    return undefined; // managed Redis often disables CONFIG; INFO is the fallback
  }
}

/** Runs every check; returns the findings in the order they are printed. */
export async function runDoctor(o: { config: RuntimeConfig; redisUrl: string; env?: Readonly<Record<string, string | undefined>>; crmTimeoutMs?: number }): Promise<Finding[]> {
  const out: Finding[] = [OK(`config ${o.config.file}: ${o.config.sources.size} source(s), ${o.config.crm.size} CRM account(s)`)];
  for (const s of o.config.sources.values()) {
    if (s.secret === undefined && !s.connector.verify && s.connector.intake.mode === 'webhook') {
      out.push(WARN(`source "${s.config.id}" (${s.connector.id}) has no secret: anyone who learns its URL can post leads`, `add secretEnv: ${s.config.id.toUpperCase().replace(/-/g, '_')}_SECRET and send the value in X-Leadgate-Secret or ?secret=`));
    }
  }
  // The hub's own connection (plain, Sentinel or Cluster URL), failing fast: the doctor never waits on a dead Redis.
  let redis: Redis;
  try {
    redis = createRedis(o.redisUrl, 'producer');
  } catch (err) {
    out.push(PROBLEM(`REDIS_URL: ${(err as Error).message}`, 'write redis://host:6379, redis-sentinel://s1:26379,s2:26379/mymaster or redis-cluster://n1:6379,n2:6379'));
    return out;
  }
  try {
    try {
      await waitReady(redis, 3_000);
      await withTimeout(redis.ping(), 2_000, 'PING');
    } catch (err) {
      out.push(PROBLEM(`Redis at ${redactUrl(o.redisUrl)} does not answer (${(err as Error).message})`, 'start Redis (`docker compose up -d redis`) or set REDIS_URL to where it runs'));
      return out;
    }
    // Every master must persist: on a Cluster, whichever master holds the hub's slot today may fail over tomorrow.
    const masters = isCluster(redis) ? (redis as unknown as Cluster).nodes('master') : [redis];
    for (const node of masters) {
      const info = parseInfo(await node.info());
      const cfg = { appendonly: await configGet(node, 'appendonly'), appendfsync: await configGet(node, 'appendfsync'), 'maxmemory-policy': await configGet(node, 'maxmemory-policy') };
      const at = masters.length > 1 ? `${node.options.host}:${node.options.port}: ` : '';
      out.push(...judgeRedis(info, cfg).map((f) => (at ? { ...f, what: `${at}${f.what}` } : f)));
    }
    out.push(...(await failedJobs(redis, o.config.raw.redisPrefix)));
    for (const account of o.config.crm.values()) out.push(...(await checkAccount(o.config, account.config.id, redis, o.crmTimeoutMs ?? 30_000)));
    return out;
  } finally {
    redis.disconnect();
  }
}

async function failedJobs(redis: Redis, prefix: string): Promise<Finding[]> {
  const queues = OPERATED_QUEUES.map((n) => new Queue(n, { connection: redis, prefix }));
  try {
    const failed: Record<string, number> = {};
    for (const q of queues) failed[q.name] = (await q.getJobCounts('failed')).failed ?? 0;
    const total = Object.values(failed).reduce((a, b) => a + b, 0);
    if (!total) return [OK('no failed jobs')];
    return [WARN(`${total} job(s) in the failed set (${Object.entries(failed).map(([q, n]) => `${q}: ${n}`).join(', ')}): these leads are not in the CRM`, 'read the reasons with `npx leadgate jobs failed`, fix the cause, then `npx leadgate replay --since <time>`')];
  } finally {
    await Promise.all(queues.map((q) => q.close().catch(() => undefined)));
  }
}

async function checkAccount(config: RuntimeConfig, id: string, redis: Redis, timeoutMs: number): Promise<Finding[]> {
  const account = config.crm.get(id)!;
  const label = `CRM account "${id}" (${account.connector.id})`;
  const rt = createAccountRuntime({ account, redis, keys: makeKeys(config.raw.redisPrefix), log: pino({ level: 'silent' }), configFile: config.file });
  try {
    const facts = await withTimeout(rt.facts(), timeoutMs, `${label} inspection`);
    const mapped = (['lead', 'contact'] as const).reduce((n, e) => n + Object.keys(account.mapping[e].fields).length, 0);
    return [OK(`${label}: credentials accepted, ${facts.fields.length} fields in the account, ${mapped} mapped field(s) found (${account.mapping.file})`), ...facts.warnings.map((w) => WARN(`${label}: ${w}`))];
  } catch (err) {
    if (err instanceof ConfigError) {
      // The account's own problems carry their fix inline ("…; fix: …"): show it on the fix line.
      const body = err.message.replace(/\. Fix: .*$/s, '');
      const at = body.indexOf(`${err.key}: `);
      const problem = at >= 0 ? body.slice(at + err.key.length + 2) : body;
      const parts = problem.split(/;\s*fix:\s*/i);
      return [parts.length === 2 ? PROBLEM(`${label}: ${parts[0]}`, parts[1]!) : PROBLEM(`${label}: ${problem}`, err.fix)];
    }
    if (err instanceof CrmError && err.failure.kind === 'config') return [PROBLEM(`${label}: ${err.failure.cause}`, err.failure.fix)];
    const cause = err instanceof CrmError ? err.failure.cause : (err as Error).message;
    return [PROBLEM(`${label}: not reachable or not answering (${cause})`, `check crm[].settings (base URL ${account.connector.baseUrl(account.settings)}) and that this host can reach it`)];
  }
}

function redactUrl(url: string): string {
  return url.replace(/\/\/([^@/]*)@/, '//***@');
}

/** Prints findings; returns the exit code. */
export function printFindings(findings: Finding[], write: (s: string) => void = (s) => process.stdout.write(s)): number {
  const mark = { ok: '✔', warn: '!', problem: '✘' } as const;
  for (const f of findings) {
    write(`  ${mark[f.level]} ${f.what}\n`);
    if (f.fix) write(`      fix: ${f.fix}\n`);
  }
  const problems = findings.filter((f) => f.level === 'problem').length;
  const warnings = findings.filter((f) => f.level === 'warn').length;
  write(`\n${problems ? `${problems} problem(s)` : 'No problems'}${warnings ? `, ${warnings} warning(s)` : ''}.\n`);
  return problems ? 1 : 0;
}

export async function doctorCommand(_args: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const { loadRuntimeConfig, findConfigFile } = await import('../runtime/load-runtime-config.ts');
  process.stdout.write('Leadgate doctor\n');
  let config: RuntimeConfig | null;
  try {
    config = loadRuntimeConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return printFindings([PROBLEM(`configuration: ${err.message.replace(/\. Fix: .*$/s, '')}`, err.fix)]);
    throw err;
  }
  if (!config) {
    return printFindings([PROBLEM(`no configuration (${findConfigFile(env) ?? 'LEADGATE_CONFIG unset, no ./leadgate.yaml'})`, 'copy leadgate.example.yaml to leadgate.yaml (or set LEADGATE_CONFIG) and fill in your sources and CRM account')]);
  }
  const redisUrl = env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  process.stdout.write(`  config ${config.file}, Redis ${redactUrl(redisUrl)}${env.REDIS_URL ? '' : ' (REDIS_URL unset)'}\n\n`);
  return printFindings(await runDoctor({ config, redisUrl, env }));
}
