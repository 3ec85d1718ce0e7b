import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InputError, OutcomeSchema, type Lead, type Outcome } from '#sdk';
import { runRequest } from '../../../test/support/http-fixture.ts';
import { tildaChannel } from './index.ts';
import { toAmount } from './normalise.ts';
import { TildaSettingsSchema } from './payload.ts';

const fixture = (name: string): Buffer => readFileSync(new URL(`./fixtures/${name}.http`, import.meta.url));
const post = (body: string, type = 'application/x-www-form-urlencoded'): string => `POST /hooks/tilda/site HTTP/1.1\nContent-Type: ${type}\n\n${body}`;
const leadOf = (outcomes: Outcome[]): Lead => {
  const o = outcomes[0];
  if (o?.kind !== 'lead') throw new Error(`expected a lead, got ${JSON.stringify(outcomes)}`);
  return o.lead;
};

describe('tilda: intake decisions', () => {
  it('answers the test=test check with 200 ok and enqueues nothing', async () => {
    const r = await runRequest(tildaChannel, fixture('test-ping'));
    expect(r.decision).toEqual({ kind: 'handshake', reply: { status: 200, contentType: 'text/plain; charset=utf-8', body: 'ok' } });
    // Should it ever reach the worker (replay), it is counted, not delivered.
    expect(r.outcomes).toEqual([{ kind: 'ignored', reason: { code: 'tilda:test-ping', detail: 'Tilda check request (test=test)' } }]);
  });

  it('answers a normal submission 200 ok', async () => {
    const r = await runRequest(tildaChannel, fixture('lead-urlencoded'));
    expect(r.decision).toEqual({ kind: 'event', reply: { status: 200, contentType: 'text/plain; charset=utf-8', body: 'ok' } });
  });

  it('a form with a field called "test" is a submission, not a check', async () => {
    const r = await runRequest(tildaChannel, post('test=test&Name=A&tranid=1%3A2&formid=form1'));
    expect(r.decision.kind).toBe('event');
    expect(leadOf(r.outcomes).fields).toEqual([{ key: 'test', label: 'test', value: 'test' }]);
  });
});

describe('tilda: the same submission as urlencoded and as JSON', () => {
  it('gives the same eventId and the same Lead', async () => {
    const a = await runRequest(tildaChannel, fixture('lead-urlencoded'));
    const b = await runRequest(tildaChannel, fixture('lead-json'));
    expect(a.eventId).toBe('4411223:7788990011');
    expect(b.eventId).toBe(a.eventId);
    expect(b.outcomes).toEqual(a.outcomes);
  });
});

describe('tilda: event ids', () => {
  it('tranid, else the cart order id, else none', async () => {
    expect((await runRequest(tildaChannel, post('Name=A&tranid=1%3A2&payment%5Borderid%5D=9'))).eventId).toBe('1:2');
    expect((await runRequest(tildaChannel, post('Name=A&payment%5Borderid%5D=9'))).eventId).toBe('order:9');
    expect((await runRequest(tildaChannel, post('Name=A'))).eventId).toBeUndefined();
    expect((await runRequest(tildaChannel, post('{"Name":"A","tranid":123}', 'application/json'))).eventId).toBe('123');
  });
});

