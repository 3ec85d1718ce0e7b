/**
 * Working hours in a time zone, with the platform's Intl data only (no tz library): is a calendar open at an
 * instant, and when does it next open. Pure; the clock is always passed in.
 */
import { localToIso } from '../domain/local-time.ts';
import { WEEKDAYS, type Calendar, type Weekday } from './schema.ts';

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', weekday: 'short', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' });
    formatters.set(timeZone, f);
  }
  return f;
}

/** Wall-clock facts of an instant in a zone: `2026-11-23`, `mon`, `14:05`. */
export function localParts(at: Date, timeZone: string): { date: string; weekday: Weekday; hhmm: string } {
  const p: Record<string, string> = {};
  for (const x of formatter(timeZone).formatToParts(at)) if (x.type !== 'literal') p[x.type] = x.value;
  const weekday = p.weekday!.toLowerCase().slice(0, 3) as Weekday;
  return { date: `${p.year}-${p.month}-${p.day}`, weekday, hhmm: `${p.hour}:${p.minute}` };
}

export function isOpen(cal: Calendar, defaultZone: string, at: Date): boolean {
  const l = localParts(at, cal.timeZone ?? defaultZone);
  if (cal.closed.includes(l.date)) return false;
  return cal.windows.some((w) => w.days.includes(l.weekday) && l.hhmm >= w.from && l.hhmm < w.to);
}

/** The instant `at` if the calendar is open then, else the start of its next window (searched 370 days ahead). */
export function nextOpening(cal: Calendar, defaultZone: string, at: Date): Date | undefined {
  if (isOpen(cal, defaultZone, at)) return at;
  const zone = cal.timeZone ?? defaultZone;
  const today = localParts(at, zone).date;
  for (let i = 0; i <= 370; i++) {
    const date = addDays(today, i);
    if (cal.closed.includes(date)) continue;
    const weekday = WEEKDAYS[(new Date(`${date}T12:00:00Z`).getUTCDay() + 6) % 7]!;
    const starts = cal.windows.filter((w) => w.days.includes(weekday)).map((w) => w.from).sort();
    for (const from of starts) {
      const iso = localToIso(`${date} ${from === '24:00' ? '23:59' : from}:00`, zone);
      if (!iso) continue;
      const t = new Date(iso);
      if (t.getTime() > at.getTime()) return t;
    }
  }
  return undefined;
}

function addDays(date: string, n: number): string {
  const d = new Date(`${date}T12:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

/** Is `user` away at `at` (whole local days, inclusive)? */
export function isAbsent(absent: readonly { user: string; from?: string | undefined; to?: string | undefined }[], user: string, timeZone: string, at: Date): boolean {
  const today = localParts(at, timeZone).date;
  return absent.some((a) => a.user === user && (a.from === undefined || today >= a.from) && (a.to === undefined || today <= a.to));
}
