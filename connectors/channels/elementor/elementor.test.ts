import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InputError, OutcomeSchema, type Lead, type Outcome } from '#sdk';
import { runRequest } from '../../../test/support/http-fixture.ts';
import { elementorChannel } from './index.ts';

const fixture = (name: string): Buffer => readFileSync(new URL(`./fixtures/${name}.http`, import.meta.url));
const post = (body: string, type = 'application/x-www-form-urlencoded'): string => `POST /hooks/elementor/site HTTP/1.1\nContent-Type: ${type}\n\n${body}`;
const leadOf = (outcomes: Outcome[]): Lead => {
  const o = outcomes[0];
  if (o?.kind !== 'lead') throw new Error(`expected a lead, got ${JSON.stringify(outcomes)}`);
  return o.lead;
};

describe('elementor: Advanced Data on and off', () => {
  it('read the same contact, message, form name and UTM from both shapes', async () => {
    const on = leadOf((await runRequest(elementorChannel, fixture('advanced-on'))).outcomes);
    const off = leadOf((await runRequest(elementorChannel, fixture('advanced-off'))).outcomes);
    expect(off.contact).toEqual(on.contact);
    expect(off.message).toBe(on.message);
    expect(off.formName).toBe(on.formName);
    expect(off.fields.map((f) => [f.label, f.value])).toEqual(on.fields.map((f) => [f.label, f.value]));
    expect(off.utm).toEqual({ source: 'google', medium: 'cpc', campaign: 'interior_2026' });
    expect(on.utm).toEqual(off.utm);
    expect(on.tracking.ip).toBe('198.51.100.23');
  });

  it('has no sender id: eventId is left to the body hash', async () => {
    const r = await runRequest(elementorChannel, fixture('advanced-on'));
    expect(r.eventId).toBeUndefined();
    expect(leadOf(r.outcomes).externalId).toMatch(/^sha256:[0-9a-f]{64}$/);
  });
});

describe('elementor: field details', () => {
  it('uses the field type: tel and email fields whatever their labels', async () => {
    const body = new URLSearchParams({
      'fields[f1][id]': 'f1', 'fields[f1][type]': 'tel', 'fields[f1][title]': 'Куда перезвонить?', 'fields[f1][value]': '8 912 345 67 89',
      'fields[f2][id]': 'f2', 'fields[f2][type]': 'email', 'fields[f2][title]': 'Куда прислать КП?', 'fields[f2][value]': 'Boss@Example.com',
    }).toString();
    const lead = leadOf((await runRequest(elementorChannel, post(body))).outcomes);
    expect(lead.contact).toEqual({ phonesE164: ['+79123456789'], phonesUnparsed: [], emails: ['boss@example.com'] });
  });

  it('numeric custom ids (qs makes an array of them) still work', async () => {
    const lead = leadOf((await runRequest(elementorChannel, post('fields%5B0%5D%5Btitle%5D=Name&fields%5B0%5D%5Bvalue%5D=Ann&fields%5B1%5D%5Btitle%5D=Phone&fields%5B1%5D%5Bvalue%5D=89123456789'))).outcomes);
    expect(lead.contact.name).toBe('Ann');
    expect(lead.contact.phonesE164).toEqual(['+79123456789']);
  });

  it('unlabelled flat fields answer to their id; other labels stay fields', async () => {
    const lead = leadOf((await runRequest(elementorChannel, post('No+Label+phone=89123456789&No+Label+utm_term=sofa&Referrer+Title=Blog&form_name=F'))).outcomes);
    expect(lead.contact.phonesE164).toEqual(['+79123456789']);
    expect(lead.utm).toEqual({ term: 'sofa' });
    expect(lead.fields).toEqual([{ key: 'Referrer Title', label: 'Referrer Title', value: 'Blog' }]);
  });

  it('checkbox values given as an array are joined', async () => {
    const lead = leadOf((await runRequest(elementorChannel, post('{"fields":{"name":{"value":"A"},"opts":{"title":"Опции","value":["x","y"]}}}', 'application/json'))).outcomes);
    expect(lead.fields).toEqual([{ key: 'opts', label: 'Опции', value: 'x, y' }]);
  });

  it('an upload kept only as an e-mail attachment ("attached") is not a URL', async () => {
    const lead = leadOf((await runRequest(elementorChannel, post('{"fields":{"name":{"value":"A"},"cv":{"type":"upload","value":"attached"}}}', 'application/json'))).outcomes);
    expect(lead.attachments).toEqual([]);
  });

  it('rejects a meta row that is not an object, naming it', async () => {
    await expect(runRequest(elementorChannel, post('meta%5Bpage_url%5D=x'))).rejects.toMatchObject({ field: 'meta.page_url' });
  });

  it('an empty submission is ignored, not delivered', async () => {
    expect((await runRequest(elementorChannel, post('fields%5Bname%5D%5Bvalue%5D=&form%5Bname%5D=F'))).outcomes).toEqual([
      { kind: 'ignored', reason: { code: 'elementor:empty', detail: 'the submission has no filled fields' } },
    ]);
  });

  it('never throws on odd but valid bodies', async () => {
    const scalar = fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.constant(null));
    const field = fc.record({ id: scalar, type: fc.oneof(scalar, fc.constantFrom('tel', 'email', 'upload', 'honeypot', 'textarea')), title: scalar, value: fc.oneof(scalar, fc.array(scalar)) }, { requiredKeys: [] });
    const body = fc.oneof(
      fc.record({ form: fc.record({ id: scalar, name: scalar }, { requiredKeys: [] }), fields: fc.dictionary(fc.string(), field), meta: fc.dictionary(fc.string(), fc.record({ title: scalar, value: scalar }, { requiredKeys: [] })) }, { requiredKeys: [] }),
      fc.dictionary(fc.oneof(fc.string(), fc.constantFrom('Page URL', 'Remote IP', 'form_name', 'No Label x')), scalar),
    );
    await fc.assert(
      fc.asyncProperty(body, async (obj) => {
        let r;
        try {
          r = await runRequest(elementorChannel, post(JSON.stringify(obj), 'application/json'));
        } catch (e) {
          expect(e).toBeInstanceOf(InputError);
          return;
        }
        for (const o of r.outcomes) expect(OutcomeSchema.safeParse(o).success).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});
