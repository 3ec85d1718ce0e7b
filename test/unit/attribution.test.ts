import { describe, expect, it } from 'vitest';
import { extractAttribution, gaClientId, isAttributionKey, parseCookies, parseTildaUtmCookie } from '../../src/domain/attribution.ts';

describe('extractAttribution', () => {
  it('reads UTM and click ids from explicit fields, keys in any case', () => {
    const a = extractAttribution({
      fields: {
        UTM_SOURCE: 'yandex',
        utm_Medium: ' cpc ',
        utm_campaign: 'brand_msk',
        utm_content: 'ad1',
        utm_term: 'купить диван',
        gclid: 'Cj0KCQ',
        yclid: '123456789',
        fbclid: 'IwAR0',
        _ym_uid: '1700000000123456789',
        _ym_counter: 98765432,
        _ga: 'GA1.1.1234567890.1700000000',
        roistat_visit: '482913',
        _openstat: 'ZGlyZWN0',
        Name: 'Иван',
      },
    });
    expect(a).toEqual({
      utm: { source: 'yandex', medium: 'cpc', campaign: 'brand_msk', content: 'ad1', term: 'купить диван' },
      tracking: {
        gclid: 'Cj0KCQ',
        yclid: '123456789',
        fbclid: 'IwAR0',
        ymUid: '1700000000123456789',
        ymCounter: '98765432',
        gaClientId: '1234567890.1700000000',
        roistat: '482913',
        openstat: 'ZGlyZWN0',
      },
    });
  });

  it('fields win over cookies, cookies over URLs; empty values fall through', () => {
    const a = extractAttribution({
      fields: [
        ['utm_source', 'field-src'],
        ['utm_medium', ''],
        ['utm_campaign', 'undefined'],
      ],
      cookies: 'utm_medium=cookie-med; utm_campaign=cookie-camp; _ym_uid=111',
      urls: ['https://example.ru/page?utm_source=url-src&utm_medium=url-med&utm_content=url-content&_ym_uid=222&yclid=777'],
    });
    expect(a.utm).toEqual({ source: 'field-src', medium: 'cookie-med', campaign: 'cookie-camp', content: 'url-content' });
    expect(a.tracking).toEqual({ ymUid: '111', yclid: '777' });
  });

  it('earlier URLs win over later ones; fragments and bad escapes do not break it', () => {
    const a = extractAttribution({
      urls: [undefined, 'https://a.ru/?UTM_SOURCE=first#utm_medium=frag', 'https://b.ru/x?utm_source=second&utm_medium=m%ZZ', 'not a url'],
    });
    expect(a.utm).toEqual({ source: 'first', medium: 'm%ZZ' });
  });

  it('decodes the cookie string and Tilda’s TILDAUTM cookie', () => {
    const tildaUtm = encodeURIComponent('utm_source=vk|||utm_medium=social|||utm_campaign=%d0%be%d1%81%d0%b5%d0%bd%d1%8c|||');
    const a = extractAttribution({
      cookies: `_ga=GA1.2.555.666; TILDAUTM=${tildaUtm}; roistat_visit=42; _ym_uid=1700000000123456789; tildasid=abc`,
    });
    expect(a.utm).toEqual({ source: 'vk', medium: 'social', campaign: 'осень' });
    expect(a.tracking).toEqual({ gaClientId: '555.666', roistat: '42', ymUid: '1700000000123456789' });
  });

  it('a direct utm cookie wins over TILDAUTM', () => {
    const a = extractAttribution({ cookies: `TILDAUTM=${encodeURIComponent('utm_source=tilda|||')}; utm_source=direct` });
    expect(a.utm.source).toBe('direct');
  });

  it('a bare roistat marker is the fallback for roistat_visit', () => {
    expect(extractAttribution({ urls: ['https://x.ru/?roistat=direct1'] }).tracking).toEqual({ roistat: 'direct1' });
    expect(extractAttribution({ fields: { roistat: 'm' }, cookies: 'roistat_visit=9' }).tracking).toEqual({ roistat: 'm' });
  });

  it('a malformed _ga does not hide a good one further down', () => {
    const a = extractAttribution({ fields: { _ga: 'garbage' }, cookies: '_ga=GA1.1.42.43' });
    expect(a.tracking.gaClientId).toBe('42.43');
  });

  it('takes the first non-empty item of repeated keys', () => {
    expect(extractAttribution({ fields: { utm_source: ['', 'google', 'yandex'] } }).utm).toEqual({ source: 'google' });
  });

  it('returns empty objects when there is nothing', () => {
    expect(extractAttribution({})).toEqual({ utm: {}, tracking: {} });
    expect(extractAttribution({ fields: { utm_source: { nested: 1 } }, cookies: ';;=x; a', urls: ['https://x.ru/'] })).toEqual({ utm: {}, tracking: {} });
  });
});

describe('helpers', () => {
  it('gaClientId', () => {
    expect(gaClientId('GA1.1.1234567890.1700000000')).toBe('1234567890.1700000000');
    expect(gaClientId('1234567890.1700000000')).toBe('1234567890.1700000000');
    expect(gaClientId('GA1.1')).toBe('1.1');
    expect(gaClientId('nope')).toBeUndefined();
    expect(gaClientId(undefined)).toBeUndefined();
  });

  it('parseCookies decodes values, keeps the first duplicate, strips quotes', () => {
    const jar = parseCookies('a=1; b=%D0%B4%D0%B0; a=2; c="q"; broken=%E0%A4%A; =x; novalue');
    expect(Object.fromEntries(jar)).toEqual({ a: '1', b: 'да', c: 'q', broken: '%E0%A4%A' });
  });

  it('parseTildaUtmCookie', () => {
    expect(Object.fromEntries(parseTildaUtmCookie('utm_source=yandex|||utm_term=%d0%b4%d0%b8%d0%b2%d0%b0%d0%bd+%d0%ba%d1%83%d0%bf%d0%b8%d1%82%d1%8c|||'))).toEqual({
      utm_source: 'yandex',
      utm_term: 'диван купить',
    });
  });

  it('isAttributionKey', () => {
    expect(isAttributionKey('UTM_Source')).toBe(true);
    expect(isAttributionKey('_ym_uid')).toBe(true);
    expect(isAttributionKey('Name')).toBe(false);
  });
});
