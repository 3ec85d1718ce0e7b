/** `time` block of every REST answer (docs `api-reference/data-types.md#time`). */
export interface TimeBlock {
  start: number;
  finish: number;
  duration: number;
  processing: number;
  date_start: string;
  date_finish: string;
  operating_reset_at?: number;
  operating?: number;
}

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

/** ISO-8601 with the portal's offset, seconds precision: `2026-03-10T11:19:38+03:00`. */
export function formatPortalDate(epochMs: number, utcOffsetMinutes: number): string {
  const shifted = new Date(epochMs + utcOffsetMinutes * 60_000);
  const sign = utcOffsetMinutes < 0 ? '-' : '+';
  const abs = Math.abs(utcOffsetMinutes);
  return (
    `${shifted.getUTCFullYear()}-${pad(shifted.getUTCMonth() + 1)}-${pad(shifted.getUTCDate())}` +
    `T${pad(shifted.getUTCHours())}:${pad(shifted.getUTCMinutes())}:${pad(shifted.getUTCSeconds())}` +
    `${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`
  );
}

/** Portal-local date only, as `BEGINDATE`/`CLOSEDATE` come back: midnight with offset. */
export function formatPortalDay(epochMs: number, utcOffsetMinutes: number): string {
  const local = formatPortalDate(epochMs, utcOffsetMinutes);
  return `${local.slice(0, 10)}T00:00:00${local.slice(19)}`;
}

export function timeBlock(
  startMs: number,
  finishMs: number,
  utcOffsetMinutes: number,
  operating?: { operating: number; resetAt: number },
): TimeBlock {
  const start = startMs / 1000;
  const finish = Math.max(finishMs, startMs) / 1000;
  const block: TimeBlock = {
    start,
    finish,
    duration: finish - start,
    processing: finish - start,
    date_start: formatPortalDate(startMs, utcOffsetMinutes),
    date_finish: formatPortalDate(finishMs, utcOffsetMinutes),
  };
  if (operating) {
    block.operating_reset_at = operating.resetAt;
    block.operating = operating.operating;
  }
  return block;
}

/**
 * Accepts what Bitrix date-time parameters take: ISO 8601 with or without offset and the
 * space-separated `2026-08-19 15:00:00` (docs tutorial `how-to-add-objects-with-crm-mode`).
 * Without an offset the portal's offset applies. Returns epoch ms or undefined.
 */
export function parsePortalDateTime(value: unknown, utcOffsetMinutes: number): number | undefined {
  if (typeof value !== 'string') return undefined;
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?\s*(Z|[+-]\d{2}:?\d{2})?$/.exec(value.trim());
  if (!m) return undefined;
  const [, y, mo, d, h = '0', mi = '0', s = '0', zone] = m;
  const utc = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
  if (Number.isNaN(utc)) return undefined;
  let offset = utcOffsetMinutes;
  if (zone === 'Z') offset = 0;
  else if (zone) {
    const digits = zone.replace(':', '');
    offset = (digits.startsWith('-') ? -1 : 1) * (Number(digits.slice(1, 3)) * 60 + Number(digits.slice(3, 5)));
  }
  return utc - offset * 60_000;
}
