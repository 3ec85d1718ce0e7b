import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CallEventSchema, type CallEvent, type ChannelConnector } from '#sdk';
import { runRequest } from '../../test/support/http-fixture.ts';
import { mangoChannel } from '../../connectors/channels/mango/index.ts';
import { zadarmaChannel } from '../../connectors/channels/zadarma/index.ts';
import { sipuniChannel } from '../../connectors/channels/sipuni/index.ts';
import { uisChannel } from '../../connectors/channels/uis/index.ts';
import { pbxChannel } from '../../connectors/channels/pbx/index.ts';
import { isFinal, mergeAll, mergeCall, needsRecording, stateRank, type MergedCallRecord } from './call-merge.ts';

const CHANNELS = fileURLToPath(new URL('../../connectors/channels/', import.meta.url));

/** The CallEvents a connector makes of its golden fixture requests, in the order given. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function fixtureEvents(connector: ChannelConnector<any, any>, cases: string[]): Promise<CallEvent[]> {
  const out: CallEvent[] = [];
  for (const name of cases) {
    const base = `${CHANNELS}${connector.id}/fixtures/${name}`;
    const settingsFile = `${base}.settings.json`;
    const settings: unknown = existsSync(settingsFile) ? JSON.parse(readFileSync(settingsFile, 'utf8')) : {};
    const { outcomes } = await runRequest(connector, readFileSync(`${base}.http`), { settings });
    for (const o of outcomes) if (o.kind === 'call') out.push(o.call);
  }
  return out;
}

function fold(events: readonly CallEvent[]): MergedCallRecord {
  const rec = mergeAll(events);
  if (!rec) throw new Error('no events');
  return rec;
}

/** Every order of a short list, or a fixed sample of orders for a longer one. */
function orders<T>(xs: readonly T[]): T[][] {
  const out: T[][] = [[...xs], [...xs].reverse()];
  let seed = 7;
  for (let i = 0; i < 30; i++) {
    const copy = [...xs];
    for (let j = copy.length - 1; j > 0; j--) {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      const k = seed % (j + 1);
      [copy[j], copy[k]] = [copy[k]!, copy[j]!];
    }
    out.push(copy);
  }
  return out;
}

function expectOrderIndependent(events: CallEvent[]): MergedCallRecord {
  const reference = fold(events);
  for (const order of orders(events)) {
    expect(fold(order)).toEqual(reference);
    // Every event delivered twice, the copies interleaved.
    expect(fold([...order, ...order.slice().reverse()])).toEqual(reference);
  }
  return reference;
}

