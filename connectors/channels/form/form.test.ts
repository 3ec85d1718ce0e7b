import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InputError, OutcomeSchema, type Lead, type Outcome } from '#sdk';
import { runRequest } from '../../../test/support/http-fixture.ts';
import { fillTitle, mapFormEntries } from './fields.ts';
import { formChannel } from './index.ts';
import { FormSettingsSchema } from './payload.ts';

const post = (body: string, type = 'application/x-www-form-urlencoded', extra = ''): string =>
  `POST /hooks/form/site HTTP/1.1\nContent-Type: ${type}\n${extra}\n${body}`;
const leadOf = (outcomes: Outcome[]): Lead => {
  const o = outcomes[0];
  if (o?.kind !== 'lead') throw new Error(`expected a lead, got ${JSON.stringify(outcomes)}`);
  return o.lead;
};
const entry = (key: string, value: string) => ({ key, label: key, value });

describe('form: settings', () => {
  it('has defaults and rejects unknown options instead of ignoring them', () => {
    expect(FormSettingsSchema.parse({})).toEqual({ honeypot: ['website', 'company_url'], title: 'Заявка с сайта: {form}', redirectField: '_redirect', redirectOrigins: [] });
    expect(FormSettingsSchema.safeParse({ fileds: {} }).success).toBe(false);
    expect(FormSettingsSchema.safeParse({ fields: { phones: ['x'] } }).success).toBe(false);
    expect(FormSettingsSchema.parse({ fields: { phone: 'Контактный номер' } }).fields).toEqual({ phone: ['Контактный номер'] });
  });

  it('an empty honeypot list lets a real "website" field through', async () => {
    const r = await runRequest(formChannel, post('name=Ivan&website=https%3A%2F%2Facme.example'), { settings: { honeypot: [] } });
    expect(leadOf(r.outcomes).fields).toEqual([{ key: 'website', label: 'website', value: 'https://acme.example' }]);
  });
});

describe('form: field roles', () => {
  it.each([
    ['your-name', 'name'],
    ['ФИО', 'name'],
    ['Your Name', 'name'],
    ['Имя и фамилия', 'name'],
    ['tel-123', 'phone'],
    ['Телефон для связи', 'phone'],
    ['Номер телефона', 'phone'],
    ['billing_phone', 'phone'],
    ['WhatsApp', 'phone'],
    ['E-mail', 'email'],
    ['Электронная почта', 'email'],
    ['your-email', 'email'],
    ['Комментарий к заказу', 'message'],
    ['textarea', 'message'],
    ['Company name', 'company'],
    ['Название компании', 'company'],
  ])('%j is a %s field', (key, role) => {
    const value = role === 'phone' ? '+7 912 345 67 89' : role === 'email' ? 'a@example.ru' : 'x';
    const m = mapFormEntries([entry(key, value)], undefined, 'RU');
    const got = m.contact.phonesE164.length ? 'phone' : m.contact.emails.length ? 'email' : m.contact.name ? 'name' : m.contact.company ? 'company' : m.message ? 'message' : 'field';
    expect(got).toBe(role);
  });

  it.each(['product_name', 'company_size', 'Почтовый индекс', 'page_title', 'Telegram'])('%j stays a plain field', (key) => {
    const m = mapFormEntries([entry(key, 'value 1')], undefined, 'RU');
    expect(m.fields).toEqual([entry(key, 'value 1')]);
  });

  it('configured names replace the defaults for that role only', () => {
    const m = mapFormEntries(
      [entry('phone', 'iPhone 15'), entry('contact[number]', '8 916 000 11 22'), entry('email', 'A@B.ru')],
      { phone: ['number'] },
      'RU',
    );
    expect(m.contact.phonesE164).toEqual(['+79160001122']);
    expect(m.contact.emails).toEqual(['a@b.ru']);
    expect(m.fields).toEqual([entry('phone', 'iPhone 15')]);
  });

  it('keeps what it cannot read: bad e-mails and extensions go to the note', () => {
    const m = mapFormEntries([entry('email', 'ok@example.ru, broken@, x'), entry('phone', '+7 495 123-45-67 доб. 7')], undefined, 'RU');
    expect(m.contact.emails).toEqual(['ok@example.ru']);
    expect(m.fields).toEqual([entry('phone', '+7 495 123-45-67 доб. 7'), entry('email', 'broken@ x')]);
  });
});

