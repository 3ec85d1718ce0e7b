/**
 * One "worker" process of the concurrency test: takes picks for leads [from, to) of every group through its own
 * Redis connections, 8 at a time, then takes a sample again (a retry) and prints what it got as one JSON line.
 * argv: <redisUrl> <prefix> <from> <to> <groups JSON: {name: {strategy, members}}>
 */
import { Redis } from 'ioredis';
import { createAssignmentState, type Strategy } from '../../../src/assignment/state.ts';
import type { Candidate } from '../../../src/assignment/rules.ts';

const [redisUrl, prefix, fromS, toS, groupsJson] = process.argv.slice(2) as [string, string, string, string, string];
const groups = JSON.parse(groupsJson) as Record<string, { strategy: Strategy; members: Candidate[] }>;
const conns = Array.from({ length: 8 }, () => new Redis(redisUrl));
const states = conns.map((c) => createAssignmentState(c, prefix, 'acct', 3600));
const picks: Record<string, Record<string, string>> = {};
const from = Number(fromS);
const to = Number(toS);
let next = from;
async function lane(i: number): Promise<void> {
  for (;;) {
    const n = next++;
    if (n >= to) return;
    for (const [g, def] of Object.entries(groups)) {
      const p = await states[i]!.take(`${g}:lead-${n}`, def.strategy, g, def.members, { by: 'rule', group: g });
      (picks[g] ??= {})[String(n)] = p?.user ?? 'none';
    }
  }
}
await Promise.all(conns.map((_, i) => lane(i)));
// A retry of every tenth delivery must get the same manager and take no slot.
let retriesSame = 0;
let retriesFresh = 0;
for (let n = from; n < to; n += 10) {
  for (const [g, def] of Object.entries(groups)) {
    const p = await states[0]!.take(`${g}:lead-${n}`, def.strategy, g, def.members, { by: 'rule', group: g });
    if (p?.user === picks[g]![String(n)]) retriesSame++;
    if (p?.fresh) retriesFresh++;
  }
}
process.stdout.write(JSON.stringify({ picks, retriesSame, retriesFresh }) + '\n');
for (const c of conns) c.disconnect();