describe('mergeCall over real fixture sequences', () => {
  it('mango: legs, summary and recording in any order give one answered, recorded call', async () => {
    const events = await fixtureEvents(mangoChannel, [
      'call-1-ivr-appeared',
      'call-2-ivr-connected',
      'call-3-manager-appeared',
      'call-4-manager-connected',
      'call-5-ivr-disconnected',
      'call-7-manager-disconnected',
      'summary-answered',
      'recording-completed',
    ]);
    expect(events).toHaveLength(8);
    const rec = expectOrderIndependent(events);
    expect(rec).toMatchObject({
      provider: 'mango',
      providerCallId: 'RW50cnlBLTAwMQ==',
      state: 'recorded',
      status: 'answered',
      direction: 'inbound',
      from: '79161234567',
      fromE164: '+79161234567',
      line: '+74951234567',
      extension: '201',
      startedAt: '2026-01-15T09:55:00.000Z',
      answeredAt: '2026-01-15T09:55:11.000Z',
      endedAt: '2026-01-15T09:57:11.000Z',
      durationSec: 131,
      talkSec: 120,
      recording: { providerRecordingId: 'UmVjLUEtMjAx' },
      occurredAt: '2026-01-15T09:55:00.000Z',
    });
    expect(rec.eventIds).toHaveLength(8);
    expect(isFinal(rec)).toBe(true);
    expect(needsRecording(rec)).toBe(false);
  });

  it('mango: leg disconnects do not end the call; only the summary does', async () => {
    const legs = await fixtureEvents(mangoChannel, ['call-1-ivr-appeared', 'call-3-manager-appeared', 'call-4-manager-connected', 'call-5-ivr-disconnected', 'call-7-manager-disconnected']);
    const rec = fold(legs);
    expect(rec.state).toBe('answered');
    expect(isFinal(rec)).toBe(false);
    expect(rec.endedAt).toBeUndefined();
    expect(rec.status).toBeUndefined();
  });

  it('mango: a seq-2 event arriving before seq 1 of the same leg still leaves the later state', async () => {
    const [appeared, connected] = await fixtureEvents(mangoChannel, ['call-3-manager-appeared', 'call-4-manager-connected']);
    const late = fold([connected!, appeared!]);
    expect(late.state).toBe('answered');
    expect(late.answeredAt).toBe('2026-01-15T09:55:11.000Z');
    expect(late.startedAt).toBe('2026-01-15T09:55:05.000Z');
  });

  it('mango: the summary of a missed call beats the ringing leg; busy per disconnect_reason 1121', async () => {
    const rec = expectOrderIndependent(await fixtureEvents(mangoChannel, ['missed-call-appeared', 'missed-summary-busy']));
    expect(rec).toMatchObject({ state: 'missed', status: 'busy', extension: '202', talkSec: 0, durationSec: 22, startedAt: '2026-01-15T09:55:18.000Z' });
    expect(needsRecording(rec)).toBe(false);
  });

  it('zadarma: START … END then NOTIFY_RECORD; recording id known before the file', async () => {
    const events = await fixtureEvents(zadarmaChannel, ['notify-1-start', 'notify-3-internal-multipart', 'notify-4-answer', 'notify-5-end', 'notify-6-record-raw-digest']);
    const rec = expectOrderIndependent(events);
    expect(rec).toMatchObject({
      provider: 'zadarma',
      state: 'recorded',
      status: 'answered',
      to: '74951234567',
      line: '+74951234567',
      extension: '101',
      durationSec: 120,
      recording: { providerRecordingId: '1768470900.334455-101-2026-01-15-125500' },
    });
    const beforeRecord = fold(events.slice(0, 4));
    expect(beforeRecord.state).toBe('ended');
    expect(needsRecording(beforeRecord)).toBe(true);
    expect(beforeRecord.recording?.providerRecordingId).toBe('1768470900.334455-101-2026-01-15-125500');
  });

  it('zadarma (Novofon): outbound nobody picked up is missed', async () => {
    const rec = expectOrderIndependent(await fixtureEvents(zadarmaChannel, ['novofon-out-start', 'novofon-out-end-no-answer']));
    expect(rec).toMatchObject({ provider: 'novofon', state: 'missed', status: 'missed', direction: 'outbound', toE164: '+74991112233', talkSec: 0 });
  });

  it('sipuni: repeated event 1, a secondary leg end and the final event 2', async () => {
    const events = await fixtureEvents(sipuniChannel, ['event1-ringing-201', 'event1-ringing-201-repeat', 'event1-ringing-202', 'event3-answered-201', 'event4-leg-202-ended', 'event2-answered']);
    const rec = expectOrderIndependent(events);
    expect(rec).toMatchObject({ state: 'recorded', status: 'answered', extension: '201', answeredAt: '2026-01-15T09:55:11.000Z', talkSec: 120, durationSec: 131 });
    // The repeat shares the first delivery's id: one entry.
    expect(rec.eventIds).toHaveLength(5);
    const withoutEnd = fold(events.slice(0, 5));
    expect(withoutEnd.state).toBe('answered');
    // The leg of 202 ended with CANCEL: not the call's status.
    expect(withoutEnd.status).toBeUndefined();
  });

  it('uis: ringing → talk → talk finished → call finished → recording', async () => {
    const events = await fixtureEvents(uisChannel, ['1-incoming', '2-ringing', '3-talk-started', '4-talk-finished', '5-call-finished', '6-recording']);
    const rec = expectOrderIndependent(events);
    expect(rec).toMatchObject({
      state: 'recorded',
      status: 'answered',
      extension: '5501',
      employeeName: 'Иванова Мария',
      startedAt: '2026-01-15T09:55:00.000Z',
      answeredAt: '2026-01-15T09:55:11.000Z',
      endedAt: '2026-01-15T09:57:11.000Z',
      recording: { url: 'https://media.uiscom.ru/3001234567/5f2b9e0c1d' },
    });
    expect(fold(events.slice(0, 4)).state).toBe('answered');
  });

  it('pbx: the generic contract merges like the vendors', async () => {
    const events = await fixtureEvents(pbxChannel, ['1-call-started', '2-call-ringing', '3-call-answered', '4-call-ended', '5-call-recording-ready']);
    const rec = expectOrderIndependent(events);
    expect(rec).toMatchObject({ provider: 'asterisk', state: 'recorded', status: 'answered', extension: '201', employeeName: 'Петров Иван', talkSec: 120, durationSec: 131 });
    expect(rec.recording?.url).toMatch(/\.mp3$/);
  });
});

