/**
 * A worker process for tests that kill workers: `tsx test/support/worker-child.ts` with
 * LG_CHILD_CONFIG (JSON config incl. redisPrefix) and LG_CHILD_REDIS_URL. Prints "ready" when started.
 */
import pino from 'pino';
import { resolve } from 'node:path';
import { resolveConfig } from '../../src/config/load.ts';
import { registry } from '../../src/runtime/load-runtime-config.ts';
import { startWorkers } from '../../src/pipeline/worker.ts';
import { tempLedger } from './ledger-file.ts';

const value = JSON.parse(process.env.LG_CHILD_CONFIG ?? '{}') as Record<string, unknown>;
value.ledger ??= tempLedger();
const config = resolveConfig({ file: '(child config)', value, lineOf: () => undefined }, registry, process.env, resolve('.'));
const w = await startWorkers({ config, redisUrl: process.env.LG_CHILD_REDIS_URL ?? 'redis://127.0.0.1:6379', log: pino({ level: process.env.LG_CHILD_LOG ?? 'silent' }), env: process.env, concurrency: Number(process.env.LG_CHILD_CONCURRENCY ?? 4) });
process.stdout.write('ready\n');
process.on('SIGTERM', () => void w.close().then(() => process.exit(0)));
