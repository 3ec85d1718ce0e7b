import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { AuthError, parseWith, type NormaliseContext, type Outcome, type RawEvent } from '#sdk';
import { SourceSchema } from '../../../src/config/schema.ts';
import type { ResolvedSource } from '../../../src/config/load.ts';
import { verifySource } from '../../../src/gateway/verify-source.ts';
import { uisChannel } from './index.ts';
import { parseTemplateLines } from './payload.ts';
import { uisTime } from './normalise.ts';
import { UisSettingsSchema, type UisSettings } from './settings.ts';

const SECRET = 'test_uis_secret_0123';
const NOW = new Date('2026-01-15T10:00:00Z');
const settings: UisSettings = parseWith(UisSettingsSchema, {});

function post(body: string, query: Record<string, string> = {}, headers: Record<string, string> = {}): RawEvent {
  return { method: 'POST', subPath: '', headers: { 'content-type': 'application/json', ...headers }, query, body: Buffer.from(body, 'utf8'), receivedAt: NOW };
}

async function run(e: RawEvent): Promise<Outcome[]> {
  const p = parseWith(uisChannel.payload, await uisChannel.decode(e));
  const ctx: NormaliseContext<UisSettings> = { source: { channel: 'uis', sourceId: 'office', name: 'UIS' }, settings, receivedAt: NOW, defaultRegion: 'RU', raw: e };
  return uisChannel.normalise(p, ctx);
}

function source(secret: string): ResolvedSource {
  const config = SourceSchema.parse({ id: 'office', connector: 'uis', name: 'UIS', secretEnv: 'UIS_SECRET' });
  return { config, ref: { channel: 'uis', sourceId: 'office', name: 'UIS' }, connector: uisChannel as ResolvedSource['connector'], settings, secret, crmAccountId: undefined };
}

const BODY = '{"leadgate_event":"incoming","call_session_id":1,"contact_phone_number":"79161234567"}';

describe('uis: no vendor signature, the URL secret is checked by the gateway', () => {
  it('has no verify of its own and cannot be configured without a secret', () => {
    expect(uisChannel.verify).toBeUndefined();
    expect(uisChannel.requiresSecret).toBe(true);
  });

  const cases: [string, RawEvent, boolean][] = [
    ['good ?secret=', post(BODY, { secret: SECRET }), true],
    ['missing secret', post(BODY), false],
    ['wrong secret', post(BODY, { secret: 'test_uis_secret_0124' }), false],
    ['secret in the body does not count', post(BODY.replace('{', `{"secret":"${SECRET}",`)), false],
  ];
  it.each(cases)('%s', (_name, e, ok) => {
    if (ok) expect(() => verifySource(source(SECRET), e, NOW)).not.toThrow();
    else expect(() => verifySource(source(SECRET), e, NOW)).toThrow(AuthError);
  });
});

