/** Writes an assignment rules file into a temp dir and loads it the way start-up does. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadAssignment, type AssignmentRules } from '../../../src/assignment/load.ts';

export function writeRules(yaml: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'lg-assign-'));
  const file = join(dir, 'assignment.yaml');
  writeFileSync(file, yaml);
  return file;
}

export function rulesFrom(yaml: string): AssignmentRules {
  return loadAssignment(writeRules(yaml));
}
