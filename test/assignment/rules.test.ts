/** Assignment rules as pure functions: rule tables, working hours in time zones, absences, sticky, each strategy. */
import { describe, expect, it } from 'vitest';
import { apply, candidates, choose, isAvailable, matchRule, stickyPick, type Candidate, type StrategyState } from '../../src/assignment/rules.ts';
import { isAbsent, isOpen, nextOpening } from '../../src/assignment/hours.ts';
import { checkUsers } from '../../src/assignment/load.ts';
import { ConfigError } from '../../src/sdk/errors.ts';
import { rulesFrom } from './support/rules-file.ts';

const RULES = `
timeZone: Europe/Moscow
hours:
  office:
    windows:
      - { days: [mon, tue, wed, thu, fri], from: "09:00", to: "18:00" }
      - { days: [sat], from: "10:00", to: "15:00" }
    closed: ["2026-12-31"]
  vladivostok:
    timeZone: Asia/Vladivostok
    windows: [{ days: [mon, tue, wed, thu, fri], from: "09:00", to: "18:00" }]
groups:
  sales: { strategy: round-robin, users: ["1", "2", "3"] }
  calls: { strategy: least-open, users: ["4", "5"] }
  night: { strategy: weighted, users: [{ id: "6", weight: 3 }, { id: "7", weight: 1 }] }
  far-east: { users: ["8"] }
rules:
  - name: line
    when: { line: ["+7 495 123-45-67"] }
    group: calls
  - name: telegram-bot
    when: { channel: telegram, source: [tg-main] }
    group: sales
  - name: yandex-brand-office
    when: { utm: { source: [Yandex], campaign: [brand, brand-2] }, hours: office }
    group: sales
  - name: far-east-form
    when: { form: ["Заявка ДВ"], hours: vladivostok }
    group: far-east
  - name: after-hours
    when: { outsideHours: office }
    group: night
  - name: default
    group: sales
absent:
  - "3"
  - { user: "2", from: "2026-12-20", to: "2026-12-25" }
`;
const rules = rulesFrom(RULES);
// 2026-11-23 is a Monday. Moscow is UTC+3 all year, Vladivostok UTC+10.
const MON_1000_MSK = new Date('2026-11-23T07:00:00Z');
const MON_0859_MSK = new Date('2026-11-23T05:59:00Z');
const MON_0900_MSK = new Date('2026-11-23T06:00:00Z');
const MON_1800_MSK = new Date('2026-11-23T15:00:00Z');

describe('matchRule: first matching rule wins', () => {
  const table: [string, Parameters<typeof matchRule>[1], string | undefined][] = [
    ['called line in another notation', { line: '84951234567', at: MON_1000_MSK }, 'line'],
    ['called line not listed → next rules', { line: '+74950000000', at: MON_1000_MSK }, 'default'],
    ['channel and source both hold', { channel: 'telegram', sourceId: 'tg-main', at: MON_1000_MSK }, 'telegram-bot'],
    ['channel holds, source does not', { channel: 'telegram', sourceId: 'tg-other', at: MON_1000_MSK }, 'default'],
    ['utm values compared case-insensitively, all listed keys must hold', { utm: { source: 'yandex', campaign: 'BRAND-2' }, at: MON_1000_MSK }, 'yandex-brand-office'],
    ['utm campaign missing → the utm rule does not hold', { utm: { source: 'yandex' }, at: MON_1000_MSK }, 'default'],
    ['utm rule outside office hours → after-hours', { utm: { source: 'yandex', campaign: 'brand' }, at: MON_1800_MSK }, 'after-hours'],
    ['08:59 Moscow is outside (09:00 opens)', { at: MON_0859_MSK }, 'after-hours'],
    ['09:00 Moscow is inside', { at: MON_0900_MSK }, 'default'],
    ['Saturday 14:59 Moscow inside', { at: new Date('2026-11-28T11:59:00Z') }, 'default'],
    ['Saturday 15:00 Moscow outside (to is exclusive)', { at: new Date('2026-11-28T12:00:00Z') }, 'after-hours'],
    ['Sunday outside', { at: new Date('2026-11-29T08:00:00Z') }, 'after-hours'],
    ['a closed day (holiday) is outside even on a weekday', { at: new Date('2026-12-31T08:00:00Z') }, 'after-hours'],
    // 02:00 UTC Monday is 12:00 in Vladivostok but 05:00 in Moscow: the form rule uses its own zone.
    ['form rule with a calendar in another time zone (open there)', { form: 'Заявка ДВ', at: new Date('2026-11-23T02:00:00Z') }, 'far-east-form'],
    ['form rule in its zone after hours → Moscow rules', { form: 'Заявка ДВ', at: new Date('2026-11-23T09:00:00Z') }, 'default'],
  ];
  it.each(table)('%s', (_name, input, expected) => {
    expect(matchRule(rules, input)?.rule.name).toBe(expected);
  });

  it('no rule holds → undefined (the CRM default applies)', () => {
    const r = rulesFrom(`
timeZone: UTC
groups: { a: { users: ["1"] } }
rules: [ { when: { channel: tilda }, group: a } ]
`);
    expect(matchRule(r, { channel: 'form', at: MON_1000_MSK })).toBeUndefined();
  });
});