describe('uis: the templates published in README.md', () => {
  const readme = readFileSync(new URL('./README.md', import.meta.url), 'utf8');
  const templates = [...readme.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => m[1]!).filter((t) => t.includes('leadgate_event'));
  /** What UIS would substitute: JSON values (strings quoted), as in integrators' working templates. */
  const sample: Record<string, unknown> = {
    notification_name: 'Leadgate: "проверка"',
    notification_mnemonic: 'whatever_uis_calls_it',
    notification_time: '2026-01-15 12:57:11.123',
    call_session_id: 3001234567,
    direction: 'in',
    virtual_phone_number: '74951234567',
    contact_phone_number: '79161234567',
    communication_number: '79161234567',
    contact_full_name: 'ООО "Ромашка"',
    scenario_name: 'Основной',
    employee_id: 5501,
    employee_full_name: 'Иванова Мария',
    employee_phone_number: '79160000001',
    employee_ids: [5501, 5502],
    leg_id: 7001,
    leg_ids: [7001],
    talk_time_duration: 120,
    total_time_duration: 131,
    wait_time_duration: 11,
    file_link: 'https://media.uiscom.ru/3001234567/abc',
    file_duration: 120,
  };
  const expectedKind: Record<string, string> = {
    incoming: 'started',
    ringing: 'ringing',
    talk_started: 'answered',
    talk_finished: 'ended',
    call_finished: 'ended',
    lost_call: 'ended',
    outbound: 'started',
    recording: 'recording',
  };

  it('covers every event Leadgate knows', () => {
    expect(templates.map((t) => /"leadgate_event": "(\w+)"/.exec(t)?.[1]).sort()).toEqual(Object.keys(expectedKind).sort());
  });

  it.each(templates.map((t) => [/"leadgate_event": "(\w+)"/.exec(t)![1]!, t] as const))('%s: filled in by UIS, it is valid JSON and normalises', async (name, template) => {
    const filled = template.replace(/\{\{(\w+)\}\}/g, (_m, v: string) => {
      expect(sample, `sample value for ${v}`).toHaveProperty(v);
      return JSON.stringify(sample[v]);
    });
    expect(() => JSON.parse(filled)).not.toThrow();
    const [o] = await run(post(filled));
    expect(o).toMatchObject({ kind: 'call', call: { kind: expectedKind[name], providerCallId: '3001234567' } });
  });

  it('also normalises when UIS leaves placeholders it has no value for', async () => {
    const [o] = await run(post(templates[0]!.replace(/\{\{(\w+)\}\}/g, (_m, v: string) => (v === 'call_session_id' ? '42' : 'null'))));
    expect(o).toMatchObject({ kind: 'call', call: { providerCallId: '42' } });
  });
});

describe('uis: lenient reading', () => {
  it('values quoted twice or pasted raw are read line by line', () => {
    expect(parseTemplateLines('{\n  "a": ""Иван"",\n  "b": "ООО "Ромашка"",\n  "c": 42,\n  "d": [1, 2]\n}')).toEqual({ a: 'Иван', b: 'ООО "Ромашка"', c: 42, d: [1, 2] });
  });

  it('an unreplaced {{placeholder}} or an empty value counts as absent', async () => {
    const e = post('{\n"leadgate_event": "call_finished",\n"call_session_id": 7,\n"employee_id": "{{employee_id}}",\n"talk_time_duration": "",\n"contact_phone_number": null\n}');
    const [o] = await run(e);
    expect(o).toMatchObject({ kind: 'call', call: { status: 'unknown' } });
    expect(o?.kind === 'call' ? o.call.extension : 'x').toBeUndefined();
  });

  it.each([
    ['2026-01-15 12:55:00', '2026-01-15T09:55:00.000Z'],
    ['2026-01-15 12:55:00.123456', '2026-01-15T09:55:00.123Z'],
    ['1768470900', '2026-01-15T09:55:00.000Z'],
    ['1768470900000', '2026-01-15T09:55:00.000Z'],
    ['2026-01-15T12:55:00+03:00', '2026-01-15T09:55:00.000Z'],
    ['soon', undefined],
  ])('time %s → %s', (v, iso) => expect(uisTime(v, 'Europe/Moscow')).toBe(iso));

  it('a notification Leadgate cannot place is ignored, naming it and the fix', async () => {
    const [o] = await run(post('{"notification_name":"SMS","notification_mnemonic":"sms_in","call_session_id":1}'));
    expect(o).toEqual({ kind: 'ignored', reason: { code: 'uis:unknown-notification', detail: expect.stringContaining('leadgate_event') } });
  });

  it('GET with the template variables in the query works too', async () => {
    const e: RawEvent = { method: 'GET', subPath: '', headers: {}, query: { secret: SECRET, leadgate_event: 'lost_call', call_session_id: '9', contact_phone_number: '89031234567' }, body: Buffer.alloc(0), receivedAt: NOW };
    const [o] = await run(e);
    expect(o).toMatchObject({ kind: 'call', call: { status: 'missed', fromE164: '+79031234567', direction: 'inbound' } });
  });
});
