import { createLogger } from '../infra/logger.ts';
import { chooseRedis } from '../infra/embedded-redis.ts';
import { startGateway } from '../runtime/gateway.ts';
import { startWorkers } from '../pipeline/worker.ts';
import { DEMO_PREFIX, demoConfig, loadRuntimeConfig } from '../runtime/load-runtime-config.ts';
import { createRedis } from '../infra/redis.ts';
import type { RuntimeConfig } from '../config/load.ts';
import { createMetrics } from '../infra/metrics.ts';
import { startMetricsServer } from '../gateway/metrics.plugin.ts';

/** `start` = gateway + workers; `gateway`, `worker` = one role, for running many of each. */
export async function serve(role: 'start' | 'gateway' | 'worker', _args: string[]): Promise<number> {
  const log = createLogger({ name: `leadgate-${role}` });
  const redis = await chooseRedis();
  log.info(`Redis: using ${redis.how}`);
  let config: RuntimeConfig | null = loadRuntimeConfig();
  const closers: (() => Promise<void>)[] = [];
  if (!config) {
    if (role !== 'start') throw new Error('no configuration: set LEADGATE_CONFIG or create ./leadgate.yaml (copy leadgate.example.yaml); demo mode is only for `leadgate start`');
    const port = Number(process.env.PORT ?? 3000);
    let crmBaseUrl: string | undefined;
    let token: string | undefined;
    try {
      const { startAmoEmulator } = await import('../../test/emulators/amocrm/start.ts');
      const emu = await startAmoEmulator({ port: Number(process.env.LEADGATE_DEMO_CRM_PORT ?? 0) });
      crmBaseUrl = emu.url;
      token = emu.token;
      closers.push(() => emu.close());
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'amoCRM emulator not available: demo leads are only printed');
    }
    const r = createRedis(redis.url, 'plain');
    const stale = await r.keys(`${DEMO_PREFIX}*`);
    if (stale.length) await r.del(...stale);
    r.disconnect();
    config = demoConfig({ port, ...(crmBaseUrl ? { crmBaseUrl } : {}), ...(token ? { token } : {}) });
    const base = `http://127.0.0.1:${port}`;
    process.stdout.write(
      [
        '',
        '  Leadgate is running in DEMO MODE (no leadgate.yaml / LEADGATE_CONFIG found).',
        crmBaseUrl ? `  Leads go into a local amoCRM emulator at ${crmBaseUrl}. See them with:\n    curl -s -H 'Authorization: Bearer ${token}' ${crmBaseUrl}/api/v4/leads?with=contacts` : '  No CRM: each normalised lead is printed to the log.',
        '  Send a test inquiry:',
        `    curl -s -X POST ${base}/hooks/form/demo -H 'content-type: application/json' \\`,
        `      -d '{"name":"Иван","phone":"8 912 345-67-89","email":"ivan@example.ru","utm_source":"yandex"}'`,
        '  Configure real sources and your CRM: copy leadgate.example.yaml to leadgate.yaml.',
        '',
      ].join('\n') + '\n',
    );
  }
  const env = process.env;
  // One registry per process; the gateway serves it at /metrics, a lone worker on LEADGATE_METRICS_PORT.
  const metrics = createMetrics({ role, sources: new Map([...config.sources].map(([id, s]) => [id, { channel: s.connector.id }])) });
  closers.push(() => metrics.close());
  if (role === 'worker') {
    const port = env.LEADGATE_METRICS_PORT;
    if (port && /^\d+$/.test(port)) {
      const m = await startMetricsServer({ metrics, port: Number(port), ...(env.LEADGATE_METRICS_HOST ? { host: env.LEADGATE_METRICS_HOST } : {}) });
      closers.push(() => m.close());
      log.info(`worker metrics at ${m.url}`);
    } else log.info('worker metrics off: set LEADGATE_METRICS_PORT (e.g. 9464) to expose GET /metrics for Prometheus');
  }
  if (role === 'start' || role === 'worker') {
    const w = await startWorkers({
      config,
      redisUrl: redis.url,
      log,
      env,
      metrics,
      onDelivered: config.demo ? (e) => log.info({ delivery: e.deliveryKey, kind: e.kind, receipt: e.receipt, reason: e.reason }, 'demo: outcome finished') : undefined,
    });
    closers.unshift(() => w.close());
    log.info({ accounts: [...config.crm.keys()], sources: [...config.sources.keys()] }, 'workers started');
  }
  if (role === 'start' || role === 'gateway') {
    const g = await startGateway({ config, redisUrl: redis.url, log, metrics, env });
    closers.unshift(() => g.close());
    log.info(`gateway listening on ${g.url}`);
  }
  const stop = async (sig: string): Promise<void> => {
    log.info(`${sig}: shutting down`);
    for (const c of closers) await c().catch(() => undefined);
    redis.child?.kill('SIGTERM');
    process.exit(0);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
  return -1; // keep running
}
