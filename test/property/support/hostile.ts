/**
 * Hostile inputs for property tests: random and mutated bodies, wrong charsets, huge fields, deep JSON,
 * bracket-key bombs, prototype keys, header injection attempts. Shared by the connector and gateway properties.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { parseWith, type ChannelConnector } from '#sdk';
import { loadHttpFixture } from '../../support/http-fixture.ts';

export const CHANNELS_DIR = fileURLToPath(new URL('../../../connectors/channels/', import.meta.url));

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyChannel = ChannelConnector<any, any>;

export interface Sample {
  headers: Record<string, string>;
  query: Record<string, string>;
  subPath: string;
  body: Buffer;
}

/** A connector's fixture requests (exact bytes and headers): the seeds that mutations start from. */
export function fixtureSamples(c: AnyChannel): Sample[] {
  const dir = join(CHANNELS_DIR, c.id, 'fixtures');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.http') || f.endsWith('.eml'))
    .sort()
    .map((f) => {
      const e = loadHttpFixture(join(dir, f)).event;
      return { headers: { ...e.headers }, query: { ...e.query }, subPath: e.subPath, body: e.body };
    });
}

/** Settings a source of this connector can run with: the first fixture settings that parse, else `{}`. */
export function workingSettings(c: AnyChannel): Record<string, unknown> {
  const dir = join(CHANNELS_DIR, c.id, 'fixtures');
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.settings.json')).sort() : [];
  for (const f of files) {
    const raw = JSON.parse(readFileSync(join(dir, f), 'utf8')) as Record<string, unknown>;
    if (c.settings.safeParse(raw).success) return raw;
  }
  return {};
}

export function parsedSettings(c: AnyChannel): unknown {
  return parseWith(c.settings, workingSettings(c), 'settings');
}

const CONTENT_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'application/json; charset=windows-1251',
  'application/x-www-form-urlencoded',
  'application/x-www-form-urlencoded; charset=koi8-r',
  'multipart/form-data; boundary=xYzZY',
  'multipart/form-data',
  'text/plain',
  'text/xml',
  'message/rfc822',
  'application/octet-stream',
  '',
  'application/json, text/html',
  'multipart/form-data; boundary=',
];

/** Bodies that have broken parsers elsewhere. */
const NASTY_BODIES: (() => string | Buffer)[] = [
  () => '['.repeat(20_000) + ']'.repeat(20_000),
  () => '{"a":'.repeat(5_000) + '1' + '}'.repeat(5_000),
  () => `a${'[b]'.repeat(2_000)}=1`,
  () => Array.from({ length: 20_000 }, (_, i) => `a[]=${i}`).join('&'),
  () => 'a[999999999]=1&a[0]=2',
  () => '__proto__[polluted]=1&constructor[prototype][polluted]=1&x[__proto__][polluted]=1',
  () => '{"__proto__":{"polluted":1},"constructor":{"prototype":{"polluted":1}}}',
  () => JSON.stringify({ name: 'Ж'.repeat(300_000), phone: '9'.repeat(100_000) }),
  () => `name=${'%'.repeat(50_000)}&phone=%E0%A4%A`,
  () => Buffer.from([0xef, 0xbb, 0xbf, 0x7b, 0x7d]),
  () => Buffer.from([0xfe, 0xff, 0x00, 0x7b, 0x00, 0x7d]),
  () => Buffer.from('{"name":"\xcf\xf0\xe8\xe2\xe5\xf2","phone":"89123456789"}', 'latin1'),
  () => '--xYzZY\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--xYzZY',
  () => `--xYzZY\r\n${'Content-Disposition: form-data; name="f"; filename="a.txt"\r\n'.repeat(500)}\r\n\r\n--xYzZY--`,
  () => '{"message":{"chat":{"id":{"$gt":1}},"text":null},"update_id":"1e400"}',
  () => 'json=' + encodeURIComponent('{"a":' + '['.repeat(3_000) + ']'.repeat(3_000) + '}'),
  () => '',
  () => 'null',
  () => '"just a string"',
  () => '1e999999',
];

/** Header values a client might send to break parsing or smuggle a second header into a log line. */
const HEADER_VALUES = fc.oneof(
  fc.string({ maxLength: 64 }),
  fc.constantFrom('x\r\nX-Injected: 1', 'x\nSet-Cookie: a=b', '\u0000', 'ä'.repeat(10_000), '=?utf-8?b?0JjQstCw0L0=?=', '-1', '99999999999999999999', 'sha256=', ''),
);

