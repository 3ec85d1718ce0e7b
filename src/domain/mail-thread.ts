/**
 * E-mail threading and body clean-up. Pure helpers over mailparser's output
 * (forms-telegram-email.md §C2, §C3 "Threading" and "Phone from the signature").
 */

/**
 * Every Message-ID this mail refers to, root first: `References` (oldest first per RFC 5322 §3.6.4),
 * then `In-Reply-To`. mailparser gives `references` as a string for one id and an array for several.
 */
export function referencedIds(references: string | readonly string[] | undefined, inReplyTo?: string): string[] {
  const out: string[] = [];
  const add = (raw: string): void => {
    for (const id of raw.match(/<[^<>\s]+>/g) ?? (raw.trim() ? [`<${raw.trim().replace(/^<|>$/g, '')}>`] : [])) {
      if (!out.includes(id)) out.push(id);
    }
  };
  const list = references === undefined ? [] : typeof references === 'string' ? [references] : references;
  for (const r of list) add(r);
  if (inReplyTo) add(inReplyTo);
  return out;
}

const SUBJECT_PREFIX = /^\s*(?:re|fwd?|aw|wg|sv|vs|tr|ответ|отв|пересл|fw)\s*(?:\[\d+\]|\(\d+\))?\s*:\s*/i;

/** `Re: RE[2]: Fwd: Ответ: Заявка` → `Заявка`. */
export function stripSubjectPrefixes(subject: string): string {
  let s = subject;
  for (let i = 0; i < 20; i++) {
    const next = s.replace(SUBJECT_PREFIX, '');
    if (next === s) break;
    s = next;
  }
  return s.trim();
}

/** Lines that start the quoted original in a reply. Forwarded-message markers are not here: a forward is content. */
const QUOTE_START: readonly RegExp[] = [
  /^-{2,}\s*(original message|исходное сообщение|оригинальное сообщение)\s*-{2,}\s*$/i,
  /^on\s.+wrote:\s*$/i,
  /^.+\s(пишет|написал|написала|писал|писала)\s*:\s*$/i,
  /^(from|от):\s.+$/i, // Outlook: "From: …" followed by "Sent:"/"Отправлено:" within the next lines
];

const OUTLOOK_SENT = /^(sent|date|отправлено|дата):\s/i;

/**
 * The new part of a reply: everything before the first quote header, without `>`-quoted lines.
 * "On Tue, 5 Nov 2024, Anna <a@x> wrote:" may be wrapped over two lines; both are detected.
 */
export function stripQuotedHistory(text: string): string {
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  let end = lines.length;
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] ?? '').trim();
    const joined = `${line} ${(lines[i + 1] ?? '').trim()}`.trim();
    if (/^(from|от):\s/i.test(line)) {
      // Only an Outlook header block counts, not a "From: …" line the customer typed.
      const next = lines.slice(i + 1, i + 4).some((l) => OUTLOOK_SENT.test(l.trim()));
      if (next) {
        end = i;
        break;
      }
      continue;
    }
    if (QUOTE_START.some((re) => re.test(line))) {
      end = i;
      break;
    }
    if (/^on\s/i.test(line) && !/wrote:\s*$/i.test(line) && /wrote:\s*$/i.test(joined)) {
      end = i;
      break;
    }
    if (line.startsWith('>') && lines.slice(i).every((l) => l.trim() === '' || l.trim().startsWith('>'))) {
      end = i;
      // Gmail in Russian writes the attribution without a verb: "Вт, 5 нояб. 2024 г. в 10:15, Иван <i@x.ru>:".
      let k = i - 1;
      while (k >= 0 && (lines[k] ?? '').trim() === '') k--;
      if (k >= 0 && /@[^\s]+>?\s*:\s*$/.test((lines[k] ?? '').trim())) end = k;
      break;
    }
  }
  return lines
    .slice(0, end)
    .filter((l) => !l.trimStart().startsWith('>'))
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

/** How many trailing lines stand in for a signature when there is no `-- ` delimiter. */
export const SIGNATURE_FALLBACK_LINES = 10;

/**
 * The signature block: after the last `-- ` delimiter line (RFC 3676 §4.3, also accepted without the
 * trailing space), else the last {@link SIGNATURE_FALLBACK_LINES} non-empty lines.
 */
export function signatureBlock(text: string): string {
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    if (/^--\s?$/.test(lines[i] ?? '')) return lines.slice(i + 1).join('\n').trim();
  }
  const nonEmpty = lines.filter((l) => l.trim() !== '');
  return nonEmpty.slice(-SIGNATURE_FALLBACK_LINES).join('\n');
}
