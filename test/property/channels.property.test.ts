/**
 * Properties of every registered channel connector (looped over connectors/index.ts), on hostile input:
 * - decode → payload → decide/eventId → normalise → OutcomeSchema either succeeds or throws InputError, nothing
 *   else (an uncaught TypeError would be a 500 at the gateway or a crashed job in the worker);
 * - `verify` never throws, and never accepts a request not signed with the source's secret;
 * - no input writes onto Object.prototype; no single input takes more than 2 s (catastrophic regexes, bombs).
 * `FC_RUNS` raises the number of runs (default keeps `npm test` fast).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { InputError, OutcomeSchema, parseWith, type RawEvent } from '#sdk';
import { channels } from '../../connectors/index.ts';
import { assertNoPrototypePollution, fixtureSamples, hostileSample, parsedSettings, type AnyChannel, type Sample } from './support/hostile.ts';

const RUNS = Number(process.env.FC_RUNS ?? 60);
const RECEIVED_AT = new Date('2026-01-15T10:00:00.000Z');

function eventOf(s: Sample, method = 'POST'): RawEvent {
  return { method, subPath: s.subPath, headers: s.headers, query: s.query, body: s.body, receivedAt: RECEIVED_AT, ip: '203.0.113.7' };
}

/** The edge and the worker, in one go, as `leadgate normalise` runs them. Returns what it threw, if anything. */
async function pipeline(c: AnyChannel, settings: unknown, e: RawEvent): Promise<unknown> {
  try {
    const payload = parseWith(c.payload, await c.decode(e));
    c.decide?.(payload, e);
    c.eventId(payload, e);
    const outcomes = c.normalise(payload, { source: { channel: c.id, sourceId: 'prop', name: 'Property run' }, settings, receivedAt: e.receivedAt, defaultRegion: 'RU', raw: e });
    outcomes.forEach((o, i) => parseWith(OutcomeSchema, o, `outcome[${i}]`));
    return undefined;
  } catch (err) {
    return err;
  }
}

describe.each(channels.map((c) => [c.id, c] as const))('channel %s on hostile input', (_id, c) => {
  const seeds = fixtureSamples(c);
  const settings = parsedSettings(c);

  it('decode → payload → normalise throws only InputError', async () => {
    await fc.assert(
      fc.asyncProperty(hostileSample(seeds), fc.constantFrom('POST', 'GET'), async (s, method) => {
        const started = Date.now();
        const err = await pipeline(c, settings, eventOf(s, method));
        const ms = Date.now() - started;
        assertNoPrototypePollution();
        if (err !== undefined && !(err instanceof InputError)) {
          throw new Error(`${c.id}: ${(err as Error)?.name}: ${(err as Error)?.message} (not an InputError) on body ${JSON.stringify(s.body.subarray(0, 120).toString('latin1'))} headers ${JSON.stringify(s.headers).slice(0, 200)}`);
        }
        if (err instanceof InputError) expect(err.statusCode).toBeGreaterThanOrEqual(400);
        if (err instanceof InputError) expect(err.statusCode).toBeLessThan(500);
        expect(ms, `${c.id} took ${ms} ms on one input`).toBeLessThan(2_000);
      }),
      { numRuns: RUNS },
    );
  });

  it.runIf(Boolean(c.verify))('verify never throws, and what it lets through unsigned is only a handshake', async () => {
    await fc.assert(
      fc.asyncProperty(hostileSample(seeds), fc.string({ minLength: 8, maxLength: 40 }), fc.constantFrom('POST', 'GET'), async (s, secret, method) => {
        fc.pre(!JSON.stringify(s).includes(secret)); // a secret sent in clear in the request would be a valid request
        const e = eventOf(s, method);
        let r;
        try {
          r = c.verify!(e, { settings, secret, now: RECEIVED_AT });
        } catch (err) {
          throw new Error(`${c.id}.verify threw ${(err as Error).name}: ${(err as Error).message}`);
        }
        if (!r.ok) return;
        // Passing unsigned is allowed only for vendor connectivity checks (Mango /ping): answered, never stored.
        let kind: string;
        try {
          const payload = parseWith(c.payload, await c.decode(e));
          kind = (c.decide?.(payload, e) ?? { kind: 'event' }).kind;
        } catch (err) {
          if (err instanceof InputError) return;
          throw err;
        }
        expect(kind, `${c.id}: an unsigned request passed verify and would be stored`).toBe('handshake');
      }),
      { numRuns: RUNS },
    );
  });
});
