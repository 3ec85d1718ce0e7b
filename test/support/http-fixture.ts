/**
 * Golden-fixture helpers: read `fixtures/<case>.http` into a RawEvent with the fixed receive time
 * every golden is written with. The parser itself lives in src/domain (the CLI uses it too).
 */
import { readFileSync } from 'node:fs';
import { parseHttpRequestFile, type HttpRequestFile } from '../../src/domain/http-request-file.ts';

export { parseHttpRequestFile, guessContentType } from '../../src/domain/http-request-file.ts';
export type { HttpRequestFile, ParseHttpRequestOptions } from '../../src/domain/http-request-file.ts';

/** The receive time of every golden fixture. */
export const FIXTURE_RECEIVED_AT = new Date('2026-01-15T10:00:00.000Z');

/** Parse a `.http` file (or a bare body file) from disk with the fixed receive time. */
export function loadHttpFixture(file: string, opts: { contentType?: string } = {}): HttpRequestFile {
  return parseHttpRequestFile(readFileSync(file), { receivedAt: FIXTURE_RECEIVED_AT, ...opts });
}
