import { afterEach, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { createCallerCache, createCallerLookup, LookupTimeoutError } from './caller-cache.ts';
import { decodeCrmForm as decodeUrlencoded, readCrmChange } from '../gateway/crm-events.plugin.ts';
import type { CallerInfo } from '../sdk/crm.ts';
import { cleanupPrefix, TEST_REDIS_URL, uniquePrefix } from '../../test/support/redis.ts';

const PHONE = '+79161234567';
const IVAN: CallerInfo = { contactId: '55', name: 'Иван', responsibleUserId: '7', openLeadId: '900' };

describe('caller-ID cache and lookup', () => {
  const prefix = uniquePrefix();
  const redis = new Redis(TEST_REDIS_URL);
  afterEach(async () => cleanupPrefix(prefix));

  function setup(crm: (phone: string) => Promise<CallerInfo | null>) {
    const cache = createCallerCache({ redis, key: (a, k) => `${prefix}:cache:${a}:${k}`, ttlSec: 60, negativeTtlSec: 60 });
    let asked = 0;
    const lookup = createCallerLookup({
      cache,
      askCrm: (_a, phone) => {
        asked++;
        return crm(phone);
      },
      extensions: () => ({ '7': '107' }),
    });
    return { cache, lookup, asked: () => asked };
  }

  it('a miss asks the CRM once, even for concurrent askers; then the cache answers, with the extension from config', async () => {
    const t = setup(async () => {
      await new Promise((r) => setTimeout(r, 30));
      return IVAN;
    });
    const answers = await Promise.all([1, 2, 3].map(() => t.lookup.lookup('a', PHONE, 1_000)));
    expect(answers.map((a) => a.from)).toEqual(['crm', 'crm', 'crm']);
    expect(answers[0]!.info).toEqual({ ...IVAN, extension: '107' });
    expect(await t.lookup.lookup('a', PHONE, 1_000)).toEqual({ from: 'cache', info: { ...IVAN, extension: '107' } });
    expect(t.asked()).toBe(1);
  });

  it('invalidation by contact, by open lead or by phone drops the entry; any change drops "unknown number" entries', async () => {
    const t = setup(async (phone) => (phone === PHONE ? IVAN : null));
    for (const what of [{ contactIds: ['55'] }, { leadIds: ['900'] }, { phonesE164: [PHONE] }]) {
      await t.lookup.lookup('a', PHONE, 1_000);
      expect((await t.cache.read('a', PHONE)).hit).toBe(true);
      expect(await t.cache.invalidate('a', what)).toBe(1);
      expect((await t.cache.read('a', PHONE)).hit).toBe(false);
    }
    await t.lookup.lookup('a', '+79035550000', 1_000);
    expect(await t.cache.read('a', '+79035550000')).toEqual({ hit: true, info: null });
    await t.cache.invalidate('a', { contactIds: ['12345'] });
    expect((await t.cache.read('a', '+79035550000')).hit).toBe(false);
  });

  it('an answer fetched while the CRM changed is not cached (it may be stale already)', async () => {
    let release!: () => void;
    const t = setup(() => new Promise((r) => (release = () => r(IVAN))));
    const pending = t.lookup.lookup('a', PHONE, 1_000);
    await new Promise((r) => setTimeout(r, 20));
    await t.cache.invalidate('a', { contactIds: ['55'] });
    release();
    expect((await pending).info?.contactId).toBe('55');
    expect((await t.cache.read('a', PHONE)).hit).toBe(false);
  });

  it('a slow CRM: the asker gets LookupTimeoutError, the answer still fills the cache', async () => {
    const t = setup(() => new Promise((r) => setTimeout(() => r(IVAN), 80)));
    await expect(t.lookup.lookup('a', PHONE, 10)).rejects.toBeInstanceOf(LookupTimeoutError);
    await new Promise((r) => setTimeout(r, 120));
    expect((await t.lookup.lookup('a', PHONE, 10)).from).toBe('cache');
  });
});

describe('CRM webhooks → what changed', () => {
  it('amoCRM: PHP-bracket contacts and leads, phones from custom fields', () => {
    const body =
      'contacts%5Bupdate%5D%5B0%5D%5Bid%5D=5512345&contacts%5Bupdate%5D%5B0%5D%5Bcustom_fields%5D%5B0%5D%5Bid%5D=610921' +
      '&contacts%5Bupdate%5D%5B0%5D%5Bcustom_fields%5D%5B0%5D%5Bvalues%5D%5B0%5D%5Bvalue%5D=%2B7%20916%20123-45-67' +
      '&contacts%5Badd%5D%5B0%5D%5Bid%5D=5512346&leads%5Bstatus%5D%5B0%5D%5Bid%5D=26053199&account%5Bid%5D=28805383';
    expect(readCrmChange(decodeUrlencoded(body), 'RU')).toEqual({ contactIds: ['5512345', '5512346'], leadIds: ['26053199'], phonesE164: [PHONE], seen: ['contacts.update', 'contacts.add', 'leads.status'] });
  });

  it('Bitrix24: event name and data[FIELDS][ID]; deals and unknown shapes change nothing specific', () => {
    expect(readCrmChange(decodeUrlencoded('event=ONCRMCONTACTUPDATE&data%5BFIELDS%5D%5BID%5D=82'), 'RU')).toMatchObject({ contactIds: ['82'], leadIds: [] });
    expect(readCrmChange(decodeUrlencoded('event=ONCRMLEADDELETE&data%5BFIELDS%5D%5BID%5D=9'), 'RU')).toMatchObject({ contactIds: [], leadIds: ['9'] });
    expect(readCrmChange(decodeUrlencoded('event=ONCRMDEALUPDATE&data%5BFIELDS%5D%5BID%5D=3'), 'RU')).toMatchObject({ contactIds: [], leadIds: [], seen: ['ONCRMDEALUPDATE'] });
    expect(readCrmChange({ something: 'else' }, 'RU')).toEqual({ contactIds: [], leadIds: [], phonesE164: [], seen: [] });
  });
});
