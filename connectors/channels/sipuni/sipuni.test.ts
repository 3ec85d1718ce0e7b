import { describe, expect, it } from 'vitest';
import { AuthError, parseWith, type RawEvent } from '#sdk';
import { SourceSchema } from '../../../src/config/schema.ts';
import type { ResolvedSource } from '../../../src/config/load.ts';
import { verifySource } from '../../../src/gateway/verify-source.ts';
import { runRequest } from '../../../test/support/http-fixture.ts';
import { sipuniChannel } from './index.ts';
import { sipuniEventId, statusOf } from './normalise.ts';

const SECRET = 'test_sipuni_secret_01';
const NOW = new Date('2026-01-15T10:00:00Z');

function source(secret: string | undefined): ResolvedSource {
  const config = SourceSchema.parse({ id: 'office', connector: 'sipuni', name: 'Sipuni', secretEnv: 'SIPUNI_SECRET' });
  return { config, ref: { channel: 'sipuni', sourceId: 'office', name: 'Sipuni' }, connector: sipuniChannel as ResolvedSource['connector'], settings: {}, secret, crmAccountId: undefined };
}

function get(query: Record<string, string>, headers: Record<string, string> = {}): RawEvent {
  return { method: 'GET', subPath: '', headers, query, body: Buffer.alloc(0), receivedAt: NOW };
}

const EVENT = { event: '1', call_id: '1768470900.533596', src_num: '79161234567', src_type: '1', dst_num: '201', dst_type: '2', timestamp: '1768470902' };

describe('sipuni: no vendor signature, the URL secret is checked by the gateway', () => {
  it('has no verify of its own and cannot be configured without a secret', () => {
    expect(sipuniChannel.verify).toBeUndefined();
    expect(sipuniChannel.requiresSecret).toBe(true);
  });

  const cases: [string, RawEvent, boolean][] = [
    ['good ?secret=', get({ ...EVENT, secret: SECRET }), true],
    ['good X-Leadgate-Secret header', get(EVENT, { 'x-leadgate-secret': SECRET }), true],
    ['missing secret', get(EVENT), false],
    ['wrong secret', get({ ...EVENT, secret: 'test_sipuni_secret_02' }), false],
    ['flipped byte in the secret', get({ ...EVENT, secret: 'test_sipuni_secret_0l' }), false],
  ];
  it.each(cases)('%s', (_name, e, ok) => {
    if (ok) expect(() => verifySource(source(SECRET), e, NOW)).not.toThrow();
    else expect(() => verifySource(source(SECRET), e, NOW)).toThrow(AuthError);
  });

  it('the secret never reaches the payload of a GET event', async () => {
    const e = get({ ...EVENT, secret: SECRET });
    const p = parseWith(sipuniChannel.payload, await sipuniChannel.decode(e));
    expect(JSON.stringify(p)).not.toContain(SECRET);
  });
});

describe('sipuni intake and normalise', () => {
  it('answers {"success": true} to every event (or Sipuni may stop sending)', async () => {
    const e = get(EVENT);
    const p = parseWith(sipuniChannel.payload, await sipuniChannel.decode(e));
    expect(sipuniChannel.decide?.(p, e)).toEqual({ kind: 'event', reply: { status: 200, contentType: 'application/json', body: '{"success": true}' } });
  });

  it('event 1 repeated a second later is the same event', () => {
    const a = parseWith(sipuniChannel.payload, EVENT);
    const b = parseWith(sipuniChannel.payload, { ...EVENT, timestamp: '1768470903' });
    expect(sipuniEventId(b)).toBe(sipuniEventId(a));
    expect(sipuniEventId(parseWith(sipuniChannel.payload, { ...EVENT, dst_num: '202' }))).not.toBe(sipuniEventId(a));
  });

  it.each([
    ['ANSWER', 'answered'],
    ['NOANSWER', 'missed'],
    ['CANCEL', 'missed'],
    ['BUSY', 'busy'],
    ['CONGESTION', 'failed'],
    ['CHANUNAVAIL', 'failed'],
    ['SOMETHING_NEW', 'unknown'],
  ])('status %s → %s', (s, expected) => expect(statusOf(s)).toBe(expected));

  it('a call_answer_timestamp not after the start (known quirk) is not used as the answer time', async () => {
    const body = new URLSearchParams({ ...EVENT, event: '2', status: 'ANSWER', call_start_timestamp: '1768470900', call_answer_timestamp: '1768470900', timestamp: '1768471031' }).toString();
    const { outcomes } = await runRequest(sipuniChannel, `POST /hooks/sipuni/office HTTP/1.1\nContent-Type: application/x-www-form-urlencoded\n\n${body}`);
    expect(outcomes).toEqual([{ kind: 'call', call: expect.objectContaining({ status: 'answered', durationSec: 131 }) }]);
    const call = outcomes[0]!.kind === 'call' ? outcomes[0]!.call : undefined;
    expect(call?.answeredAt).toBeUndefined();
    expect(call?.talkSec).toBeUndefined();
  });

  it('an unknown event number is accepted and ignored with a reason', async () => {
    const { outcomes } = await runRequest(sipuniChannel, `GET /hooks/sipuni/office?event=9&call_id=1 HTTP/1.1\n\n`);
    expect(outcomes).toEqual([{ kind: 'ignored', reason: { code: 'sipuni:unknown-event', detail: 'event 9' } }]);
  });
});
