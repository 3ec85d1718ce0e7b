import { describe, expect, it } from 'vitest';
import { FIXTURE_RECEIVED_AT, guessContentType, parseHttpRequestFile } from '../support/http-fixture.ts';

const at = { receivedAt: FIXTURE_RECEIVED_AT };

describe('parseHttpRequestFile', () => {
  it('reads request line, lower-cased headers, query and the exact body (LF head)', () => {
    const r = parseHttpRequestFile('POST /hooks/tilda/site-main?secret=s3&x=1&x=2 HTTP/1.1\nContent-Type: application/json\nX-Api-Key: k\n\n{"a":1}\n', at);
    expect(r.channel).toBe('tilda');
    expect(r.sourceId).toBe('site-main');
    expect(r.event.method).toBe('POST');
    expect(r.event.subPath).toBe('');
    expect(r.event.headers).toEqual({ 'content-type': 'application/json', 'x-api-key': 'k' });
    expect(r.event.query).toEqual({ secret: 's3', x: '1' });
    expect(r.event.body.toString()).toBe('{"a":1}\n');
    expect(r.event.receivedAt.toISOString()).toBe('2026-01-15T10:00:00.000Z');
  });

  it('tolerates a CRLF head and keeps CRLFs in the body', () => {
    const body = '--b\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--b--\r\n';
    const r = parseHttpRequestFile(`POST /hooks/form/x/events/call HTTP/1.1\r\nContent-Type: multipart/form-data; boundary=b\r\n\r\n${body}`, at);
    expect(r.event.subPath).toBe('/events/call');
    expect(r.event.body.toString()).toBe(body);
  });

  it('cuts the body to Content-Length', () => {
    const r = parseHttpRequestFile('POST /hooks/a/b HTTP/1.1\nContent-Length: 3\n\nabc\n', at);
    expect(r.event.body.toString()).toBe('abc');
    expect(() => parseHttpRequestFile('POST /hooks/a/b HTTP/1.1\nContent-Length: 9\n\nabc', at)).toThrow(/Content-Length/);
  });

  it('joins repeated headers; accepts a head without a body', () => {
    const r = parseHttpRequestFile('GET /hooks/a/b?x=1 HTTP/1.1\nAccept: a\naccept: b', at);
    expect(r.event.headers).toEqual({ accept: 'a, b' });
    expect(r.event.body.length).toBe(0);
    expect(r.event.method).toBe('GET');
  });

  it('leaves channel undefined for other paths', () => {
    const r = parseHttpRequestFile('POST /other HTTP/1.1\n\nx=1', at);
    expect(r.channel).toBeUndefined();
    expect(r.event.body.toString()).toBe('x=1');
  });

  it('takes a bare body and guesses its type', () => {
    expect(parseHttpRequestFile('{"Name":"Иван"}', at).event.headers).toEqual({ 'content-type': 'application/json' });
    expect(parseHttpRequestFile('Name=%D0%98&Phone=1', at).event.headers).toEqual({ 'content-type': 'application/x-www-form-urlencoded' });
    expect(parseHttpRequestFile('hello there', at).event.headers).toEqual({ 'content-type': 'text/plain' });
    expect(parseHttpRequestFile('x', { ...at, contentType: 'text/csv' }).event.headers).toEqual({ 'content-type': 'text/csv' });
    expect(guessContentType(Buffer.from('--XyZ\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--XyZ--'))).toBe('multipart/form-data; boundary=XyZ');
    expect(guessContentType(Buffer.alloc(0))).toBeUndefined();
  });

  it('takes the whole input as a body when told to (an .eml message)', () => {
    const r = parseHttpRequestFile('GET /x HTTP/1.1\nFrom: a@b\n\nhi', { ...at, bare: true, contentType: 'message/rfc822' });
    expect(r.channel).toBeUndefined();
    expect(r.event.headers).toEqual({ 'content-type': 'message/rfc822' });
    expect(r.event.body.toString()).toBe('GET /x HTTP/1.1\nFrom: a@b\n\nhi');
  });

  it('rejects a malformed header line', () => {
    expect(() => parseHttpRequestFile('POST /hooks/a/b HTTP/1.1\nnot a header\n\nx', at)).toThrow(/colon/);
  });
});
