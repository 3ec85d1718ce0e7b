import { describe, expect, it } from 'vitest';
import { formatPhone, maskPhone, parsePhone, parsePhones, phoneTail10, type CountryCode } from '../../src/domain/phone.ts';

/** [what the person typed, default region, E.164 or undefined (kept unparsed), extension?] */
const SPELLINGS: readonly [string, CountryCode, string | undefined, string?][] = [
  // Russia: trunk 8, bare 7, +7 in every dress
  ['8 912 345-67-89', 'RU', '+79123456789'],
  ['89123456789', 'RU', '+79123456789'],
  ['8(912)3456789', 'RU', '+79123456789'],
  ['79123456789', 'RU', '+79123456789'],
  ['7 (912) 345-67-89', 'RU', '+79123456789'],
  ['+7 (912) 345-67-89', 'RU', '+79123456789'],
  ['+7(912)345 67 89', 'RU', '+79123456789'],
  ['+7-912-345-67-89', 'RU', '+79123456789'],
  ['+7 912 345 67 89', 'RU', '+79123456789'],
  ['  +7 912 345 67 89  ', 'RU', '+79123456789'],
  ['9123456789', 'RU', '+79123456789'],
  ['912.345.67.89', 'RU', '+79123456789'],
  ['+7 (912) 345-67-89', 'DE', '+79123456789'],
  ['8 (812) 123-45-67', 'RU', '+78121234567'],
  ['8123456789', 'RU', '+78123456789'], // St Petersburg written without the trunk 8
  ['телефон: 8 912 345 67 89', 'RU', '+79123456789'],
  // 8-800 freephone
  ['8 (800) 555-35-35', 'RU', '+78005553535'],
  ['8-800-555-35-35', 'RU', '+78005553535'],
  ['88005553535', 'RU', '+78005553535'],
  // extensions
  ['+7 495 123-45-67 доб. 123', 'RU', '+74951234567', '123'],
  ['8 (495) 123-45-67 доб 45', 'RU', '+74951234567', '45'],
  ['8 (495) 123-45-67 Доб.45', 'RU', '+74951234567', '45'],
  ['+7 495 123 45 67 ext. 12', 'RU', '+74951234567', '12'],
  ['+7 495 1234567 x12', 'RU', '+74951234567', '12'],
  ['+1 212 555 0100 ext 7', 'US', '+12125550100', '7'],
  // Telegram sends contact numbers without "+"
  ['79502901932', 'RU', '+79502901932'],
  ['447911123456', 'RU', '+447911123456'],
  ['380501234567', 'RU', '+380501234567'],
  // UK, US, UA, BY, KZ, DE
  ['+44 20 7946 0958', 'RU', '+442079460958'],
  ['+44 7911 123456', 'RU', '+447911123456'],
  ['020 7946 0958', 'GB', '+442079460958'],
  ['+1 (212) 555-0100', 'RU', '+12125550100'],
  ['(212) 555-0100', 'US', '+12125550100'],
  ['+1-415-555-2671', 'RU', '+14155552671'],
  ['+380 44 123 4567', 'RU', '+380441234567'],
  ['044 123 4567', 'UA', '+380441234567'],
  ['+375 29 123-45-67', 'RU', '+375291234567'],
  ['8 029 123 45 67', 'BY', '+375291234567'],
  ['+7 701 234 5678', 'RU', '+77012345678'],
  ['8 701 234 56 78', 'KZ', '+77012345678'],
  ['87012345678', 'RU', '+77012345678'],
  ['+49 30 123456', 'RU', '+4930123456'],
  ['030 1234567', 'DE', '+49301234567'],
  ['+49 151 23456789', 'RU', '+4915123456789'],
  ['0049 30 1234567', 'RU', '+49301234567'],
  // garbage: kept verbatim, never a wrong number
  ['abc', 'RU', undefined],
  ['12345678', 'RU', undefined],
  ['+7 912', 'RU', undefined],
  ['+7 (912) 345-67-8', 'RU', undefined],
  ['+7 (912) 345-67-899', 'RU', undefined],
  ['+7 (9I2) 345-67-89', 'RU', undefined],
  ['+8 912 345 67 89', 'RU', undefined],
  ['', 'RU', undefined],
];