describe('working hours', () => {
  it('nextOpening: Friday evening in Moscow → Saturday 10:00 Moscow', () => {
    expect(nextOpening(rules.hours.office!, rules.timeZone, new Date('2026-11-27T16:30:00Z'))?.toISOString()).toBe('2026-11-28T07:00:00.000Z');
  });
  it('nextOpening: Saturday after 15:00 → Monday 09:00; open now → now', () => {
    expect(nextOpening(rules.hours.office!, rules.timeZone, new Date('2026-11-28T13:00:00Z'))?.toISOString()).toBe('2026-11-30T06:00:00.000Z');
    expect(nextOpening(rules.hours.office!, rules.timeZone, MON_1000_MSK)).toEqual(MON_1000_MSK);
  });
  it('nextOpening skips a closed day and follows a DST change (New York, 8 March 2026)', () => {
    const ny = rulesFrom(`
timeZone: America/New_York
hours: { office: { windows: [{ days: [mon, tue, wed, thu, fri], from: "09:00", to: "17:00" }], closed: ["2026-03-09"] } }
groups: { a: { users: ["1"] } }
rules: [ { group: a } ]
`);
    // Friday 6 March 18:00 EST (UTC-5) → Monday 9 March is closed → Tuesday 10 March 09:00 EDT (UTC-4) = 13:00Z.
    expect(nextOpening(ny.hours.office!, ny.timeZone, new Date('2026-03-06T23:00:00Z'))?.toISOString()).toBe('2026-03-10T13:00:00.000Z');
    // Friday 6 March 09:00 EST = 14:00Z is open; 13:59Z is not.
    expect(isOpen(ny.hours.office!, ny.timeZone, new Date('2026-03-06T14:00:00Z'))).toBe(true);
    expect(isOpen(ny.hours.office!, ny.timeZone, new Date('2026-03-06T13:59:00Z'))).toBe(false);
  });
});

describe('absences and blocked users', () => {
  it('absence dates are whole local days, inclusive', () => {
    // 2026-12-19 21:30 UTC is already 20 December in Moscow.
    expect(isAbsent(rules.absent, '2', rules.timeZone, new Date('2026-12-19T20:59:00Z'))).toBe(false);
    expect(isAbsent(rules.absent, '2', rules.timeZone, new Date('2026-12-19T21:30:00Z'))).toBe(true);
    expect(isAbsent(rules.absent, '2', rules.timeZone, new Date('2026-12-25T20:59:00Z'))).toBe(true);
    expect(isAbsent(rules.absent, '2', rules.timeZone, new Date('2026-12-25T21:00:00Z'))).toBe(false);
    expect(isAbsent(rules.absent, '3', rules.timeZone, MON_1000_MSK)).toBe(true); // no dates: until removed
  });
  it('candidates: absent, deactivated and excluded members are not eligible; order kept', () => {
    const active = new Set(['1', '2', '4', '5', '6', '7']);
    expect(candidates(rules, 'sales', active, new Date('2026-12-21T08:00:00Z')).map((c) => [c.id, c.eligible])).toEqual([['1', true], ['2', false], ['3', false]]);
    expect(candidates(rules, 'sales', active, MON_1000_MSK).map((c) => c.eligible)).toEqual([true, true, false]);
    expect(candidates(rules, 'sales', active, MON_1000_MSK, ['1']).map((c) => c.eligible)).toEqual([false, true, false]);
    expect(candidates(rules, 'calls', new Set(['5']), MON_1000_MSK).map((c) => c.eligible)).toEqual([false, true]);
    // Users not listable (undefined): nobody is treated as blocked, absences still apply.
    expect(isAvailable(rules, '9', undefined, MON_1000_MSK)).toBe(true);
    expect(isAvailable(rules, '3', undefined, MON_1000_MSK)).toBe(false);
  });
});

