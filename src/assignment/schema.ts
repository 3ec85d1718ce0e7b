/**
 * The assignment rules file (`mappings/assignment.yaml`, named by `crm[].assignment`): who takes a new lead.
 * Data only, like mappings: conditions are closed lists of values, never expressions. See mappings/assignment.yaml.
 */
import { z } from 'zod';
import { isTimeZone } from '../domain/local-time.ts';

/** A CRM user id as the CRM writes it (amoCRM and Bitrix24 both use digits). */
const UserId = z.union([z.string(), z.number()]).transform(String).pipe(z.string().regex(/^\d{1,20}$/, 'a CRM user id like 8801235'));
const Hhmm = z.string().regex(/^([01]\d|2[0-4]):[0-5]\d$/, 'a time like 09:00 (24-hour)');
export const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export type Weekday = (typeof WEEKDAYS)[number];
const TimeZone = z.string().refine(isTimeZone, 'an IANA time zone like Europe/Moscow');
const Day = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'a date like 2026-12-31');
/** One value or a list of them; compared case-insensitively. */
const OneOrMany = z.union([z.string(), z.number()]).transform((v) => [String(v)]).or(z.array(z.union([z.string(), z.number()]).transform(String)).min(1));

export const WindowSchema = z
  .object({
    days: z.array(z.enum(WEEKDAYS)).min(1),
    from: Hhmm,
    /** Exclusive; `24:00` is midnight at the end of the day. Past midnight: write two windows. */
    to: Hhmm,
  })
  .strict()
  .refine((w) => w.from < w.to, { message: '`from` must be before `to` (a window past midnight is two windows)', path: ['to'] });
export type Window = z.infer<typeof WindowSchema>;

export const CalendarSchema = z
  .object({
    /** @defaultValue the file's `timeZone` */
    timeZone: TimeZone.optional(),
    windows: z.array(WindowSchema).min(1),
    /** Days off (holidays) in the calendar's time zone. */
    closed: z.array(Day).default([]),
  })
  .strict();
export type Calendar = z.infer<typeof CalendarSchema>;

const Member = z.union([UserId.transform((id) => ({ id, weight: 1 })), z.object({ id: UserId, weight: z.number().int().min(1).max(1000).default(1) }).strict()]);
export type GroupMember = { id: string; weight: number };

export const GroupSchema = z
  .object({
    /**
     * `round-robin`: each in turn; `least-open`: the one with the fewest open leads the hub assigned;
     * `weighted`: shares proportional to `weight` (smooth weighted round robin).
     */
    strategy: z.enum(['round-robin', 'least-open', 'weighted']).default('round-robin'),
    users: z.array(Member).min(1),
  })
  .strict();
export type Group = z.infer<typeof GroupSchema>;

export const ConditionSchema = z
  .object({
    /** Channel connector ids: `tilda`, `mango`, `telegram`… */
    channel: OneOrMany.optional(),
    /** Source ids from `sources[].id`. */
    source: OneOrMany.optional(),
    /** The called line (the company number the client dialled, a call's `to`/DID), any notation. */
    line: OneOrMany.optional(),
    /** Form name/id as the site sends it. */
    form: OneOrMany.optional(),
    utm: z
      .object({ source: OneOrMany.optional(), medium: OneOrMany.optional(), campaign: OneOrMany.optional(), content: OneOrMany.optional(), term: OneOrMany.optional() })
      .strict()
      .optional(),
    /** Matches while this calendar (from `hours`) is open… */
    hours: z.string().optional(),
    /** …or while it is closed. */
    outsideHours: z.string().optional(),
  })
  .strict();
export type Condition = z.infer<typeof ConditionSchema>;

export const RuleSchema = z
  .object({
    /** Shown in logs and notes. */
    name: z.string().optional(),
    /** Every listed condition must hold; absent → always (a default rule, put it last). */
    when: ConditionSchema.default({}),
    /** A key of `groups`. */
    group: z.string(),
  })
  .strict();
export type Rule = z.infer<typeof RuleSchema>;

export const AbsenceSchema = z.union([
  UserId.transform((user) => ({ user })),
  z.object({ user: UserId, from: Day.optional(), to: Day.optional(), note: z.string().optional() }).strict(),
]);
export type Absence = { user: string; from?: string | undefined; to?: string | undefined };

export const AssignmentFileSchema = z
  .object({
    /** Time zone of calendars and absence dates. */
    timeZone: TimeZone,
    /** A known contact's (or open lead's) responsible keeps a new lead while active and present. @defaultValue true */
    sticky: z.boolean().default(true),
    hours: z.record(z.string(), CalendarSchema).default({}),
    groups: z.record(z.string(), GroupSchema).refine((g) => Object.keys(g).length > 0, 'define at least one group'),
    /** First match wins; no match → the CRM's default responsible. */
    rules: z.array(RuleSchema).min(1),
    /** Users on leave (whole days, inclusive, in `timeZone`); without dates → until removed. */
    absent: z.array(AbsenceSchema).default([]),
    reassign: z
      .object({
        /** @defaultValue true */
        enabled: z.boolean().default(true),
        /** Minutes the follow-up task may stay open before the lead moves on (fractions allowed for tests). @defaultValue 15 */
        afterMinutes: z.number().positive().max(7 * 24 * 60).default(15),
        /** How many times one lead may move. @defaultValue 2 */
        maxTimes: z.number().int().min(0).max(20).default(2),
        /** Calendar (from `hours`) outside which nothing moves: the check waits for the next opening. Unset → always. */
        hours: z.string().optional(),
        /** Note left on the lead; `{from}`, `{to}`, `{minutes}` are replaced. */
        note: z.string().default('Задача не взята в работу за {minutes} мин.: сделка передана от {from} к {to}'),
      })
      .strict()
      .prefault({}),
  })
  .strict();
export type AssignmentFile = z.infer<typeof AssignmentFileSchema>;