describe('parsePhone: real-world spellings', () => {
  it.each(SPELLINGS)('%j (%s) → %s', (input, region, e164, ext) => {
    const p = parsePhone(input, region);
    expect(p.e164).toBe(e164);
    expect(p.raw).toBe(input.trim());
    if (ext !== undefined) expect(p.extension).toBe(ext);
  });

  it('has a long enough table', () => {
    expect(SPELLINGS.length).toBeGreaterThanOrEqual(35);
  });

  it('never throws, whatever it gets', () => {
    for (const junk of ['+', '++++', '0'.repeat(40), '1'.repeat(17), 'доб. 12', '+7 (___) ___-__-__', '\u0000', '☎️']) {
      expect(() => parsePhone(junk)).not.toThrow();
      expect(parsePhone(junk).e164).toBeUndefined();
    }
    // @ts-expect-error: outside data may be anything
    expect(parsePhone(undefined).e164).toBeUndefined();
  });
});

describe('parsePhones: fields holding several numbers', () => {
  it.each([
    ['8 (912) 345-67-89, 8 (495) 123-45-67', ['+79123456789', '+74951234567'], []],
    ['+79123456789; +74951234567', ['+79123456789', '+74951234567'], []],
    ['+79123456789 +74951234567', ['+79123456789', '+74951234567'], []],
    ['+7 912 345 67 89 или 8 495 123 45 67', ['+79123456789', '+74951234567'], []],
    ['+7 (912) 345-67-89 / +7 (495) 123-45-67', ['+79123456789', '+74951234567'], []],
    ['+7 912 345 67 89\n8 912 345 67 89', ['+79123456789'], []],
    ['8 912  345 67 89', ['+79123456789'], []],
    ['+7 912 345-67-89, доб. 12', ['+79123456789'], []],
    ['+7 912 345 67 89, позвоните вечером', ['+79123456789'], ['позвоните вечером']],
    ['12-34', [], ['12-34']],
    ['', [], []],
  ] as const)('%j', (input, e164, unparsed) => {
    expect(parsePhones([input])).toEqual({ phonesE164: e164, phonesUnparsed: unparsed });
  });

  it('merges several inputs without duplicates', () => {
    expect(parsePhones(['8 912 345 67 89', '+7 912 345-67-89', 'нет'], 'RU')).toEqual({ phonesE164: ['+79123456789'], phonesUnparsed: ['нет'] });
  });
});

describe('formatPhone', () => {
  it.each([
    ['+79123456789', 'ru-display', '+7 (912) 345-67-89'],
    ['+78005553535', 'ru-display', '+7 (800) 555-35-35'],
    ['+77012345678', 'ru-display', '+7 (701) 234-56-78'],
    ['+442079460958', 'ru-display', '+44 20 7946 0958'],
    ['+12125550100', 'ru-display', '+1 212 555 0100'],
    ['+79123456789', 'international', '+7 912 345 67 89'],
    ['+79123456789', 'e164', '+79123456789'],
    ['+79123456789', 'digits', '79123456789'],
    ['not-a-phone', 'international', 'not-a-phone'],
  ] as const)('%s as %s → %s', (e164, format, out) => {
    expect(formatPhone(e164, format)).toBe(out);
  });

  it('defaults to ru-display', () => {
    expect(formatPhone('+79123456789')).toBe('+7 (912) 345-67-89');
  });
});

describe('maskPhone', () => {
  it.each([
    ['+79123456789', '+7 *** ***-**-89'],
    ['+442079460958', '+44 *** ***-**-58'],
    ['+4930123456', '+49 *** ***-**-56'],
    ['+380501234567', '+380 *** ***-**-67'],
    ['+7 (912) 345-67-89', '+7 *** ***-**-89'],
    ['123', '***'],
    ['', '***'],
  ])('%j → %j', (input, masked) => {
    expect(maskPhone(input)).toBe(masked);
  });
});

describe('phoneTail10', () => {
  it('keeps the last ten digits', () => {
    expect(phoneTail10('+79123456789')).toBe('9123456789');
    expect(phoneTail10('8 (912) 345-67-89')).toBe('9123456789');
  });
});
