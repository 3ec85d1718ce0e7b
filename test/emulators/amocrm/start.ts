/**
 * `startAmoEmulator()`: the emulator listening on loopback, for demo mode, benchmarks and
 * tests that need real sockets (timeouts, resets). Run directly to get a long-lived server:
 *   npx tsx test/emulators/amocrm/start.ts [--port 3101]
 */
import { pathToFileURL } from 'node:url';
import { buildAmoEmulator, type AmoEmulator } from './app.ts';
import type { AmoEmulatorOptions } from './options.ts';

export interface StartAmoEmulatorOptions extends AmoEmulatorOptions {
  /** @defaultValue 0 (a free port) */
  port?: number;
  /** @defaultValue '127.0.0.1' */
  host?: string;
}

export interface RunningAmoEmulator extends Omit<AmoEmulator, 'app'> {
  app: AmoEmulator['app'];
  /** `http://127.0.0.1:<port>`: use it as the account base URL. */
  url: string;
  close(): Promise<void>;
}

export async function startAmoEmulator(options: StartAmoEmulatorOptions = {}): Promise<RunningAmoEmulator> {
  const { port = 0, host = '127.0.0.1', ...rest } = options;
  const emu = buildAmoEmulator(rest);
  await emu.app.listen({ port, host });
  const addr = emu.app.server.address();
  const actualPort = typeof addr === 'object' && addr !== null ? addr.port : port;
  return {
    app: emu.app,
    state: emu.state,
    faults: emu.faults,
    stats: emu.stats,
    options: emu.options,
    reset: emu.reset,
    get token(): string {
      return emu.token;
    },
    url: `http://${host}:${actualPort}`,
    close: () => emu.app.close(),
  };
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) {
  const i = process.argv.indexOf('--port');
  const port = Number(i >= 0 ? process.argv[i + 1] : (process.env.AMO_EMULATOR_PORT ?? 3101));
  const emu = await startAmoEmulator({ port });
  process.stdout.write(
    `amoCRM emulator at ${emu.url}\nlong-lived token: ${emu.token}\n` +
      `OAuth client: ${emu.options.oauth.clientId} / ${emu.options.oauth.clientSecret}; code: POST ${emu.url}/__emulator/auth-code\n`,
  );
  const stop = (): void => {
    void emu.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