describe('form: normalise', () => {
  it('takes the event id from event_id, submission_id or id, first item of repeats', async () => {
    expect((await runRequest(formChannel, post('id=7&submission_id=s-1&name=A'))).eventId).toBe('s-1');
    expect((await runRequest(formChannel, post('id=7&id=8&name=A'))).eventId).toBe('7');
    expect((await runRequest(formChannel, post('{"event_id":42,"name":"A"}', 'application/json'))).eventId).toBe('42');
    const r = await runRequest(formChannel, post('name=A'));
    expect(r.eventId).toBeUndefined();
    expect(leadOf(r.outcomes).externalId).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it('a browser post: Referer is the page, and then the IP and user agent are the visitor’s', async () => {
    const r = await runRequest(formChannel, post('name=A&phone=89123456789', undefined, 'Referer: https://acme.example/?utm_source=ya\nUser-Agent: UA/1\n'));
    const lead = leadOf(r.outcomes);
    expect(lead.tracking).toEqual({ pageUrl: 'https://acme.example/?utm_source=ya', userAgent: 'UA/1' });
    expect(lead.utm).toEqual({ source: 'ya' });
  });

  it('a server post without Referer does not claim the server as the visitor', async () => {
    const lead = leadOf((await runRequest(formChannel, post('name=A', undefined, 'User-Agent: WordPress/6.7\n'))).outcomes);
    expect(lead.tracking).toEqual({});
  });

  it('form names: a `form` object, the setting, then ids', async () => {
    expect(leadOf((await runRequest(formChannel, post('form%5Bname%5D=Contacts&form%5Bid%5D=3&name=A'))).outcomes).formName).toBe('Contacts');
    expect(leadOf((await runRequest(formChannel, post('form_id=7&name=A'), { settings: { formName: 'Главная' } })).outcomes).title).toBe('Заявка с сайта: Главная');
  });

  it('fillTitle drops a dangling separator', () => {
    expect(fillTitle('Заявка с сайта: {form}', {}, 'x')).toBe('Заявка с сайта');
    expect(fillTitle('Заказ №{order} — {form}', { order: '12' }, 'x')).toBe('Заказ №12');
    expect(fillTitle('{form}', {}, 'Заявка')).toBe('Заявка');
    expect(fillTitle('Заказ {order} ({form})', { order: '7' }, 'x')).toBe('Заказ 7');
  });

  it('rejects a JSON body that is not an object, naming the body', async () => {
    await expect(runRequest(formChannel, post('"hello"', 'application/json'))).rejects.toMatchObject({ field: 'body' });
    await expect(runRequest(formChannel, post('[]', 'application/json'))).rejects.toBeInstanceOf(InputError);
  });

  it('never throws on odd but valid bodies, and always yields schema-valid outcomes', async () => {
    const value: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
      v: fc.oneof({ depthSize: 'small' }, fc.string(), fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.array(tie('v'), { maxLength: 3 }), fc.dictionary(fc.string(), tie('v'), { maxKeys: 3 })),
    })).v;
    const body = fc.dictionary(fc.oneof(fc.string(), fc.constantFrom('name', 'phone', 'email', 'website', 'form', 'utm_source', 'page_url', '_ga')), value, { maxKeys: 8 });
    await fc.assert(
      fc.asyncProperty(body, async (obj) => {
        let r;
        try {
          r = await runRequest(formChannel, post(JSON.stringify(obj), 'application/json'));
        } catch (e) {
          // The payload schema may reject an id of the wrong shape, with a named field; nothing else.
          expect(e).toBeInstanceOf(InputError);
          return;
        }
        for (const o of r.outcomes) expect(OutcomeSchema.safeParse(o).success).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});

describe('form: thank-you redirect target', async () => {
  const { thankYouTarget, thankYouReply } = await import('./redirect.ts');
  const raw = (headers: Record<string, string>) => ({ method: 'POST', subPath: '', headers, query: {}, body: Buffer.from(''), receivedAt: new Date(0) });
  const s = FormSettingsSchema.parse({ thankYouUrl: 'https://acme.example/spasibo', redirectOrigins: ['https://shop.acme.example'] });
  it.each([
    ['navigation with Fetch Metadata', { 'content-type': 'application/x-www-form-urlencoded', 'sec-fetch-mode': 'navigate' }, 'https://acme.example/spasibo'],
    ['old browser: no Fetch Metadata, asks for HTML', { 'content-type': 'multipart/form-data; boundary=x', accept: 'text/html,*/*' }, 'https://acme.example/spasibo'],
    ['fetch() with a form body', { 'content-type': 'application/x-www-form-urlencoded', 'sec-fetch-mode': 'cors', accept: 'text/html' }, undefined],
    ['server sender without Accept', { 'content-type': 'application/x-www-form-urlencoded' }, undefined],
    ['JSON body', { 'content-type': 'application/json', 'sec-fetch-mode': 'navigate' }, undefined],
  ])('%s', (_name, headers, expected) => {
    expect(thankYouTarget({}, raw(headers), s)).toBe(expected);
  });
  it('a page-chosen URL must be on an allowed origin; javascript: and other hosts fall back', () => {
    const nav = raw({ 'content-type': 'application/x-www-form-urlencoded', 'sec-fetch-mode': 'navigate' });
    expect(thankYouTarget({ _redirect: 'https://shop.acme.example/ok' }, nav, s)).toBe('https://shop.acme.example/ok');
    expect(thankYouTarget({ _redirect: 'https://acme.example/other' }, nav, s)).toBe('https://acme.example/other');
    expect(thankYouTarget({ _redirect: 'javascript:alert(1)' }, nav, s)).toBe('https://acme.example/spasibo');
    expect(thankYouTarget({ _redirect: '//evil.example/x' }, nav, s)).toBe('https://acme.example/spasibo');
    expect(thankYouTarget({ _redirect: 'https://shop.acme.example/ok' }, nav, FormSettingsSchema.parse({}))).toBeUndefined();
  });
  it('the HTML fallback body escapes the URL', () => {
    expect(thankYouReply('https://a.example/?q="><script>').body).not.toContain('"><script>');
    expect(FormSettingsSchema.safeParse({ thankYouUrl: 'javascript:alert(1)' }).success).toBe(false);
  });
});
