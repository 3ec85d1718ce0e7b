/**
 * Who takes a lead, as pure functions (no clock, no Redis): which rule matches an inquiry, who of its group may
 * take leads now, whether the contact's own manager keeps it (sticky), and — as the reference the Redis script in
 * state.ts mirrors — which member each strategy picks next from a given state.
 */
import { parsePhone, type CountryCode } from '../domain/phone.ts';
import type { Utm } from '../sdk/lead.ts';
import { isAbsent, isOpen } from './hours.ts';
import type { AssignmentFile, Condition, GroupMember, Rule } from './schema.ts';

/** What the rules may look at. Every field but `at` is optional: a caller-ID preview knows only the phone. */
export interface AssignInput {
  channel?: string | undefined;
  sourceId?: string | undefined;
  /** The called line (DID) of a call, any notation. */
  line?: string | undefined;
  form?: string | undefined;
  utm?: Utm | undefined;
  at: Date;
}

/** Users the CRM reports; `undefined` when they could not be listed (then nobody is treated as blocked). */
export type ActiveUsers = ReadonlySet<string> | undefined;

export interface RuleMatch {
  rule: Rule;
  index: number;
  /** `rules[2] (Звонки на линию продаж)`: for logs and notes. */
  label: string;
}

export function matchRule(file: AssignmentFile, input: AssignInput, region: CountryCode = 'RU'): RuleMatch | undefined {
  for (const [index, rule] of file.rules.entries()) {
    if (conditionHolds(file, rule.when, input, region)) return { rule, index, label: `rules[${index}]${rule.name ? ` (${rule.name})` : ''}` };
  }
  return undefined;
}

function conditionHolds(file: AssignmentFile, c: Condition, input: AssignInput, region: CountryCode): boolean {
  if (c.channel && !oneOf(c.channel, input.channel)) return false;
  if (c.source && !oneOf(c.source, input.sourceId)) return false;
  if (c.form && !oneOf(c.form, input.form)) return false;
  if (c.line) {
    const line = input.line ? lineKey(input.line, region) : undefined;
    if (!line || !c.line.some((l) => lineKey(l, region) === line)) return false;
  }
  if (c.utm) {
    for (const k of ['source', 'medium', 'campaign', 'content', 'term'] as const) {
      const want = c.utm[k];
      if (want && !oneOf(want, input.utm?.[k])) return false;
    }
  }
  if (c.hours !== undefined && !isOpen(file.hours[c.hours]!, file.timeZone, input.at)) return false;
  if (c.outsideHours !== undefined && isOpen(file.hours[c.outsideHours]!, file.timeZone, input.at)) return false;
  return true;
}

function oneOf(list: readonly string[], v: string | undefined): boolean {
  if (v === undefined) return false;
  const x = v.trim().toLowerCase();
  return list.some((l) => l.trim().toLowerCase() === x);
}

/** `+7 (495) 123-45-67`, `84951234567` and `74951234567` are one line. */
export function lineKey(s: string, region: CountryCode): string {
  return parsePhone(s, region).e164 ?? s.replace(/\D/g, '');
}

/** May this user take a lead now: known and active in the CRM (when listed), not on leave. */
export function isAvailable(file: AssignmentFile, user: string, active: ActiveUsers, at: Date): boolean {
  if (active && !active.has(user)) return false;
  return !isAbsent(file.absent, user, file.timeZone, at);
}

/** A group's members in config order, each marked whether it may take this lead. */
export interface Candidate extends GroupMember {
  eligible: boolean;
}

export function candidates(file: AssignmentFile, groupName: string, active: ActiveUsers, at: Date, exclude: readonly string[] = []): Candidate[] {
  const g = file.groups[groupName];
  if (!g) return [];
  return g.users.map((m) => ({ ...m, eligible: !exclude.includes(m.id) && isAvailable(file, m.id, active, at) }));
}

/**
 * Sticky: the manager of the contact's open lead, else of the contact, keeps a new lead while available.
 * Returns undefined when the rules must decide.
 */
export function stickyPick(file: AssignmentFile, found: { contactResponsibleId?: string | undefined; openLeadResponsibleId?: string | undefined }, active: ActiveUsers, at: Date): string | undefined {
  if (!file.sticky) return undefined;
  for (const id of [found.openLeadResponsibleId, found.contactResponsibleId]) {
    if (id && isAvailable(file, id, active, at)) return id;
  }
  return undefined;
}

/** Rotation state of one group plus the account's open-lead counts (what state.ts keeps in Redis). */
export interface StrategyState {
  /** The member picked last. */
  last?: string | undefined;
  /** Smooth weighted round robin: current weight per member. */
  cw: Record<string, number>;
  /** Open leads per user (least-open). */
  load: Record<string, number>;
}

/**
 * The reference implementation of one pick; `PICK_SCRIPT` in state.ts does the same inside Redis.
 * - round-robin: the next eligible member after the last one picked, in config order;
 * - least-open: the eligible member with the fewest open leads, ties in rotation order after the last one;
 * - weighted: smooth weighted round robin (nginx): every eligible member gains its weight, the largest takes
 *   the lead and gives back the total — exact shares over every cycle of Σweights leads, evenly spread.
 * Returns undefined when nobody is eligible. The state is not changed (`apply` gives the next one).
 */
export function choose(strategy: 'round-robin' | 'least-open' | 'weighted', members: readonly Candidate[], s: StrategyState): string | undefined {
  const n = members.length;
  const lastIdx = s.last === undefined ? -1 : members.findIndex((m) => m.id === s.last);
  const rotation = Array.from({ length: n }, (_, i) => members[(lastIdx + 1 + i) % n]!).filter((m) => m.eligible);
  if (rotation.length === 0) return undefined;
  if (strategy === 'round-robin') return rotation[0]!.id;
  if (strategy === 'least-open') {
    let best = rotation[0]!;
    for (const m of rotation) if ((s.load[m.id] ?? 0) < (s.load[best.id] ?? 0)) best = m;
    return best.id;
  }
  let best: Candidate | undefined;
  let bestCw = -Infinity;
  for (const m of members) {
    if (!m.eligible) continue;
    const cw = (s.cw[m.id] ?? 0) + m.weight;
    if (cw > bestCw) {
      best = m;
      bestCw = cw;
    }
  }
  return best?.id;
}

/** The state after `pick` was taken (weighted: every eligible member gained its weight, the pick gave back the total). */
export function apply(strategy: 'round-robin' | 'least-open' | 'weighted', members: readonly Candidate[], s: StrategyState, pick: string): StrategyState {
  const cw = { ...s.cw };
  if (strategy === 'weighted') {
    let total = 0;
    for (const m of members) {
      if (!m.eligible) continue;
      cw[m.id] = (cw[m.id] ?? 0) + m.weight;
      total += m.weight;
    }
    cw[pick] = (cw[pick] ?? 0) - total;
  }
  return { last: pick, cw, load: { ...s.load, [pick]: (s.load[pick] ?? 0) + 1 } };
}
