/**
 * A loopback stand-in for the telephony providers' recording APIs (telephony.md §1.7, §2.5), written from the
 * fact sheet, independently of the connectors (its own signature checks):
 *
 * - Mango: `POST /vpbx/queries/recording/post` (form `vpbx_api_key`, `sign`, `json`), signed
 *   `sha256(key + json + salt)`; while "saving" it answers 404, then **302** to `/files/<one-shot token>`, a link
 *   that serves the file once and is dead after that.
 * - Zadarma: `GET /v1/pbx/record/request/?call_id=…&format=json&lifetime=…` with `Authorization: <key>:<sig>`,
 *   sig = base64(hex(HMAC-SHA1(secret, method + query + md5(query)))) over the sorted query; while "saving" 400
 *   `{"status":"error"}`, then `{"status":"success","link":…,"lifetime_till":…}`; the link dies after `lifetime`.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

export interface RecordingServerOptions {
  mango?: { apiKey: string; salt: string };
  zadarma?: { key: string; secret: string };
  /** Bytes served for every recording. @defaultValue 64 KiB of a fake MP3 frame pattern */
  file?: Buffer;
}

export interface RecordingServer {
  url: string;
  /** A recording the provider knows, answering "still saving" to the first `savingFor` requests. */
  addRecording(id: string, o?: { savingFor?: number }): void;
  stats: {
    mangoQueries: number;
    zadarmaQueries: number;
    /** Requests refused for a bad signature or key. */
    authFailures: number;
    downloads: number;
    /** Downloads refused because the link was used or expired. */
    deadLinks: number;
  };
  /** Makes every Zadarma link issued so far expire now. */
  expireZadarmaLinks(): void;
  close(): Promise<void>;
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => resolve(Buffer.concat(parts)));
    req.on('error', reject);
  });
}

const phpEncode = (s: string): string => encodeURIComponent(s).replace(/[!'()*~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`).replace(/%20/g, '+');

export async function startRecordingServer(o: RecordingServerOptions = {}): Promise<RecordingServer> {
  const file = o.file ?? Buffer.alloc(64 * 1024, Buffer.from([0xff, 0xfb, 0x90, 0x64]));
  const recordings = new Map<string, { savingLeft: number }>();
  const oneShot = new Set<string>();
  const zadarmaLinks = new Map<string, number>(); // token → expires at (ms)
  const stats: RecordingServer['stats'] = { mangoQueries: 0, zadarmaQueries: 0, authFailures: 0, downloads: 0, deadLinks: 0 };
  let base = '';

  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void => {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(text);
  };
  const saving = (id: string): boolean | undefined => {
    const r = recordings.get(id);
    if (!r) return undefined;
    if (r.savingLeft > 0) {
      r.savingLeft--;
      return true;
    }
    return false;
  };
  const serveFile = (res: ServerResponse): void => {
    stats.downloads++;
    res.writeHead(200, { 'content-type': 'audio/mpeg', 'content-length': String(file.length) });
    res.end(file);
  };

  const server: Server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', base || 'http://127.0.0.1');
      if (req.method === 'POST' && url.pathname === '/vpbx/queries/recording/post' && o.mango) {
        stats.mangoQueries++;
        const form = new URLSearchParams((await readBody(req)).toString('utf8'));
        const key = form.get('vpbx_api_key') ?? '';
        const json = form.get('json') ?? '';
        const sign = createHash('sha256').update(key + json + o.mango.salt).digest('hex');
        if (key !== o.mango.apiKey) return stats.authFailures++, send(res, 420, { code: 3105 });
        if (form.get('sign') !== sign) return stats.authFailures++, send(res, 420, { code: 3102 });
        const id = (JSON.parse(json) as { recording_id?: string }).recording_id ?? '';
        const state = saving(id);
        if (state === undefined || state) return send(res, 404, { code: 4001 });
        const token = randomBytes(12).toString('hex');
        oneShot.add(token);
        res.writeHead(302, { location: `${base}/files/${token}.mp3` });
        return res.end();
      }
      if (req.method === 'GET' && url.pathname.startsWith('/files/')) {
        const token = url.pathname.slice('/files/'.length).replace(/\.mp3$/, '');
        if (!oneShot.delete(token)) return stats.deadLinks++, send(res, 404, 'link expired');
        return serveFile(res);
      }
      if (req.method === 'GET' && url.pathname === '/v1/pbx/record/request/' && o.zadarma) {
        stats.zadarmaQueries++;
        const params = [...url.searchParams.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
        const query = params.map(([k, v]) => `${phpEncode(k)}=${phpEncode(v)}`).join('&');
        const md5 = createHash('md5').update(query).digest('hex');
        const sig = Buffer.from(createHmac('sha1', o.zadarma.secret).update(url.pathname + query + md5).digest('hex')).toString('base64');
        if (req.headers.authorization !== `${o.zadarma.key}:${sig}`) return stats.authFailures++, send(res, 401, { status: 'error', message: 'Not authorized' });
        const id = url.searchParams.get('call_id') ?? '';
        const state = saving(id);
        if (state === undefined || state) return send(res, 400, { status: 'error', message: 'Record not found' });
        const lifetime = Number(url.searchParams.get('lifetime') ?? 1800);
        const token = randomBytes(12).toString('hex');
        zadarmaLinks.set(token, Date.now() + lifetime * 1000);
        const till = new Date(Date.now() + lifetime * 1000 + 3 * 3600_000).toISOString().replace('T', ' ').slice(0, 19); // Moscow wall time
        return send(res, 200, { status: 'success', link: `${base}/v1/pbx/record/download/${token}/${encodeURIComponent(id)}.mp3`, lifetime_till: till });
      }
      if (req.method === 'GET' && url.pathname.startsWith('/v1/pbx/record/download/')) {
        const token = url.pathname.split('/')[5] ?? '';
        const until = zadarmaLinks.get(token);
        if (until === undefined || until < Date.now()) return stats.deadLinks++, send(res, 404, { status: 'error', message: 'link expired' });
        return serveFile(res);
      }
      send(res, 404, { error: 'no such route in the recording server stub' });
    })().catch((err: unknown) => send(res, 500, { error: String(err) }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  return {
    url: base,
    stats,
    addRecording: (id, opts = {}) => void recordings.set(id, { savingLeft: opts.savingFor ?? 0 }),
    expireZadarmaLinks: () => {
      for (const k of zadarmaLinks.keys()) zadarmaLinks.set(k, 0);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
