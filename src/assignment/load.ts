/**
 * Loads an assignment rules file and checks what can be checked offline (schema, names that refer to each
 * other). Users are checked against the live CRM when the worker starts (`checkUsers`). Every mistake names
 * file:line, the key and the fix, like the config and the mappings.
 */
import { existsSync, readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { ConfigError } from '../sdk/errors.ts';
import { parseLocatedYaml } from '../config/yaml-location.ts';
import { AssignmentFileSchema, type AssignmentFile } from './schema.ts';

export type AssignmentRules = AssignmentFile & { file: string; lineOf(path: (string | number)[]): number | undefined };

const FIX = 'see mappings/assignment.yaml for the shape: timeZone, hours, groups (strategy, users), rules (when, group), absent, reassign';

export function loadAssignment(absFile: string): AssignmentRules {
  const shown = relative(process.cwd(), absFile) || absFile;
  if (!existsSync(absFile)) throw new ConfigError({ file: shown, key: '(file)', problem: 'assignment rules file not found', fix: 'create it from mappings/assignment.yaml or correct crm[].assignment' });
  const y = parseLocatedYaml(shown, readFileSync(absFile, 'utf8'));
  if ('error' in y) throw new ConfigError({ file: shown, key: '(yaml)', problem: y.error, fix: 'correct the YAML syntax', ...(y.line !== undefined ? { line: y.line } : {}) });
  const r = AssignmentFileSchema.safeParse(y.value);
  const fail = (path: (string | number)[], problem: string, fix: string): ConfigError => {
    const line = y.lineOf(path);
    return new ConfigError({ file: shown, key: path.join('.') || '(root)', problem, fix, ...(line !== undefined ? { line } : {}) });
  };
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw fail(issue.path.map((p) => (typeof p === 'number' ? p : String(p))), issue.message, FIX);
  }
  const a = r.data;
  const calendars = Object.keys(a.hours);
  const groups = Object.keys(a.groups);
  const needCalendar = (name: string | undefined, path: (string | number)[]): void => {
    if (name !== undefined && !a.hours[name]) throw fail(path, `no calendar "${name}" under hours`, `use one of: ${calendars.join(', ') || '(define hours: first)'}`);
  };
  a.rules.forEach((rule, i) => {
    if (!a.groups[rule.group]) throw fail(['rules', i, 'group'], `no group "${rule.group}"`, `use one of: ${groups.join(', ')}`);
    needCalendar(rule.when.hours, ['rules', i, 'when', 'hours']);
    needCalendar(rule.when.outsideHours, ['rules', i, 'when', 'outsideHours']);
  });
  needCalendar(a.reassign.hours, ['reassign', 'hours']);
  for (const [name, g] of Object.entries(a.groups)) {
    const seen = new Set<string>();
    g.users.forEach((u, i) => {
      if (seen.has(u.id)) throw fail(['groups', name, 'users', i], `user ${u.id} is listed twice`, 'list each user once; use weight for a larger share');
      seen.add(u.id);
    });
  }
  return { ...a, file: shown, lineOf: y.lineOf };
}

/** A CRM user as assignment needs it. */
export interface CrmUserFact {
  id: string;
  name: string;
  active: boolean;
}

/**
 * Every user named in groups and absences against the CRM's users: unknown or deactivated ones are problems
 * naming the line and the fix (a deactivated user in a group would silently never get a lead).
 */
export function checkUsers(rules: AssignmentRules, users: readonly CrmUserFact[]): string[] {
  const byId = new Map(users.map((u) => [u.id, u]));
  const known = users.filter((u) => u.active).map((u) => `${u.name} (${u.id})`).join(', ');
  const problems: string[] = [];
  const at = (path: (string | number)[]): string => {
    const line = rules.lineOf(path);
    return `${rules.file}${line !== undefined ? `:${line}` : ''} ${path.join('.')}`;
  };
  for (const [name, g] of Object.entries(rules.groups)) {
    g.users.forEach((m, i) => {
      const u = byId.get(m.id);
      if (!u) problems.push(`${at(['groups', name, 'users', i])}: no CRM user ${m.id}. Fix: use an active user id; known: ${known}`);
      else if (!u.active) problems.push(`${at(['groups', name, 'users', i])}: user ${u.name} (${u.id}) is deactivated in the CRM. Fix: remove them from the group or reactivate them`);
    });
  }
  rules.absent.forEach((a, i) => {
    if (!byId.has(a.user)) problems.push(`${at(['absent', i])}: no CRM user ${a.user}. Fix: use a user id from: ${known}`);
  });
  return problems;
}