describe('tilda: shop cart', () => {
  it('unwraps `payment` sent as a JSON string inside a form', async () => {
    const payment = JSON.stringify({ orderid: '55', amount: '100', products: [{ name: 'Книга', quantity: '1', price: '100' }] });
    const lead = leadOf((await runRequest(tildaChannel, post(new URLSearchParams({ Name: 'A', tranid: '1:3', payment }).toString()))).outcomes);
    expect(lead.order).toEqual({ id: '55', amount: 100, items: [{ name: 'Книга', quantity: 1, price: 100, amount: 100 }], summary: 'Книга — 1 × 100 = 100\nИтого: 100' });
  });

  it('sums the items when the total is missing, and titles the lead with the order id', async () => {
    const r = await runRequest(
      tildaChannel,
      post('{"tranid":"1:4","payment":{"orderid":"77","products":{"0":{"name":"A","amount":"10.10"},"1":{"name":"B","amount":5}}}}', 'application/json'),
      { settings: { currency: 'RUB', orderTitle: 'Заказ {order} ({form})' } },
    );
    const lead = leadOf(r.outcomes);
    expect(lead.title).toBe('Заказ 77');
    expect(lead.order?.amount).toBe(15.1);
    expect(lead.order?.summary).toBe('A — 10.1\nB — 5\nИтого: 15.1 RUB');
  });

  it.each([
    ['1622.3', 1622.3],
    ['1 622,30', 1622.3],
    ['1\u00a0622,30 ₽', 1622.3],
    ['1,622.30', 1622.3],
    [1622.3, 1622.3],
    ['0', 0],
    ['', undefined],
    ['бесплатно', undefined],
    [null, undefined],
    [Number.NaN, undefined],
  ])('toAmount(%j) → %j', (input, out) => {
    expect(toAmount(input)).toBe(out);
  });
});

describe('tilda: settings', () => {
  it('has defaults and rejects typos', () => {
    expect(TildaSettingsSchema.parse({})).toEqual({ title: 'Заявка с сайта: {form}', orderTitle: 'Заказ с сайта №{order}' });
    expect(TildaSettingsSchema.safeParse({ titel: 'x' }).success).toBe(false);
    expect(TildaSettingsSchema.safeParse({ currency: 'rub' }).success).toBe(false);
  });

  it('maps custom variable names', async () => {
    const lead = leadOf((await runRequest(tildaChannel, post('client=A&cell=89123456789&tranid=1%3A5'), { settings: { fields: { phone: 'cell', name: ['client'] } } })).outcomes);
    expect(lead.contact).toEqual({ name: 'A', phonesE164: ['+79123456789'], phonesUnparsed: [], emails: [] });
  });
});

describe('tilda: robustness', () => {
  it('an empty submission is counted as ignored, not delivered', async () => {
    expect((await runRequest(tildaChannel, post('Name=&Phone=&tranid=1%3A6&formid=form1'))).outcomes).toEqual([
      { kind: 'ignored', reason: { code: 'tilda:empty', detail: 'the submission has no filled fields' } },
    ]);
  });

  it('rejects a non-object payment and an object tranid, naming the field', async () => {
    await expect(runRequest(tildaChannel, post('payment=cash&tranid=1%3A2'))).rejects.toMatchObject({ field: 'payment' });
    await expect(runRequest(tildaChannel, post('tranid%5Ba%5D=1'))).rejects.toMatchObject({ field: 'tranid' });
  });

  it('never throws on odd but valid bodies', async () => {
    const scalar = fc.oneof(fc.string(), fc.integer(), fc.double(), fc.boolean(), fc.constant(null));
    const product = fc.oneof(fc.string(), fc.dictionary(fc.constantFrom('name', 'quantity', 'price', 'amount', 'sku', 'options', 'x'), fc.oneof(scalar, fc.array(fc.dictionary(fc.constantFrom('option', 'variant'), scalar)))));
    const payment = fc.dictionary(fc.constantFrom('orderid', 'amount', 'delivery', 'delivery_price', 'promocode', 'discount', 'sys', 'products', 'currency'), fc.oneof(scalar, fc.array(product, { maxLength: 3 })));
    const body = fc.record(
      { Name: scalar, Phone: scalar, Email: scalar, COOKIES: fc.string(), referer: fc.string(), payment, ma_phone: scalar, extra: fc.anything() },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(body, async (obj) => {
        let r;
        try {
          r = await runRequest(tildaChannel, post(JSON.stringify(obj), 'application/json'));
        } catch (e) {
          expect(e).toBeInstanceOf(InputError);
          expect((e as InputError).field).toBeTruthy();
          return;
        }
        for (const o of r.outcomes) expect(OutcomeSchema.safeParse(o).success).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});
