/**
 * A loopback TCP proxy that misbehaves on purpose, placed between the hub and a CRM emulator.
 *
 * Whole-proxy mode (`setMode`), applied to every new connection: `pass`, `reset` (destroyed at once: ECONNRESET,
 * nothing reaches the CRM) or `drop` (swallowed, never answered: the client times out).
 *
 * One-shot faults (`faultNext`), taken by the next HTTP requests whose request line matches (e.g.
 * `/^POST \/api\/v4\/leads/`), on whatever connection they travel (keep-alive included):
 * - `reset`, `drop`: as above, the request never reaches the CRM;
 * - `reset-after-response`: the request reaches the CRM, which does the write; its answer is thrown away and
 *   the client's socket reset — the nastiest case: the write happened, the hub cannot know;
 * - `drop-response`: as above, but the client hangs until its own timeout.
 * The proxy reads request lines only to match rules; bytes are forwarded unchanged.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export type ProxyMode = 'pass' | 'reset' | 'drop';
export type OneShotFault = 'reset' | 'drop' | 'reset-after-response' | 'drop-response';

export interface ProxyStats {
  connections: number;
  /** Connections refused by the whole-proxy mode. */
  byMode: Record<ProxyMode, number>;
  /** One-shot faults applied, with the request line each hit. */
  applied: { fault: OneShotFault; request: string }[];
}

export interface TcpFaultProxy {
  url: string;
  port: number;
  stats: ProxyStats;
  /** Mode of every later connection; open connections are cut so the new mode applies at once. */
  setMode(mode: ProxyMode): void;
  /** The next `count` requests matching `match` (default: any) get `fault`. */
  faultNext(count: number, fault: OneShotFault, match?: RegExp): void;
  /** One-shot faults not yet applied. */
  pending(): number;
  /** Extra delay before bytes are forwarded, each direction, ms. */
  setDelay(ms: number): void;
  close(): Promise<void>;
}

const REQUEST_LINE = /^(GET|POST|PATCH|PUT|DELETE|HEAD|OPTIONS) (\S+) HTTP\/1\.[01]\r\n/;

export async function startTcpFaultProxy(o: { targetPort: number; targetHost?: string; port?: number }): Promise<TcpFaultProxy> {
  const targetHost = o.targetHost ?? '127.0.0.1';
  let mode: ProxyMode = 'pass';
  let delayMs = 0;
  const rules: { fault: OneShotFault; remaining: number; match: RegExp | undefined }[] = [];
  const open = new Set<Socket>();
  const stats: ProxyStats = { connections: 0, byMode: { pass: 0, reset: 0, drop: 0 }, applied: [] };

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
  const takeRule = (line: string): OneShotFault | undefined => {
    const r = rules.find((x) => x.remaining > 0 && (!x.match || x.match.test(line)));
    if (!r) return undefined;
    r.remaining--;
    stats.applied.push({ fault: r.fault, request: line });
    return r.fault;
  };

  const server: Server = createServer((client) => {
    track(client);
    stats.connections++;
    stats.byMode[mode]++;
    if (mode === 'reset') {
      client.resetAndDestroy();
      return;
    }
    if (mode === 'drop') {
      client.resume(); // read and discard; never answer
      return;
    }
    const upstream = track(createConnection({ host: targetHost, port: o.targetPort }));
    /** Set when the request in flight must lose its answer. */
    let loseAnswer: 'reset-after-response' | 'drop-response' | null = null;
    let swallowing = false;
    client.on('data', (chunk: Buffer) => {
      if (swallowing) return;
      const m = REQUEST_LINE.exec(chunk.subarray(0, 512).toString('latin1'));
      const fault = m ? takeRule(`${m[1]} ${m[2]!.split('?')[0]}`) : undefined;
      if (fault === 'reset') {
        upstream.destroy();
        client.resetAndDestroy();
        return;
      }
      if (fault === 'drop') {
        swallowing = true;
        upstream.destroy();
        client.resume();
        return;
      }
      if (fault) loseAnswer = fault;
      later(() => upstream.writable && upstream.write(chunk));
    });
    upstream.on('data', (chunk: Buffer) => {
      if (loseAnswer) {
        // The CRM has answered, so it has done the write; the client never learns of it.
        const how = loseAnswer;
        upstream.destroy();
        if (how === 'reset-after-response') client.resetAndDestroy();
        return;
      }
      later(() => client.writable && client.write(chunk));
    });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => {
      if (!loseAnswer || loseAnswer === 'reset-after-response') client.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port ?? 0, '127.0.0.1', () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    stats,
    setMode(next) {
      mode = next;
      for (const s of open) s.destroy();
    },
    faultNext(count, fault, match) {
      rules.push({ fault, remaining: count, match });
    },
    pending: () => rules.reduce((n, r) => n + r.remaining, 0),
    setDelay(ms) {
      delayMs = ms;
    },
    async close() {
      for (const s of open) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
