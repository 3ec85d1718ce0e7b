import type { CrmIO } from '../sdk/index.ts';

/** Commands contributed by channel/CRM features (telegram, oauth, doctor). Keys are the first CLI word. */
export const extraCommands: Record<string, (args: string[]) => Promise<number>> = {
  oauth: oauthCommand,
  telegram: async (args) => (await import('./telegram.command.ts')).telegramCommand(args),
};

/** CRMs whose accounts authorize with an OAuth code: exchange it and store the token pair (in Redis, under the account's lock). */
const OAUTH_EXCHANGES: Record<string, () => Promise<(io: CrmIO, settings: unknown, code: string) => Promise<{ expiresAt: string }>>> = {
  amocrm: async () => (await import('../../connectors/crm/amocrm/index.ts')).oauthCommandExchange,
};

/**
 * `leadgate oauth <crm> <accountId> <code>`: the one-time step of an OAuth account. The code comes from the
 * integration's page in the CRM (amoCRM: valid 20 minutes, single use); the tokens are refreshed from then on.
 */
async function oauthCommand(args: string[]): Promise<number> {
  const [crmId, accountId, code] = args;
  const usage = `usage: leadgate oauth <${Object.keys(OAUTH_EXCHANGES).join('|')}> <accountId> <authorization code>\n`;
  if (!crmId || !accountId || !code) {
    process.stderr.write(usage);
    return 2;
  }
  const load = OAUTH_EXCHANGES[crmId];
  if (!load) {
    process.stderr.write(`"${crmId}" has no OAuth code exchange.\n${usage}`);
    return 2;
  }
  const { loadRuntimeConfig } = await import('../runtime/load-runtime-config.ts');
  const config = loadRuntimeConfig();
  if (!config) {
    process.stderr.write('no configuration: set LEADGATE_CONFIG or create ./leadgate.yaml with the CRM account first\n');
    return 2;
  }
  const account = config.crm.get(accountId);
  if (!account || account.connector.id !== crmId) {
    const ids = [...config.crm.values()].filter((a) => a.connector.id === crmId).map((a) => a.config.id);
    process.stderr.write(`no ${crmId} account "${accountId}" in ${config.file}; ${ids.length ? `known: ${ids.join(', ')}` : `add one under crm: with connector: ${crmId}`}\n`);
    return 2;
  }
  const [{ chooseRedis }, { createRedis }, { makeKeys }, { createAccountRuntime }, { createLogger }, { CrmError }] = await Promise.all([
    import('../infra/embedded-redis.ts'),
    import('../infra/redis.ts'),
    import('../infra/keys.ts'),
    import('../pipeline/crm-runtime.ts'),
    import('../infra/logger.ts'),
    import('../sdk/errors.ts'),
  ]);
  const redis = await chooseRedis();
  const conn = createRedis(redis.url, 'plain');
  try {
    const rt = createAccountRuntime({ account, redis: conn, keys: makeKeys(config.raw.redisPrefix), log: createLogger({ name: 'leadgate-oauth', level: 'warn' }) });
    const exchange = await load();
    const r = await exchange(rt.io, account.settings, code);
    process.stdout.write(`Authorized ${crmId} account "${accountId}": tokens stored in Redis (${redis.how}); the access token is valid until ${r.expiresAt} and is refreshed automatically.\n`);
    return 0;
  } catch (err) {
    if (err instanceof CrmError && err.failure.kind === 'config') {
      process.stderr.write(`${err.failure.cause}.\nFix: ${err.failure.fix}\n`);
      return 1;
    }
    throw err;
  } finally {
    conn.disconnect();
    redis.child?.kill();
  }
}