const SOURCE = { channel: 'test', sourceId: 'src', name: 'Test' };
function ev(partial: Partial<CallEvent> & Pick<CallEvent, 'externalId' | 'kind'>): CallEvent {
  return CallEventSchema.parse({ source: SOURCE, provider: 'p', providerCallId: 'c1', occurredAt: '2026-01-15T09:55:00.000Z', ...partial });
}

describe('mergeCall rules', () => {
  it('a recording before the hang-up: answered, then recorded once the call ends', () => {
    const rec = mergeCall(null, ev({ externalId: 'r', kind: 'recording', recording: { url: 'https://x/r.mp3' }, occurredAt: '2026-01-15T09:57:00Z' }));
    expect(rec.state).toBe('answered');
    const done = mergeCall(rec, ev({ externalId: 'e', kind: 'ended', status: 'answered', endedAt: '2026-01-15T09:57:05Z' }));
    expect(done.state).toBe('recorded');
  });

  it('an ended call without answer is missed; a late answer event moves it forward to ended', () => {
    const missed = mergeCall(null, ev({ externalId: 'e', kind: 'ended', status: 'missed', startedAt: '2026-01-15T09:55:00Z', endedAt: '2026-01-15T09:55:30Z' }));
    expect(missed).toMatchObject({ state: 'missed', durationSec: 30, talkSec: 0 });
    const late = mergeCall(missed, ev({ externalId: 'a', kind: 'answered', answeredAt: '2026-01-15T09:55:10Z' }));
    expect(late.state).toBe('ended');
    expect(stateRank(late.state)).toBeGreaterThan(stateRank(missed.state));
  });

  it('among equal finals, "answered" beats "no answer" (one call rung on two extensions)', () => {
    const a = ev({ externalId: 'end-101', kind: 'ended', status: 'missed', extension: '101' });
    const b = ev({ externalId: 'end-102', kind: 'ended', status: 'answered', extension: '102' });
    expect(fold([a, b]).status).toBe('answered');
    expect(fold([b, a]).status).toBe('answered');
  });

  it('a summary overrides the values of call events, whatever came last', () => {
    const ringing = ev({ externalId: 'ring', kind: 'ringing', extension: '202', to: 'sip:202@x', occurredAt: '2026-01-15T09:59:00Z' });
    const summary = ev({ externalId: 'sum', kind: 'summary', extension: '201', to: 'sip:201@x', status: 'answered', occurredAt: '2026-01-15T09:56:00Z' });
    expect(fold([summary, ringing])).toMatchObject({ extension: '201', to: 'sip:201@x' });
  });

  it('the earliest start and answer of the call events; an unknown direction never overwrites a known one', () => {
    const rec = fold([
      ev({ externalId: 'b', kind: 'ringing', startedAt: '2026-01-15T09:55:05Z', direction: 'inbound' }),
      ev({ externalId: 'a', kind: 'started', startedAt: '2026-01-15T09:55:00Z' }),
      ev({ externalId: 'c', kind: 'recording', recording: { providerRecordingId: 'r1' } }),
    ]);
    expect(rec).toMatchObject({ startedAt: '2026-01-15T09:55:00Z', direction: 'inbound' });
  });

  it('merging the same event twice equals merging it once', () => {
    const e = ev({ externalId: 'x', kind: 'answered', answeredAt: '2026-01-15T09:55:10Z', extension: '7' });
    const once = mergeCall(null, e);
    expect(mergeCall(once, e)).toEqual(once);
  });

  it('accepts a record stored without merge book-keeping; its values rank below any event', () => {
    const stored = { source: SOURCE, provider: 'p', providerCallId: 'c1', direction: 'inbound' as const, extension: '5', occurredAt: '2026-01-15T09:55:00Z', state: 'answered' as const, eventIds: ['old'] };
    const rec = mergeCall(stored, ev({ externalId: 'e', kind: 'ended', extension: '6', status: 'answered' }));
    expect(rec).toMatchObject({ state: 'ended', extension: '6', eventIds: ['e', 'old'] });
  });

  it('refuses an event of another call', () => {
    const rec = mergeCall(null, ev({ externalId: 'a', kind: 'started' }));
    expect(() => mergeCall(rec, ev({ externalId: 'b', kind: 'ended', providerCallId: 'c2' }))).toThrow(/another|merged into record/);
  });
});

