/**
 * Unit tests of the `__ID__` connector. The shared contract suite (test/contract/channel-contract.test.ts) already
 * runs every fixture in ./fixtures against its golden; test here what a golden cannot show, one case per rule.
 */
import { describe, expect, it } from 'vitest';
import { InputError } from '#sdk';
import { runRequest } from '../../../test/support/http-fixture.ts';
import { __CAMEL__Channel } from './index.ts';

const post = (body: string, type = 'application/json'): string => `POST /hooks/__ID__/example HTTP/1.1\nContent-Type: ${type}\n\n${body}`;

describe('__ID__', () => {
  it('takes the sender id as the idempotency key', async () => {
    const r = await runRequest(__CAMEL__Channel, post(JSON.stringify({ id: 42, phone: '+7 912 345-67-89' })));
    expect(r.eventId).toBe('42');
  });

  it('without an id, leaves the key to the gateway (hash of the body)', async () => {
    const r = await runRequest(__CAMEL__Channel, post(JSON.stringify({ phone: '+7 912 345-67-89' })));
    expect(r.eventId).toBeUndefined();
    expect(r.outcomes[0]?.kind).toBe('lead');
  });

  it('reads urlencoded bodies the same way as JSON', async () => {
    const r = await runRequest(__CAMEL__Channel, post('name=%D0%98%D0%B2%D0%B0%D0%BD&phone=89123456789', 'application/x-www-form-urlencoded'));
    const o = r.outcomes[0];
    expect(o?.kind === 'lead' ? o.lead.contact.phonesE164 : []).toEqual(['+79123456789']);
  });

  it('rejects an id of the wrong shape, naming the field', async () => {
    const err = await runRequest(__CAMEL__Channel, post(JSON.stringify({ id: [1], name: 'x' }))).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).field).toBe('id');
  });

  it('uses the title from the settings', async () => {
    const r = await runRequest(__CAMEL__Channel, post(JSON.stringify({ name: 'Иван' })), { settings: { title: 'Квиз' } });
    const o = r.outcomes[0];
    expect(o?.kind === 'lead' ? o.lead.title : undefined).toBe('Квиз');
  });
});
