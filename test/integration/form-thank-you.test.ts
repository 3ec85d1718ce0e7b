/**
 * A plain HTML form navigates the visitor to our URL: once the inquiry is stored they must land on the site's
 * thank-you page (303), not on a page of JSON. fetch() callers and server senders keep the JSON answer.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { Queue } from 'bullmq';
import { startHarness, type Harness } from '../support/harness.ts';
import { QUEUE_INTAKE } from '../../src/pipeline/queues.ts';

const FORM = 'application/x-www-form-urlencoded';
const NAVIGATION = { 'content-type': FORM, accept: 'text/html,application/xhtml+xml,*/*;q=0.8', 'sec-fetch-mode': 'navigate' };

describe('form: thank-you page for browser posts', () => {
  let h: Harness;
  let intake: Queue;
  beforeAll(async () => {
    h = await startHarness({
      workers: false,
      config: {
        sources: [
          { id: 'landing', connector: 'form', name: 'Лендинг', settings: { thankYouUrl: 'https://acme.example/spasibo', redirectOrigins: ['https://shop.acme.example'] } },
          { id: 'plain', connector: 'form', name: 'Без страницы' },
        ],
      },
    });
    intake = new Queue(QUEUE_INTAKE, { connection: h.redis, prefix: h.prefix });
  });
  afterAll(async () => {
    await intake?.close();
    await h?.close();
  });

  const post = async (source: string, body: string, headers: Record<string, string>) => {
    const res = await request(`${h.gateway.url}/hooks/form/${source}`, { method: 'POST', body, headers });
    return { status: res.statusCode, location: res.headers['location'], type: String(res.headers['content-type'] ?? ''), text: await res.body.text() };
  };
  const stored = async () => (await intake.getJobCounts('waiting', 'delayed', 'active', 'completed')) as Record<string, number>;

  it('a navigating browser gets 303 to thankYouUrl, and the inquiry is stored first', async () => {
    const before = await stored();
    const r = await post('landing', 'name=%D0%98%D0%B2%D0%B0%D0%BD&phone=89123456789&submission_id=ty-1', NAVIGATION);
    expect(r.status).toBe(303);
    expect(r.location).toBe('https://acme.example/spasibo');
    expect(r.type).toContain('text/html');
    const after = await stored();
    expect((after.waiting ?? 0) + (after.active ?? 0) + (after.delayed ?? 0)).toBe((before.waiting ?? 0) + (before.active ?? 0) + (before.delayed ?? 0) + 1);
  });

  it('honours the page\'s own _redirect only on an allowed origin (no open redirect)', async () => {
    const ok = await post('landing', `phone=89123456780&submission_id=ty-2&_redirect=${encodeURIComponent('https://shop.acme.example/thanks?order=1')}`, NAVIGATION);
    expect(ok.location).toBe('https://shop.acme.example/thanks?order=1');
    const evil = await post('landing', `phone=89123456781&submission_id=ty-3&_redirect=${encodeURIComponent('https://evil.example/phish')}`, NAVIGATION);
    expect(evil.status).toBe(303);
    expect(evil.location).toBe('https://acme.example/spasibo');
  });

  it('fetch() from the page and server senders keep the JSON answer', async () => {
    const viaFetch = await post('landing', 'phone=89123456782&submission_id=ty-4', { 'content-type': FORM, accept: '*/*', 'sec-fetch-mode': 'cors' });
    expect(viaFetch.status).toBe(200);
    expect(JSON.parse(viaFetch.text)).toMatchObject({ ok: true });
    const json = await post('landing', JSON.stringify({ phone: '89123456783', submission_id: 'ty-5' }), { 'content-type': 'application/json', accept: 'text/html' });
    expect(json.status).toBe(200);
  });

  it('without thankYouUrl a browser post gets the JSON answer as before', async () => {
    const r = await post('plain', 'phone=89123456784&submission_id=ty-6', NAVIGATION);
    expect(r.status).toBe(200);
    expect(r.location).toBeUndefined();
  });

  it('a repeated post of the same submission still lands on the thank-you page, stored once', async () => {
    const before = await intake.getJobCountByTypes('waiting', 'active', 'delayed', 'completed');
    const a = await post('landing', 'phone=89123456785&submission_id=ty-7', NAVIGATION);
    const b = await post('landing', 'phone=89123456785&submission_id=ty-7', NAVIGATION);
    expect([a.status, b.status]).toEqual([303, 303]);
    expect(await intake.getJobCountByTypes('waiting', 'active', 'delayed', 'completed')).toBe(before + 1);
  });
});