describe('sticky', () => {
  const active = new Set(['1', '2', '4']);
  it('the open lead’s manager first, then the contact’s', () => {
    expect(stickyPick(rules, { contactResponsibleId: '1', openLeadResponsibleId: '4' }, active, MON_1000_MSK)).toBe('4');
    expect(stickyPick(rules, { contactResponsibleId: '1' }, active, MON_1000_MSK)).toBe('1');
  });
  it('a deactivated or absent manager does not keep the client; nobody known → rules', () => {
    expect(stickyPick(rules, { contactResponsibleId: '9' }, active, MON_1000_MSK)).toBeUndefined(); // not active in the CRM
    expect(stickyPick(rules, { contactResponsibleId: '2' }, active, new Date('2026-12-21T08:00:00Z'))).toBeUndefined(); // on leave
    expect(stickyPick(rules, { openLeadResponsibleId: '2', contactResponsibleId: '1' }, active, new Date('2026-12-21T08:00:00Z'))).toBe('1');
    expect(stickyPick(rules, {}, active, MON_1000_MSK)).toBeUndefined();
  });
  it('sticky: false → always the rules', () => {
    const r = rulesFrom(RULES.replace('timeZone: Europe/Moscow', 'timeZone: Europe/Moscow\nsticky: false'));
    expect(stickyPick(r, { contactResponsibleId: '1' }, active, MON_1000_MSK)).toBeUndefined();
  });
});

/** Runs `n` picks of a strategy through the pure reference, returning the sequence. */
function run(strategy: 'round-robin' | 'least-open' | 'weighted', members: Candidate[], n: number, start: StrategyState = { cw: {}, load: {} }): { seq: string[]; state: StrategyState } {
  let s = start;
  const seq: string[] = [];
  for (let i = 0; i < n; i++) {
    const pick = choose(strategy, members, s);
    if (!pick) break;
    seq.push(pick);
    s = apply(strategy, members, s, pick);
  }
  return { seq, state: s };
}
const m = (id: string, weight = 1, eligible = true): Candidate => ({ id, weight, eligible });

