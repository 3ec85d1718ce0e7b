/**
 * Listen on a real port. Run directly for manual use:
 *   npx tsx test/emulators/bitrix24/start.ts            (PORT env, default 3102)
 * It prints the webhook URL, the OAuth client credentials and a first token pair.
 */
import { pathToFileURL } from 'node:url';
import { buildBitrixEmulator } from './app.ts';
import type { FaultController } from './faults.ts';
import type { TokenPair } from './oauth.ts';
import type { BitrixEmulatorOptions } from './options.ts';
import type { BitrixState } from './state.ts';
import type { EmulatorStats } from './stats.ts';

export interface StartBitrixEmulatorOptions extends BitrixEmulatorOptions {
  /** TCP port; 0 picks a free one. @defaultValue 0 */
  port?: number;
  /** Interface to bind. @defaultValue '127.0.0.1' */
  host?: string;
}

export interface RunningBitrixEmulator {
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** Inbound webhook base, `<url>/rest/<userId>/<code>/`; append the method name. */
  webhookUrl: string;
  /** OAuth app credentials and a first token pair (as `ONAPPINSTALL` would deliver). */
  oauth: { clientId: string; clientSecret: string; tokenUrl: string; tokens: TokenPair };
  state: BitrixState;
  faults: FaultController;
  stats: EmulatorStats;
  /** Clear data, stats, faults, rate bucket and budgets (tokens kept). */
  reset(): void;
  /** Releases hung requests, closes connections and the server. */
  close(): Promise<void>;
}

export async function startBitrixEmulator(options: StartBitrixEmulatorOptions = {}): Promise<RunningBitrixEmulator> {
  const { port = 0, host = '127.0.0.1', ...rest } = options;
  const emulator = buildBitrixEmulator(rest);
  await emulator.app.listen({ port, host });
  const address = emulator.app.server.address();
  const boundPort = typeof address === 'object' && address ? address.port : port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${boundPort}`;
  emulator.setBaseUrl(url);
  return {
    url,
    webhookUrl: emulator.webhookUrl(),
    oauth: {
      clientId: emulator.options.oauth.clientId,
      clientSecret: emulator.options.oauth.clientSecret,
      tokenUrl: `${url}/oauth/token/`,
      tokens: emulator.state.oauth.issuePair(),
    },
    state: emulator.state,
    faults: emulator.faults,
    stats: emulator.stats,
    reset: () => emulator.reset(),
    close: async () => {
      emulator.faults.releaseHangs();
      await emulator.app.close();
    },
  };
}

const invokedDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (invokedDirectly) {
  const port = Number(process.env.PORT ?? 3102);
  const emu = await startBitrixEmulator({ port, crmMode: process.env.CRM_MODE === 'simple' ? 'simple' : 'classic' });
  process.stdout.write(
    [
      `Bitrix24 emulator at ${emu.url}`,
      `webhook URL:   ${emu.webhookUrl}`,
      `OAuth:         client_id=${emu.oauth.clientId} client_secret=${emu.oauth.clientSecret}`,
      `token URL:     ${emu.oauth.tokenUrl}`,
      `access_token:  ${emu.oauth.tokens.access_token}`,
      `refresh_token: ${emu.oauth.tokens.refresh_token}`,
      '',
    ].join('\n'),
  );
  const stop = (): void => {
    void emu.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
