/** CRM webhooks as assignment reads them (src/assignment/events.ts): pure parsing, then the sink against Redis. */
import { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTaskEventSink, readTaskChange } from '../../src/assignment/events.ts';
import { createAssignmentState } from '../../src/assignment/state.ts';
import { decodeCrmForm } from '../../src/gateway/crm-events.plugin.ts';
import { cleanupPrefix, TEST_REDIS_URL, uniquePrefix } from '../support/redis.ts';

const form = (s: string) => decodeCrmForm(Buffer.from(s));

describe('readTaskChange', () => {
  it.each([
    ['amoCRM task completed (status 1)', 'task%5Bupdate%5D%5B0%5D%5Bid%5D=77&task%5Bupdate%5D%5B0%5D%5Bstatus%5D=1&account%5Bid%5D=1', { doneTaskIds: ['77'], touchedTaskIds: [], closedLeadIds: [] }],
    ['amoCRM task updated, still open (status 0)', 'task%5Bupdate%5D%5B0%5D%5Bid%5D=77&task%5Bupdate%5D%5B0%5D%5Bstatus%5D=0', { doneTaskIds: [], touchedTaskIds: [], closedLeadIds: [] }],
    ['amoCRM task deleted', 'task%5Bdelete%5D%5B0%5D%5Bid%5D=78', { doneTaskIds: ['78'], touchedTaskIds: [], closedLeadIds: [] }],
    ['amoCRM plural key with is_completed', 'tasks%5Bupdate%5D%5B0%5D%5Bid%5D=79&tasks%5Bupdate%5D%5B0%5D%5Bis_completed%5D=true', { doneTaskIds: ['79'], touchedTaskIds: [], closedLeadIds: [] }],
    ['amoCRM lead won and lead lost; a move to another stage is not closing', 'leads%5Bstatus%5D%5B0%5D%5Bid%5D=5&leads%5Bstatus%5D%5B0%5D%5Bstatus_id%5D=142&leads%5Bstatus%5D%5B1%5D%5Bid%5D=6&leads%5Bstatus%5D%5B1%5D%5Bstatus_id%5D=143&leads%5Bstatus%5D%5B2%5D%5Bid%5D=7&leads%5Bstatus%5D%5B2%5D%5Bstatus_id%5D=555', { doneTaskIds: [], touchedTaskIds: [], closedLeadIds: ['5', '6'] }],
    ['Bitrix24 activity updated: only its id', 'event=ONCRMACTIVITYUPDATE&data%5BFIELDS%5D%5BID%5D=901', { doneTaskIds: [], touchedTaskIds: ['901'], closedLeadIds: [] }],
    ['Bitrix24 activity deleted counts as done', 'event=ONCRMACTIVITYDELETE&data%5BFIELDS%5D%5BID%5D=902', { doneTaskIds: ['902'], touchedTaskIds: [], closedLeadIds: [] }],
    ['a contact change says nothing about tasks', 'contacts%5Bupdate%5D%5B0%5D%5Bid%5D=1', { doneTaskIds: [], touchedTaskIds: [], closedLeadIds: [] }],
    ['a malformed id is ignored', 'task%5Bupdate%5D%5B0%5D%5Bid%5D=1%3Bdrop&task%5Bupdate%5D%5B0%5D%5Bstatus%5D=1', { doneTaskIds: [], touchedTaskIds: [], closedLeadIds: [] }],
  ])('%s', (_n, body, expected) => {
    expect(readTaskChange(form(body))).toEqual(expected);
  });
});

describe('task event sink', () => {
  let redis: Redis;
  const prefix = uniquePrefix();
  beforeAll(() => {
    redis = new Redis(TEST_REDIS_URL);
  });
  afterEach(() => cleanupPrefix(prefix));
  afterAll(() => redis.disconnect());

  it('a done task of a tracked lead is recorded and the lead stops counting; untracked tasks change nothing', async () => {
    const state = createAssignmentState(redis, prefix, 'amo', 3600);
    await state.take('d1', 'round-robin', 'g', [{ id: '1', weight: 1, eligible: true }], { by: 'rule', group: 'g' });
    await state.recordLead('500', '1', '77');
    const sink = createTaskEventSink({ states: new Map([['amo', state]]), log: pino({ level: 'silent' }) });
    expect((await sink.record('amo', form('task%5Bupdate%5D%5B0%5D%5Bid%5D=99&task%5Bupdate%5D%5B0%5D%5Bstatus%5D=1'))).recorded).toBe(0);
    expect(await state.load()).toEqual({ '1': 1 });
    expect((await sink.record('amo', form('task%5Bupdate%5D%5B0%5D%5Bid%5D=77&task%5Bupdate%5D%5B0%5D%5Bstatus%5D=1'))).recorded).toBe(1);
    expect(await state.isTaskDone('77')).toBe(true);
    expect(await state.load()).toEqual({ '1': 0 });
    expect((await sink.record('other', form('task%5Bupdate%5D%5B0%5D%5Bid%5D=77&task%5Bupdate%5D%5B0%5D%5Bstatus%5D=1'))).recorded).toBe(0);
  });

  it('Bitrix24: a touched tracked task is checked with the CRM; open stays open, done is recorded', async () => {
    const state = createAssignmentState(redis, prefix, 'b24', 3600);
    await state.recordLead('600', '7', '901');
    await state.recordLead('601', '7', '902');
    const asked: string[] = [];
    const crmSays: Record<string, 'open' | 'done'> = { '901': 'open', '902': 'done' };
    const sink = createTaskEventSink({ states: new Map([['b24', state]]), taskState: (_a, id) => (asked.push(id), Promise.resolve(crmSays[id]!)), log: pino({ level: 'silent' }) });
    await sink.record('b24', form('event=ONCRMACTIVITYUPDATE&data%5BFIELDS%5D%5BID%5D=901'));
    await sink.record('b24', form('event=ONCRMACTIVITYUPDATE&data%5BFIELDS%5D%5BID%5D=902'));
    await sink.record('b24', form('event=ONCRMACTIVITYUPDATE&data%5BFIELDS%5D%5BID%5D=903')); // not ours: no CRM call
    for (let i = 0; i < 50 && !(await state.isTaskDone('902')); i++) await new Promise((r) => setTimeout(r, 20));
    expect(asked.sort()).toEqual(['901', '902']);
    expect(await state.isTaskDone('901')).toBe(false);
    expect(await state.isTaskDone('902')).toBe(true);
    expect(await state.lead('601')).toMatchObject({ open: false });
  });
});