describe('strategies (pure reference)', () => {
  it('round-robin: in config order, skipping who is not eligible, continuing after the last pick', () => {
    expect(run('round-robin', [m('a'), m('b'), m('c')], 7).seq).toEqual(['a', 'b', 'c', 'a', 'b', 'c', 'a']);
    expect(run('round-robin', [m('a'), m('b', 1, false), m('c')], 4).seq).toEqual(['a', 'c', 'a', 'c']);
    // b was last; b is now away → the turn passes to c, not back to a.
    expect(run('round-robin', [m('a'), m('b', 1, false), m('c')], 2, { last: 'b', cw: {}, load: {} }).seq).toEqual(['c', 'a']);
    expect(choose('round-robin', [m('a', 1, false)], { cw: {}, load: {} })).toBeUndefined();
  });
  it('least-open: fewest open leads; ties go round in order', () => {
    expect(run('least-open', [m('a'), m('b'), m('c')], 3, { cw: {}, load: { a: 2, b: 0, c: 1 } }).seq).toEqual(['b', 'c', 'b']);
    expect(run('least-open', [m('a'), m('b')], 4).seq).toEqual(['a', 'b', 'a', 'b']);
    expect(run('least-open', [m('a'), m('b', 1, false)], 2, { cw: {}, load: { a: 5 } }).seq).toEqual(['a', 'a']);
  });
  it('weighted: exact shares in every cycle of Σweights picks, spread out (smooth)', () => {
    const { seq } = run('weighted', [m('a', 3), m('b', 1)], 400);
    for (let i = 0; i < 400; i += 4) {
      const cycle = seq.slice(i, i + 4);
      expect(cycle.filter((x) => x === 'a')).toHaveLength(3);
    }
    const five = run('weighted', [m('a', 5), m('b', 2), m('c', 1)], 8).seq;
    expect([five.filter((x) => x === 'a').length, five.filter((x) => x === 'b').length, five.filter((x) => x === 'c').length]).toEqual([5, 2, 1]);
    expect(five.join('')).not.toContain('aaaaa');
  });
  it('weighted: an ineligible member is skipped; the others keep their ratio', () => {
    const { seq } = run('weighted', [m('a', 2), m('b', 5, false), m('c', 1)], 30);
    expect(seq.filter((x) => x === 'a')).toHaveLength(20);
    expect(seq).not.toContain('b');
  });
});

describe('loading and checking the file', () => {
  const bad = (yaml: string): ConfigError => {
    try {
      rulesFrom(yaml);
    } catch (e) {
      return e as ConfigError;
    }
    throw new Error('expected a ConfigError');
  };
  it('an unknown group names file:line, key and the fix', () => {
    const e = bad(`timeZone: UTC
groups:
  sales: { users: ["1"] }
rules:
  - { when: { channel: tilda }, group: sales }
  - { group: slaes }
`);
    expect(e.name).toBe('ConfigError');
    expect(e.message).toMatch(/assignment\.yaml:6 rules\.1\.group: no group "slaes"\. Fix: use one of: sales/);
  });
  it('a bad time zone, a reversed window, an unknown calendar, a duplicate member', () => {
    expect(bad('timeZone: Moscow\ngroups: { a: { users: ["1"] } }\nrules: [ { group: a } ]\n').message).toMatch(/:1 timeZone: an IANA time zone/);
    expect(bad('timeZone: UTC\nhours: { o: { windows: [ { days: [mon], from: "18:00", to: "09:00" } ] } }\ngroups: { a: { users: ["1"] } }\nrules: [ { group: a } ]\n').message).toMatch(/hours\.o\.windows\.0\.to: `from` must be before `to`/);
    expect(bad('timeZone: UTC\ngroups: { a: { users: ["1"] } }\nrules: [ { when: { hours: office }, group: a } ]\n').message).toMatch(/rules\.0\.when\.hours: no calendar "office" under hours/);
    expect(bad('timeZone: UTC\ngroups: { a: { users: ["1", "1"] } }\nrules: [ { group: a } ]\n').message).toMatch(/groups\.a\.users\.1: user 1 is listed twice/);
    expect(bad('timeZone: UTC\ngroups: { a: { strategy: random, users: ["1"] } }\nrules: [ { group: a } ]\n').message).toMatch(/groups\.a\.strategy/);
  });
  it('checkUsers: unknown and deactivated users are problems with the line and the fix', () => {
    const r = rulesFrom(`timeZone: UTC
groups:
  a:
    users: ["1", "2", "3"]
rules: [ { group: a } ]
absent: ["4"]
`);
    const problems = checkUsers(r, [
      { id: '1', name: 'Ирина', active: true },
      { id: '2', name: 'Бывший', active: false },
    ]);
    expect(problems).toHaveLength(3);
    expect(problems[0]).toMatch(/assignment\.yaml:4 groups\.a\.users\.1: user Бывший \(2\) is deactivated in the CRM\. Fix: remove them/);
    expect(problems[1]).toMatch(/groups\.a\.users\.2: no CRM user 3\. Fix: use an active user id; known: Ирина \(1\)/);
    expect(problems[2]).toMatch(/absent\.0: no CRM user 4/);
  });
});
