import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';

/** Starts a worker in a child process (so a test can SIGKILL it) and waits until it says "ready". */
export async function spawnWorker(o: { config: Record<string, unknown>; redisUrl: string; env?: Record<string, string>; concurrency?: number }): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', resolve('test/support/worker-child.ts')], {
    env: { ...process.env, ...(o.env ?? {}), LG_CHILD_CONFIG: JSON.stringify(o.config), LG_CHILD_REDIS_URL: o.redisUrl, LG_CHILD_CONCURRENCY: String(o.concurrency ?? 4) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr?.on('data', (c: Buffer) => (err += c.toString()));
  await new Promise<void>((res, rej) => {
    const t = setTimeout(() => rej(new Error(`worker child not ready in 20 s: ${err.slice(-500)}`)), 20_000);
    child.stdout?.on('data', (c: Buffer) => {
      if (c.toString().includes('ready')) {
        clearTimeout(t);
        res();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(t);
      rej(new Error(`worker child exited ${code}: ${err.slice(-500)}`));
    });
  });
  return child;
}

export async function killHard(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  await new Promise<void>((res) => {
    child.once('exit', () => res());
    child.kill('SIGKILL');
  });
}
