/**
 * Golden-fixture helpers: read `fixtures/<case>.http` into a RawEvent with the fixed receive time
 * every golden is written with. The parser itself lives in src/domain (the CLI uses it too).
 */
import { readFileSync } from 'node:fs';
import { parseWith, type ChannelConnector, type CountryCode, type IntakeDecision, type NormaliseContext, type Outcome } from '#sdk';
import { parseHttpRequestFile, type HttpRequestFile } from '../../src/domain/http-request-file.ts';

export { parseHttpRequestFile, guessContentType } from '../../src/domain/http-request-file.ts';
export type { HttpRequestFile, ParseHttpRequestOptions } from '../../src/domain/http-request-file.ts';

/** The receive time of every golden fixture. */
export const FIXTURE_RECEIVED_AT = new Date('2026-01-15T10:00:00.000Z');

/**
 * Parse a fixture from disk with the fixed receive time: a `.http` request file (or a bare body),
 * or an `.eml` message taken whole as a `message/rfc822` body (what a mail poller hands over).
 */
export function loadHttpFixture(file: string, opts: { contentType?: string } = {}): HttpRequestFile {
  const eml = file.endsWith('.eml');
  return parseHttpRequestFile(readFileSync(file), {
    receivedAt: FIXTURE_RECEIVED_AT,
    ...(eml ? { bare: true, contentType: 'message/rfc822' } : {}),
    ...opts,
  });
}

/** The context every fixture is normalised with (source from the request line, fixed receive time). */
export function fixtureContext<S>(connector: { id: string; title: string }, file: HttpRequestFile, settings: S, defaultRegion: CountryCode = 'RU'): NormaliseContext<S> {
  return {
    source: { channel: connector.id, sourceId: file.sourceId ?? 'fixture', name: `${connector.title} (fixture)` },
    settings,
    receivedAt: file.event.receivedAt,
    defaultRegion,
    raw: file.event,
  };
}

/**
 * Run a request through a connector the way the edge and the worker do: decode → payload → decide → normalise.
 * `request` is a `.http` text or a bare body. Settings are parsed with the connector's schema.
 */
export async function runRequest<P, S>(
  connector: ChannelConnector<P, S>,
  request: string | Buffer,
  opts: { settings?: unknown; defaultRegion?: CountryCode; contentType?: string } = {},
): Promise<{ payload: P; decision: IntakeDecision; eventId: string | undefined; outcomes: Outcome[] }> {
  const file = parseHttpRequestFile(request, { receivedAt: FIXTURE_RECEIVED_AT, ...(opts.contentType ? { contentType: opts.contentType } : {}) });
  const settings = parseWith(connector.settings, opts.settings ?? {}, 'settings');
  const payload = parseWith(connector.payload, await connector.decode(file.event));
  const decision: IntakeDecision = connector.decide?.(payload, file.event) ?? { kind: 'event' };
  const eventId = connector.eventId(payload, file.event);
  const outcomes = connector.normalise(payload, fixtureContext(connector, file, settings, opts.defaultRegion));
  return { payload, decision, eventId, outcomes };
}