describe('mergeCall properties', () => {
  const time = fc.constantFrom('2026-01-15T09:55:00.000Z', '2026-01-15T09:55:05.000Z', '2026-01-15T09:55:11.000Z', '2026-01-15T09:57:11.000Z', '2026-01-15T09:57:11Z');
  const maybe = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(a, { nil: undefined });
  const body = fc.record({
    kind: fc.constantFrom('started', 'ringing', 'answered', 'ended', 'recording', 'summary' as const),
    providerLegId: maybe(fc.constantFrom('leg-1', 'leg-2')),
    seq: maybe(fc.integer({ min: 1, max: 5 })),
    direction: fc.constantFrom('inbound', 'outbound', 'internal', 'unknown' as const),
    from: maybe(fc.constantFrom('79161234567', '89031234567')),
    fromE164: maybe(fc.constantFrom('+79161234567', '+79031234567')),
    to: maybe(fc.constantFrom('74951234567', '201', 'sip:202@x')),
    line: maybe(fc.constantFrom('+74951234567', '+74951230000')),
    extension: maybe(fc.constantFrom('201', '202')),
    employeeName: maybe(fc.constantFrom('Иванова Мария', 'Петров Иван')),
    startedAt: maybe(time),
    answeredAt: maybe(time),
    endedAt: maybe(time),
    durationSec: maybe(fc.integer({ min: 0, max: 200 })),
    talkSec: maybe(fc.integer({ min: 0, max: 200 })),
    status: maybe(fc.constantFrom('answered', 'missed', 'busy', 'failed', 'cancelled', 'unknown' as const)),
    recording: maybe(fc.record({ url: maybe(fc.constantFrom('https://x/1.mp3', 'https://x/2.mp3')), providerRecordingId: maybe(fc.constantFrom('r1', 'r2')) })),
    occurredAt: time,
  });
  const calls = fc.array(body, { minLength: 1, maxLength: 9 }).map((bodies) =>
    bodies.map((b, i) => CallEventSchema.parse(Object.fromEntries(Object.entries({ ...b, source: SOURCE, provider: 'p', providerCallId: 'c1', externalId: `e${i}` }).filter(([, v]) => v !== undefined)))),
  );
  /** A call's events, and the same events reordered with some delivered more than once. */
  const callAndRedelivery = calls.chain((events) =>
    fc
      .tuple(fc.array(fc.integer(), { minLength: events.length, maxLength: events.length }), fc.array(fc.nat({ max: events.length - 1 }), { maxLength: 6 }))
      .map(([weights, repeats]) => {
        const order = events.map((e, i) => ({ e, w: weights[i]! })).sort((a, b) => a.w - b.w).map((x) => x.e);
        const redelivered = [...order];
        for (const r of repeats) redelivered.splice(r % (redelivered.length + 1), 0, events[r]!);
        return { events, redelivered };
      }),
  );

  it('any permutation and duplication of a call’s events yields the same record', () => {
    fc.assert(
      fc.property(callAndRedelivery, ({ events, redelivered }) => {
        expect(fold(redelivered)).toEqual(fold(events));
      }),
      { numRuns: 500 },
    );
  });

  it('the state never moves backwards, whatever arrives next', () => {
    fc.assert(
      fc.property(callAndRedelivery, ({ redelivered }) => {
        let rec: MergedCallRecord | null = null;
        for (const e of redelivered) {
          const next: MergedCallRecord = mergeCall(rec, e);
          if (rec) expect(stateRank(next.state)).toBeGreaterThanOrEqual(stateRank(rec.state));
          rec = next;
        }
      }),
      { numRuns: 500 },
    );
  });

  it('a stored record (JSON round trip) merges like the live one', () => {
    fc.assert(
      fc.property(callAndRedelivery, ({ events, redelivered }) => {
        let rec: MergedCallRecord | null = null;
        for (const e of redelivered) rec = JSON.parse(JSON.stringify(mergeCall(rec, e))) as MergedCallRecord;
        expect(rec).toEqual(JSON.parse(JSON.stringify(fold(events))));
      }),
      { numRuns: 200 },
    );
  });

  it('final states are final: isFinal and needsRecording agree with the state', () => {
    fc.assert(
      fc.property(calls, (events) => {
        const rec = fold(events);
        expect(isFinal(rec)).toBe(['missed', 'ended', 'recorded'].includes(rec.state));
        expect(needsRecording(rec)).toBe(rec.state === 'ended');
        expect(new Set(rec.eventIds).size).toBe(events.length);
      }),
      { numRuns: 200 },
    );
  });
});