const HEADER_NAMES = fc.constantFrom('x-leadgate-secret', 'sign', 'signature', 'x-telegram-bot-api-secret-token', 'x-leadgate-signature', 'x-leadgate-timestamp', 'content-length', 'x-forwarded-for', 'user-agent', 'x-random');

/** A hostile variant of a seed: bytes flipped, cut, spliced, replaced, or swapped for a nasty body; headers tampered. */
export function hostileSample(seeds: Sample[]): fc.Arbitrary<Sample> {
  const base: Sample[] = seeds.length ? seeds : [{ headers: { 'content-type': 'application/json' }, query: {}, subPath: '', body: Buffer.from('{}') }];
  const body = fc.oneof(
    { weight: 3, arbitrary: fc.record({ seed: fc.nat(), flips: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }) }).map(({ seed, flips }) => ({ seed, mutate: (b: Buffer) => flipBytes(b, flips) })) },
    { weight: 2, arbitrary: fc.record({ seed: fc.nat(), cut: fc.nat() }).map(({ seed, cut }) => ({ seed, mutate: (b: Buffer) => b.subarray(0, b.length ? cut % b.length : 0) })) },
    { weight: 1, arbitrary: fc.record({ seed: fc.nat(), bytes: fc.uint8Array({ maxLength: 512 }) }).map(({ seed, bytes }) => ({ seed, mutate: () => Buffer.from(bytes) })) },
    { weight: 2, arbitrary: fc.record({ seed: fc.nat(), nasty: fc.nat({ max: NASTY_BODIES.length - 1 }) }).map(({ seed, nasty }) => ({ seed, mutate: () => toBuf(NASTY_BODIES[nasty]!()) })) },
    { weight: 1, arbitrary: fc.record({ seed: fc.nat(), text: fc.string({ unit: 'grapheme', maxLength: 300 }) }).map(({ seed, text }) => ({ seed, mutate: (b: Buffer) => Buffer.concat([b.subarray(0, Math.floor(b.length / 2)), Buffer.from(text), b.subarray(Math.floor(b.length / 2))]) })) },
    { weight: 1, arbitrary: fc.record({ seed: fc.nat(), json: fc.jsonValue({ maxDepth: 6 }) }).map(({ seed, json }) => ({ seed, mutate: () => Buffer.from(JSON.stringify(json) ?? 'null') })) },
  );
  return fc
    .record({
      body,
      contentType: fc.option(fc.constantFrom(...CONTENT_TYPES), { nil: undefined }),
      headers: fc.array(fc.tuple(HEADER_NAMES, HEADER_VALUES), { maxLength: 4 }),
      dropHeaders: fc.boolean(),
      query: fc.array(fc.tuple(fc.constantFrom('secret', 'sign', 'json', 'test', 'a[b][c]', 'zd_echo', 'x'), fc.string({ maxLength: 40 })), { maxLength: 3 }),
      subPath: fc.option(fc.constantFrom('', '/events/call', '/events/summary', '/ping', '/result/sms', '/../../etc/passwd', '/%00'), { nil: undefined }),
    })
    .map(({ body: b, contentType, headers, dropHeaders, query, subPath }) => {
      const seed = base[b.seed % base.length]!;
      const h: Record<string, string> = dropHeaders ? {} : { ...seed.headers };
      if (contentType !== undefined) h['content-type'] = contentType;
      for (const [k, v] of headers) h[k] = v;
      const q = { ...seed.query };
      for (const [k, v] of query) q[k] = v;
      return { headers: h, query: q, subPath: subPath ?? seed.subPath, body: b.mutate(seed.body) };
    });
}

function flipBytes(b: Buffer, flips: [number, number][]): Buffer {
  const out = Buffer.from(b);
  for (const [at, v] of flips) if (out.length) out[at % out.length] = v;
  return out;
}

function toBuf(x: string | Buffer): Buffer {
  return typeof x === 'string' ? Buffer.from(x) : x;
}

/** Fails when anything was written onto Object.prototype (a parser honouring `__proto__` keys). */
export function assertNoPrototypePollution(): void {
  const probe = {} as Record<string, unknown>;
  if ('polluted' in probe || Object.keys(Object.prototype).length > 0) throw new Error(`Object.prototype was polluted: ${Object.keys(Object.prototype).join(', ')}`);
}
