/** The Redis side of assignment (src/assignment/state.ts) against a real Redis, and against the pure reference. */
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createAssignmentState } from '../../src/assignment/state.ts';
import { apply, choose, type Candidate, type StrategyState } from '../../src/assignment/rules.ts';
import { cleanupPrefix, TEST_REDIS_URL, uniquePrefix } from '../support/redis.ts';

describe('assignment state in Redis', () => {
  let redis: Redis;
  const prefixes: string[] = [];
  const fresh = () => {
    const p = uniquePrefix();
    prefixes.push(p);
    return createAssignmentState(redis, p, 'amo', 3600);
  };
  beforeAll(() => {
    redis = new Redis(TEST_REDIS_URL);
  });
  afterEach(async () => {
    for (const p of prefixes.splice(0)) await cleanupPrefix(p);
  });
  afterAll(() => redis.disconnect());

  it('the Lua pick equals the pure reference (choose/apply) for every strategy over random eligibility', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('round-robin' as const, 'least-open' as const, 'weighted' as const),
        fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 5 }),
        fc.array(fc.array(fc.boolean(), { minLength: 5, maxLength: 5 }), { minLength: 1, maxLength: 25 }),
        async (strategy, weights, eligibility) => {
          const state = fresh();
          let ref: StrategyState = { cw: {}, load: {} };
          for (const [step, mask] of eligibility.entries()) {
            const members: Candidate[] = weights.map((w, i) => ({ id: String(100 + i), weight: w, eligible: mask[i]! }));
            const want = choose(strategy, members, ref);
            const got = await state.take(`k${step}`, strategy, 'g', members, { by: 'rule', group: 'g' });
            expect(got?.user).toBe(want);
            if (want) ref = apply(strategy, members, ref, want);
          }
          const snap = await state.snapshot('g');
          expect(snap.load).toEqual(ref.load);
          if (strategy === 'weighted') for (const [id, cw] of Object.entries(ref.cw)) expect(snap.cw[id] ?? 0).toBe(cw);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('a retry of the same delivery gets the same manager and takes no slot; peek changes nothing', async () => {
    const s = fresh();
    const members: Candidate[] = ['1', '2', '3'].map((id) => ({ id, weight: 1, eligible: true }));
    expect(await s.peek('round-robin', 'g', members)).toBe('1');
    expect(await s.peek('round-robin', 'g', members)).toBe('1');
    const first = await s.take('d1', 'round-robin', 'g', members, { by: 'rule', group: 'g', rule: 'rules[0]' });
    expect(first).toEqual({ user: '1', fresh: true, meta: { by: 'rule', group: 'g', rule: 'rules[0]' } });
    expect(await s.take('d1', 'round-robin', 'g', members, { by: 'rule', group: 'g' })).toEqual({ user: '1', fresh: false, meta: { by: 'rule', group: 'g', rule: 'rules[0]' } });
    expect(await s.peek('round-robin', 'g', members)).toBe('2');
    expect((await s.take('d2', 'round-robin', 'g', members, { by: 'rule', group: 'g' }))?.user).toBe('2');
    expect(await s.load()).toEqual({ '1': 1, '2': 1 });
  });

  it('release gives the count back once; record, close and move keep the open-lead counts right', async () => {
    const s = fresh();
    const members: Candidate[] = ['1', '2'].map((id) => ({ id, weight: 1, eligible: true }));
    await s.take('d1', 'least-open', 'g', members, { by: 'rule', group: 'g' });
    await s.take('d2', 'least-open', 'g', members, { by: 'rule', group: 'g' });
    expect(await s.load()).toEqual({ '1': 1, '2': 1 });
    await s.release('d2', '2');
    await s.release('d2', '2');
    expect(await s.load()).toEqual({ '1': 1, '2': 0 });

    await s.recordLead('500', '1', '900');
    await s.recordLead('500', '1', '900'); // a retry records nothing more
    expect(await s.lead('500')).toEqual({ user: '1', open: true, task: '900' });
    // A reassignment: the pick counts the lead for the new manager, the move stops counting it for the old one.
    expect((await s.take('reassign-500-1', 'least-open', 'g', [{ id: '1', weight: 1, eligible: false }, { id: '2', weight: 1, eligible: true }], { by: 'reassign', group: 'g' }))?.user).toBe('2');
    expect(await s.load()).toEqual({ '1': 1, '2': 1 });
    await s.moveLead('500', '1', '2');
    await s.moveLead('500', '1', '2'); // a retry moves nothing more
    expect(await s.load()).toEqual({ '1': 0, '2': 1 });
    expect(await s.markTaskDone('900')).toBe('500');
    expect(await s.isTaskDone('900')).toBe(true);
    expect(await s.closeLead('500')).toBe(true);
    expect(await s.closeLead('500')).toBe(false);
    expect(await s.load()).toEqual({ '1': 0, '2': 0 });
    expect(await s.markTaskDone('901')).toBeUndefined(); // not a task we track
  });

  it('nobody eligible → no pick, nothing stored', async () => {
    const s = fresh();
    expect(await s.take('d1', 'round-robin', 'g', [{ id: '1', weight: 1, eligible: false }], { by: 'rule', group: 'g' })).toBeUndefined();
    expect(await s.saved('d1')).toBeUndefined();
  });
});
