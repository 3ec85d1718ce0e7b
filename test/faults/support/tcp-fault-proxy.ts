/**
 * A loopback TCP proxy that misbehaves on purpose, placed between the hub and a CRM emulator.
 * Each new connection takes the current mode (or the next queued one-shot fault):
 * - `pass`: bytes flow both ways, after `delayMs` if set;
 * - `reset`: the client's socket is destroyed at once (ECONNRESET / socket hang up), nothing reaches the CRM;
 * - `drop`: the request is swallowed and never answered (the client times out), nothing reaches the CRM;
 * - `reset-after-response`: the request reaches the CRM, which writes; its answer is thrown away and the
 *   client's socket reset — the nastiest case: the write happened, the hub cannot know;
 * - `drop-response`: as above, but the client hangs until its own timeout.
 * HTTP keep-alive would let a mode change miss pooled connections, so `setMode` also cuts every open one.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export type ProxyMode = 'pass' | 'reset' | 'drop' | 'reset-after-response' | 'drop-response';

export interface ProxyStats {
  connections: number;
  byMode: Record<ProxyMode, number>;
}

export interface TcpFaultProxy {
  url: string;
  port: number;
  stats: ProxyStats;
  /** Mode of every later connection; open connections are cut so the new mode applies at once. */
  setMode(mode: ProxyMode): void;
  /** The next `count` connections get `mode`, then the current mode again. */
  faultNext(count: number, mode: Exclude<ProxyMode, 'pass'>): void;
  /** Extra delay before bytes are forwarded, each direction, ms. */
  setDelay(ms: number): void;
  close(): Promise<void>;
}

export async function startTcpFaultProxy(o: { targetPort: number; targetHost?: string; port?: number }): Promise<TcpFaultProxy> {
  const targetHost = o.targetHost ?? '127.0.0.1';
  let mode: ProxyMode = 'pass';
  let delayMs = 0;
  const queued: Exclude<ProxyMode, 'pass'>[] = [];
  const open = new Set<Socket>();
  const stats: ProxyStats = { connections: 0, byMode: { pass: 0, reset: 0, drop: 0, 'reset-after-response': 0, 'drop-response': 0 } };

  const track = (s: Socket): Socket => {
    open.add(s);
    s.on('close', () => open.delete(s));
    s.on('error', () => undefined);
    return s;
  };
  const later = (fn: () => void): void => {
    if (delayMs > 0) setTimeout(fn, delayMs);
    else fn();
  };

  const server: Server = createServer((client) => {
    track(client);
    const m = queued.shift() ?? mode;
    stats.connections++;
    stats.byMode[m]++;
    if (m === 'reset') {
      client.resetAndDestroy();
      return;
    }
    if (m === 'drop') {
      client.resume(); // read and discard; never answer
      return;
    }
    const upstream = track(createConnection({ host: targetHost, port: o.targetPort }));
    client.on('data', (chunk: Buffer) => later(() => upstream.writable && upstream.write(chunk)));
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => {
      if (m === 'pass') client.destroy();
    });
    if (m === 'pass') {
      upstream.on('data', (chunk: Buffer) => later(() => client.writable && client.write(chunk)));
      return;
    }
    // The CRM has answered, so it has done the write; the client never learns of it.
    upstream.once('data', () => {
      upstream.destroy();
      if (m === 'reset-after-response') client.resetAndDestroy();
      // drop-response: leave the client waiting for its own timeout.
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port ?? 0, '127.0.0.1', () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  const cutAll = (): void => {
    for (const s of open) s.destroy();
  };
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    stats,
    setMode(next) {
      mode = next;
      cutAll();
    },
    faultNext(count, m) {
      for (let i = 0; i < count; i++) queued.push(m);
      cutAll();
    },
    setDelay(ms) {
      delayMs = ms;
    },
    async close() {
      cutAll();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
