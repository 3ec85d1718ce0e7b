/** The stored form of a raw event (src/pipeline/queues.ts): exact bytes back, whatever the body's encoding. */
import { describe, expect, it } from 'vitest';
import { fromStoredRaw, StoredEventSchema, toStoredRaw } from '../../src/pipeline/queues.ts';
import type { RawEvent } from '../../src/sdk/channel.ts';

const raw = (body: Buffer): RawEvent => ({ method: 'POST', subPath: '', headers: { 'content-type': 'text/plain', 'x-leadgate-secret': 's3cret' }, query: { secret: 's3cret', utm_source: 'ya' }, body, receivedAt: new Date('2026-11-23T10:00:00.000Z'), ip: '203.0.113.1' });

describe('stored raw events', () => {
  it('a UTF-8 body is kept as text; bytes, headers and query come back (secrets dropped)', () => {
    const body = Buffer.from('{"name":"Иван \\"Ваня\\"","phone":"8 912 000-00-00"}\n', 'utf8');
    const stored = toStoredRaw(raw(body));
    expect(stored.body).toBe(body.toString('utf8'));
    expect(stored.bodyB64).toBeUndefined();
    const back = fromStoredRaw(StoredEventSchema.shape.raw.parse(JSON.parse(JSON.stringify(stored))));
    expect(back.body.equals(body)).toBe(true);
    expect(back.headers).toEqual({ 'content-type': 'text/plain' });
    expect(back.query).toEqual({ utm_source: 'ya' });
  });

  it('a body that is not UTF-8 (windows-1251 bytes, binary) is kept as base64 and comes back byte for byte', () => {
    const cp1251 = Buffer.from([0xc8, 0xe2, 0xe0, 0xed, 0x20, 0xff, 0x00, 0x80]); // "Иван я\0" + a lone 0x80
    const stored = toStoredRaw(raw(cp1251));
    expect(stored.body).toBeUndefined();
    expect(fromStoredRaw(JSON.parse(JSON.stringify(stored))).body.equals(cp1251)).toBe(true);
  });

  it('events stored before text bodies (bodyB64 only) still read', () => {
    const old = { method: 'POST', subPath: '', headers: {}, query: {}, bodyB64: Buffer.from('a=1&b=Щ').toString('base64'), receivedAt: '2026-11-01T00:00:00.000Z' };
    expect(fromStoredRaw(StoredEventSchema.shape.raw.parse(old)).body.toString()).toBe('a=1&b=Щ');
  });
});
