/**
 * 4 worker processes, each with 8 Redis connections, assign 1,000 leads per group at the same time through the
 * atomic pick (src/assignment/state.ts): shares come out exact, no lead is picked twice, retries take no slot.
 */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupPrefix, TEST_REDIS_URL, uniquePrefix } from '../support/redis.ts';

const m = (id: string, weight = 1) => ({ id, weight, eligible: true });
const GROUPS = {
  rr4: { strategy: 'round-robin', members: [m('11'), m('12'), m('13'), m('14')] },
  rr3: { strategy: 'round-robin', members: [m('21'), m('22'), m('23')] },
  weighted: { strategy: 'weighted', members: [m('31', 3), m('32', 1)] },
  least: { strategy: 'least-open', members: [m('41'), m('42'), m('43'), m('44'), m('45')] },
};
const LEADS = 1_000;
const WORKERS = 4;

interface WorkerOut {
  picks: Record<string, Record<string, string>>;
  retriesSame: number;
  retriesFresh: number;
}

function runWorker(prefix: string, from: number, to: number): Promise<WorkerOut> {
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, ['--import', 'tsx', resolve('test/assignment/support/pick-worker.ts'), TEST_REDIS_URL, prefix, String(from), String(to), JSON.stringify(GROUPS)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('exit', (code) => (code === 0 ? res(JSON.parse(out.trim().split('\n').pop()!) as WorkerOut) : rej(new Error(`pick worker exited ${code}: ${err.slice(-2000)}`))));
  });
}

describe('assignment under concurrency', () => {
  const prefix = uniquePrefix();
  afterAll(() => cleanupPrefix(prefix));

  it('4 processes × 8 connections, 1,000 leads per group: exact shares, each lead once, retries free', async () => {
    // Each process takes its own leads, but all compete for the same rotation and counts at the same time.
    const per = LEADS / WORKERS;
    const outs = await Promise.all(Array.from({ length: WORKERS }, (_, w) => runWorker(prefix, w * per, (w + 1) * per)));
    const tally = (g: string): Record<string, number> => {
      const counts: Record<string, number> = {};
      let leads = 0;
      for (const o of outs) {
        for (const user of Object.values(o.picks[g] ?? {})) {
          counts[user] = (counts[user] ?? 0) + 1;
          leads++;
        }
      }
      expect(leads).toBe(LEADS);
      return counts;
    };
    expect(tally('rr4')).toEqual({ '11': 250, '12': 250, '13': 250, '14': 250 });
    expect(tally('rr3')).toEqual({ '21': 334, '22': 333, '23': 333 });
    expect(tally('weighted')).toEqual({ '31': 750, '32': 250 });
    expect(tally('least')).toEqual({ '41': 200, '42': 200, '43': 200, '44': 200, '45': 200 });
    // 1,000 leads / every tenth retried × 4 groups.
    expect(outs.reduce((n, o) => n + o.retriesSame, 0)).toBe(400);
    expect(outs.reduce((n, o) => n + o.retriesFresh, 0)).toBe(0);
  }, 120_000);
});
