import { Readable } from 'node:stream';
import { Busboy, type BusboyInstance } from '@fastify/busboy';
import qs from 'qs';
import type { ZodError, ZodType } from 'zod';
import { InputError } from './errors.ts';
import type { RawEvent } from './channel.ts';

/** Limits that keep a hostile body from costing us memory or CPU (bracket-key bombs, deep JSON). */
export const DECODE_LIMITS = {
  /** Max nesting for `a[b][c]` keys. */
  bracketDepth: 5,
  /** Max number of form fields. */
  parameterLimit: 500,
  /** Max array index honoured in `a[123]`; larger indexes become object keys. */
  arrayLimit: 100,
  /** Max JSON nesting depth. */
  jsonDepth: 32,
  /** Max multipart files kept as metadata. */
  multipartFiles: 10,
};

export type BodyKind = 'json' | 'form' | 'multipart' | 'text' | 'empty';

export function mediaType(e: RawEvent): string {
  return (e.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
}

export function bodyKind(e: RawEvent): BodyKind {
  if (e.body.length === 0) return 'empty';
  const mt = mediaType(e);
  if (mt === 'application/json' || mt.endsWith('+json')) return 'json';
  if (mt === 'application/x-www-form-urlencoded') return 'form';
  if (mt === 'multipart/form-data') return 'multipart';
  if (mt === '' || mt === 'text/plain') {
    // Senders that forget the header: sniff, the way tolerant receivers do.
    const first = e.body.subarray(0, 64).toString('utf8').trimStart()[0];
    if (first === '{' || first === '[') return 'json';
    if (/^[^=&\s]+=/.test(e.body.subarray(0, 200).toString('utf8'))) return 'form';
    return 'text';
  }
  return 'text';
}

export function decodeJson(body: Buffer): unknown {
  let text = body.toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new InputError({ code: 'LG_ERR_BAD_BODY', field: 'body', expected: 'valid JSON', message: `body is not valid JSON: ${(err as Error).message}` });
  }
  if (depthOf(value, 0) > DECODE_LIMITS.jsonDepth) {
    throw new InputError({ code: 'LG_ERR_BAD_BODY', field: 'body', expected: `JSON nested at most ${DECODE_LIMITS.jsonDepth} levels`, message: 'body JSON is nested too deeply' });
  }
  return value;
}

function depthOf(v: unknown, d: number): number {
  if (d > DECODE_LIMITS.jsonDepth) return d;
  if (v === null || typeof v !== 'object') return d;
  let max = d + 1;
  for (const child of Object.values(v as Record<string, unknown>)) max = Math.max(max, depthOf(child, d + 1));
  return max;
}

/** application/x-www-form-urlencoded with PHP/qs bracket keys (`fields[name][value]`, `payment[products][0][name]`). */
export function decodeUrlencoded(body: Buffer | string): Record<string, unknown> {
  const text = typeof body === 'string' ? body : body.toString('utf8');
  return qs.parse(text, {
    depth: DECODE_LIMITS.bracketDepth,
    parameterLimit: DECODE_LIMITS.parameterLimit,
    arrayLimit: DECODE_LIMITS.arrayLimit,
    allowPrototypes: false,
    plainObjects: true,
    charset: 'utf-8',
    charsetSentinel: true,
  }) as Record<string, unknown>;
}

export interface MultipartFile {
  field: string;
  filename: string;
  contentType: string;
  sizeBytes: number;
}

/** multipart/form-data → fields (bracket keys honoured) + file metadata. Files are not kept, only described. */
export async function decodeMultipart(e: RawEvent): Promise<{ fields: Record<string, unknown>; files: MultipartFile[] }> {
  const contentType = e.headers['content-type'] ?? '';
  const pairs: string[] = [];
  const files: MultipartFile[] = [];
  await new Promise<void>((resolve, reject) => {
    let bb: BusboyInstance;
    try {
      bb = new Busboy({ headers: { 'content-type': contentType }, limits: { fields: DECODE_LIMITS.parameterLimit, files: DECODE_LIMITS.multipartFiles, fieldSize: 1 << 20 } });
    } catch (err) {
      reject(new InputError({ code: 'LG_ERR_BAD_BODY', field: 'content-type', expected: 'multipart/form-data with a boundary', message: `multipart body cannot be read: ${(err as Error).message}` }));
      return;
    }
    bb.on('field', (name: string, value: string) => pairs.push(`${encodeURIComponent(name)}=${encodeURIComponent(value)}`));
    bb.on('file', (field: string, stream: NodeJS.ReadableStream, filename: string, _enc: string, mime: string) => {
      let size = 0;
      stream.on('data', (c: Buffer) => (size += c.length));
      stream.on('end', () => files.push({ field, filename, contentType: mime, sizeBytes: size }));
    });
    bb.on('error', (err: Error) => reject(new InputError({ code: 'LG_ERR_BAD_BODY', field: 'body', expected: 'a well-formed multipart/form-data body', message: `multipart body cannot be read: ${err.message}` })));
    bb.on('finish', () => resolve());
    Readable.from([e.body]).pipe(bb);
  });
  return { fields: decodeUrlencoded(pairs.join('&')), files };
}

/** Decode whatever a tolerant form receiver accepts: JSON, urlencoded, multipart. */
export async function decodeAnyForm(e: RawEvent): Promise<Record<string, unknown>> {
  const kind = bodyKind(e);
  switch (kind) {
    case 'json': {
      const v = decodeJson(e.body);
      if (v === null || typeof v !== 'object' || Array.isArray(v)) {
        throw new InputError({ code: 'LG_ERR_BAD_BODY', field: 'body', expected: 'a JSON object', message: 'body must be a JSON object' });
      }
      return v as Record<string, unknown>;
    }
    case 'form':
      return decodeUrlencoded(e.body);
    case 'multipart': {
      const { fields, files } = await decodeMultipart(e);
      return files.length ? { ...fields, __files: files } : fields;
    }
    case 'empty':
      // GET senders (Sipuni, some PBX) put everything in the query string.
      if (Object.keys(e.query).length) return decodeUrlencoded(new URLSearchParams(e.query as Record<string, string>).toString());
      throw new InputError({ code: 'LG_ERR_BAD_BODY', field: 'body', expected: 'a non-empty form or JSON body', message: 'body is empty' });
    default:
      throw new InputError({
        code: 'LG_ERR_BAD_CONTENT_TYPE',
        status: 415,
        field: 'content-type',
        expected: 'application/json, application/x-www-form-urlencoded or multipart/form-data',
        message: `unsupported content type "${mediaType(e) || '(none)'}"`,
      });
  }
}

/** Validate with a schema; the first issue becomes a 4xx naming the field path and what was expected. */
export function parseWith<T>(schema: ZodType<T>, value: unknown, what = 'body'): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  throw zodToInputError(r.error, what);
}

export function zodToInputError(err: ZodError, what = 'body'): InputError {
  const issue = err.issues[0];
  const path = issue && issue.path.length ? issue.path.map(String).join('.') : what;
  const expected = issue ? describeIssue(issue) : 'valid input';
  return new InputError({ code: 'LG_ERR_FIELD', status: 422, field: path, expected, message: `${path}: ${issue?.message ?? 'invalid'}` });
}

function describeIssue(issue: ZodError['issues'][number]): string {
  const i = issue as { code: string; expected?: unknown; message: string };
  if (i.code === 'invalid_type' && i.expected) return String(i.expected);
  return issue.message;
}
