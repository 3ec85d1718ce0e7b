/**
 * Reads a raw HTTP request file (`.http`): request line, headers, blank line, exact body.
 * Used by the golden-fixture tests and by `npx leadgate normalise <file>`. Pure: the receive time is passed in.
 *
 * ```
 * POST /hooks/tilda/site-main?secret=x HTTP/1.1
 * Content-Type: application/x-www-form-urlencoded
 *
 * Name=...&Phone=...
 * ```
 * The head may use CRLF or LF. The body is taken byte for byte (multipart needs its CRLFs); when a
 * `Content-Length` header is present, the body is cut to it, so an editor's trailing newline does not count.
 * A file without a request line is taken as a bare body and its content type is guessed.
 */
import type { RawEvent } from '../sdk/channel.ts';

export interface HttpRequestFile {
  event: RawEvent;
  /** `<channel>` from `/hooks/<channel>/<sourceId>`; undefined for a bare body or another path. */
  channel: string | undefined;
  /** `<sourceId>` from `/hooks/<channel>/<sourceId>`. */
  sourceId: string | undefined;
  /** The request target as written (path + query). */
  target: string;
}

export interface ParseHttpRequestOptions {
  /** Receive time put on the event. */
  receivedAt: Date;
  /** Content type for a bare body; guessed when absent. */
  contentType?: string;
  /** The whole input is a body (an `.eml` message, a captured payload), even if its first line looks like a request line. */
  bare?: boolean;
}

const REQUEST_LINE = /^([A-Z]+) (\S+)(?: HTTP\/\d(?:\.\d)?)?$/;

export function parseHttpRequestFile(input: Buffer | string, opts: ParseHttpRequestOptions): HttpRequestFile {
  const bytes = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
  const firstLineEnd = bytes.indexOf(0x0a);
  const firstLine = (firstLineEnd < 0 ? bytes : bytes.subarray(0, firstLineEnd)).toString('utf8').replace(/\r$/, '');
  const m = opts.bare ? null : REQUEST_LINE.exec(firstLine);
  if (!m) return bareBody(bytes, opts);

  const method = m[1]!;
  const target = m[2]!;
  const { headEnd, bodyStart } = findHeadEnd(bytes);
  const headText = bytes.subarray(0, headEnd).toString('utf8');
  const headers: Record<string, string> = {};
  for (const line of headText.split(/\r?\n/).slice(1)) {
    if (line.trim() === '') continue;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new Error(`http request file: header line without a colon: ${JSON.stringify(line)}`);
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  let body = bodyStart < 0 ? Buffer.alloc(0) : bytes.subarray(bodyStart);
  const declared = headers['content-length'];
  if (declared !== undefined && /^\d+$/.test(declared)) {
    const len = Number(declared);
    if (len > body.length) throw new Error(`http request file: Content-Length ${len} but the body has ${body.length} bytes`);
    body = body.subarray(0, len);
  }

  const q = target.indexOf('?');
  const path = q < 0 ? target : target.slice(0, q);
  const query: Record<string, string> = {};
  if (q >= 0) {
    for (const [k, v] of new URLSearchParams(target.slice(q + 1))) if (!(k in query)) query[k] = v;
  }
  const segments = path.split('/').filter((s) => s !== '');
  let channel: string | undefined;
  let sourceId: string | undefined;
  let subPath = '';
  if (segments[0] === 'hooks' && segments.length >= 3) {
    channel = safeDecode(segments[1]!);
    sourceId = safeDecode(segments[2]!);
    subPath = segments.length > 3 ? `/${segments.slice(3).join('/')}` : '';
  }
  return {
    event: { method, subPath, headers, query, body: Buffer.from(body), receivedAt: new Date(opts.receivedAt.getTime()) },
    channel,
    sourceId,
    target,
  };
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** The end of the head: the first empty line, CRLF or LF. */
function findHeadEnd(bytes: Buffer): { headEnd: number; bodyStart: number } {
  const crlf = bytes.indexOf('\r\n\r\n');
  const lf = bytes.indexOf('\n\n');
  // `\n\r\n` (an LF head line followed by a CRLF blank line) also ends the head.
  const mixed = bytes.indexOf('\n\r\n');
  const candidates = [
    crlf >= 0 ? { headEnd: crlf, bodyStart: crlf + 4 } : undefined,
    lf >= 0 ? { headEnd: lf, bodyStart: lf + 2 } : undefined,
    mixed >= 0 ? { headEnd: mixed, bodyStart: mixed + 3 } : undefined,
  ].filter((c): c is { headEnd: number; bodyStart: number } => c !== undefined);
  if (candidates.length === 0) return { headEnd: bytes.length, bodyStart: -1 };
  return candidates.reduce((a, b) => (b.headEnd < a.headEnd ? b : a));
}

function bareBody(bytes: Buffer, opts: ParseHttpRequestOptions): HttpRequestFile {
  const contentType = opts.contentType ?? guessContentType(bytes);
  return {
    event: {
      method: 'POST',
      subPath: '',
      headers: contentType ? { 'content-type': contentType } : {},
      query: {},
      body: Buffer.from(bytes),
      receivedAt: new Date(opts.receivedAt.getTime()),
    },
    channel: undefined,
    sourceId: undefined,
    target: '',
  };
}

/** JSON, multipart (boundary from the first line), urlencoded, else text/plain. */
export function guessContentType(bytes: Buffer): string | undefined {
  const text = bytes.subarray(0, 2048).toString('utf8').replace(/^\uFEFF/, '');
  const trimmed = text.trimStart();
  if (trimmed === '') return undefined;
  if (trimmed[0] === '{' || trimmed[0] === '[') return 'application/json';
  const mp = /^--([^\r\n]{1,70})\r?\n/.exec(text);
  if (mp && /content-disposition:/i.test(text)) return `multipart/form-data; boundary=${mp[1]}`;
  if (/^[^=&\s]+=[^\s]*$/.test(trimmed.split(/\r?\n/)[0] ?? '')) return 'application/x-www-form-urlencoded';
  return 'text/plain';
}
