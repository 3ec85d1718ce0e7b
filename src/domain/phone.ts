import { parsePhoneNumberFromString, findPhoneNumbersInText, type CountryCode } from 'libphonenumber-js/max';

export type { CountryCode };

export interface PhoneParse {
  /** E.164 when the number is possible for its country, else undefined. */
  e164: string | undefined;
  /** What the sender wrote, trimmed. Kept when unparseable so nothing is lost. */
  raw: string;
  extension: string | undefined;
}

const RU_TRUNK_8 = /^8(\d{10})$/;
const BARE_RU_7 = /^7(\d{10})$/;

/**
 * Parse one phone as a person types it: `8 912 345-67-89`, `7912…`, `+7 (912) …`, `912 345 67 89`,
 * `+44 20 …`, `… доб. 123`. Never throws.
 */
export function parsePhone(input: string, defaultRegion: CountryCode = 'RU'): PhoneParse {
  const raw = String(input ?? '').trim();
  if (raw === '') return { e164: undefined, raw, extension: undefined };
  // Russian habits libphonenumber does not guess from digits alone: a trunk 8 and a bare country code 7.
  const { main, extension } = splitExtension(raw);
  const digits = main.replace(/[^\d+]/g, '');
  let candidate = main;
  if (!digits.startsWith('+')) {
    const bare = digits.replace(/\D/g, '');
    if (defaultRegion === 'RU' || defaultRegion === 'KZ') {
      const m8 = RU_TRUNK_8.exec(bare);
      const m7 = BARE_RU_7.exec(bare);
      if (m8) candidate = `+7${m8[1]}`;
      else if (m7) candidate = `+7${m7[1]}`;
    }
    // `00` international prefix
    if (bare.startsWith('00') && bare.length > 9) candidate = `+${bare.slice(2)}`;
  }
  try {
    const parsed = parsePhoneNumberFromString(candidate, defaultRegion);
    if (parsed && parsed.isPossible()) {
      return { e164: parsed.number, raw, extension: extension ?? parsed.ext ?? undefined };
    }
  } catch {
    // libphonenumber throws on some garbage (too long etc.): treat as unparseable
  }
  // Messenger-style international numbers without `+` (Telegram sends `79123456789`, `447…`).
  const bare = digits.replace(/\D/g, '');
  if (bare.length >= 11 && bare.length <= 15) {
    try {
      const parsed = parsePhoneNumberFromString(`+${bare}`);
      if (parsed && parsed.isValid()) return { e164: parsed.number, raw, extension };
    } catch {
      /* unparseable */
    }
  }
  return { e164: undefined, raw, extension };
}

function splitExtension(s: string): { main: string; extension: string | undefined } {
  const m = /^(.*?)(?:\s*(?:доб\.?|добавочный|ext\.?|extension|x|#|,)\s*(\d{1,6}))\s*$/i.exec(s);
  if (m && m[1] && /\d{6,}/.test(m[1].replace(/\D/g, ''))) return { main: m[1], extension: m[2] };
  return { main: s, extension: undefined };
}

/** Split a field that may hold several phones (`+7 912…, 8 495…`) and parse each. */
export function parsePhones(inputs: readonly string[], defaultRegion: CountryCode = 'RU'): { phonesE164: string[]; phonesUnparsed: string[] } {
  const phonesE164: string[] = [];
  const phonesUnparsed: string[] = [];
  const add = (e164: string): void => {
    if (!phonesE164.includes(e164)) phonesE164.push(e164);
  };
  for (const input of inputs) {
    for (const part of String(input).split(/[;,\n]/)) {
      const trimmed = part.trim();
      if (!trimmed) continue;
      // Two numbers in one piece ("+7 912… +7 495…", "… или 8 495…"): libphonenumber would keep only the first.
      const found = findPhonesInText(trimmed, defaultRegion);
      if (found.length >= 2) {
        found.forEach(add);
        continue;
      }
      // Try the whole piece before splitting on wide gaps: "8 912  345 67 89" is one number typed sloppily.
      const whole = parsePhone(trimmed, defaultRegion);
      if (whole.e164) {
        add(whole.e164);
        continue;
      }
      for (const sub of trimmed.split(/\s{2,}|\s\/\s/)) {
        const s = sub.trim();
        if (!s) continue;
        const p = parsePhone(s, defaultRegion);
        if (p.e164) add(p.e164);
        else if (!phonesUnparsed.includes(p.raw)) phonesUnparsed.push(p.raw);
      }
    }
  }
  // "+7 912 345-67-89, доб. 12" split on the comma leaves a bare extension: not a phone.
  return { phonesE164, phonesUnparsed: phonesUnparsed.filter((u) => !/^(доб\.?|ext\.?)?\s*\d{1,6}$/i.test(u)) };
}

/** Phones found in free text (mail signatures, chat messages). */
export function findPhonesInText(text: string, defaultRegion: CountryCode = 'RU'): string[] {
  const out: string[] = [];
  try {
    for (const m of findPhoneNumbersInText(text, defaultRegion)) {
      if (m.number.isValid() && !out.includes(m.number.number)) out.push(m.number.number);
    }
  } catch {
    /* never throw on odd text */
  }
  return out;
}

/**
 * Display format the CRM shows. `ru-display` → `+7 (912) 345-67-89` for +7 numbers, international
 * format for the rest; `e164` → as is; `international` → `+7 912 345 67 89`.
 */
export type PhoneFormat = 'ru-display' | 'e164' | 'international' | 'digits';
export function formatPhone(e164: string, format: PhoneFormat = 'ru-display'): string {
  if (format === 'e164') return e164;
  if (format === 'digits') return e164.replace(/\D/g, '');
  const ru = /^\+7(\d{3})(\d{3})(\d{2})(\d{2})$/.exec(e164);
  if (format === 'ru-display' && ru) return `+7 (${ru[1]}) ${ru[2]}-${ru[3]}-${ru[4]}`;
  const parsed = parsePhoneNumberFromString(e164);
  return parsed ? parsed.formatInternational() : e164;
}

/** Last 10 digits: how amoCRM matches calls and how we search contacts. */
export function phoneTail10(e164OrAny: string): string {
  const d = e164OrAny.replace(/\D/g, '');
  return d.slice(-10);
}

/** `+7 *** ***-**-67`: enough for an operator to tell numbers apart, not enough to call. */
export function maskPhone(s: string): string {
  const d = s.replace(/\D/g, '');
  if (d.length < 5) return '***';
  // The real country code when the number parses (+49 has 10 digits in all, +380 has 12), else a guess.
  let cc = d.slice(0, d.length - 10 > 0 ? d.length - 10 : 1);
  try {
    const parsed = parsePhoneNumberFromString(`+${d}`);
    if (parsed) cc = parsed.countryCallingCode;
  } catch {
    /* keep the guess */
  }
  return `+${cc} *** ***-**-${d.slice(-2)}`;
}
