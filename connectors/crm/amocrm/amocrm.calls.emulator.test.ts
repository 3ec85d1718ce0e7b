/** amoCRM connector against the emulator: calls (Unsorted sip, call notes, late recordings), assignment of calls, shared phones. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DeliveryTask } from '#sdk';
import { SEED } from '../../../test/emulators/amocrm/index.ts';
import { resetRateLimitMemory } from './classify.ts';
import { leadInput, leadTask, startEnv, stopEnv, notesOf, type Env } from './emulator-env.ts';

describe('amocrm calls and messages against the emulator', () => {
  let e: Env;
  beforeEach(async () => {
    resetRateLimitMemory();
    e = await startEnv();
    e.facts = await e.rt.facts();
  });
  afterEach(async () => {
    await stopEnv(e);
  });

  it('calls: an unknown missed caller lands in Unsorted (sip) with a callback task; the late recording edits the call note', async () => {
    const call = {
      source: { channel: 'mango', sourceId: 'pbx', name: 'Mango' },
      provider: 'mango',
      providerCallId: 'c-1',
      direction: 'inbound' as const,
      fromE164: '+79161234567',
      line: '+74950000000',
      startedAt: '2026-11-23T09:00:00.000Z',
      endedAt: '2026-11-23T09:00:30.000Z',
      durationSec: 30,
      status: 'missed' as const,
      occurredAt: '2026-11-23T09:00:30.000Z',
      eventIds: ['e1'],
    };
    const base = { kind: 'call' as const, key: 'mango:pbx:c-1', phoneFormat: 'ru-display' as const, fields: [], sourceName: 'Mango' };
    const missed = await e.deliver({ ...base, call: { ...call, state: 'missed' }, callbackTask: { text: 'Перезвонить клиенту', dueAt: '2026-11-23T09:15:30.000Z' } }, 'call:c-1');
    const s = e.emu.state;
    expect(s.counts()).toMatchObject({ contacts: 1, leads: 1, unsorted: 1, tasks: 1 });
    expect([...s.unsorted.values()][0]!.category).toBe('sip');
    const callNotes = [...s.notes.values()].filter((n) => n.note_type === 'call_in');
    expect(callNotes).toHaveLength(1);
    expect(missed.createdLead).toBe(true);
    const recorded = await e.deliver({ ...base, call: { ...call, state: 'recorded', recording: { url: 'https://rec.example.ru/c-1.mp3' } }, callbackTask: { text: 'Перезвонить клиенту', dueAt: '2026-11-23T09:15:30.000Z' } }, 'call:c-1');
    expect(recorded.leadId).toBe(missed.leadId);
    expect(s.counts()).toMatchObject({ leads: 1, tasks: 1 });
    // The call note amoCRM wrote for the Unsorted call now carries the link, its other params sent back whole; no second note.
    expect([...s.notes.values()].filter((n) => String(n.params.text ?? '').includes('c-1.mp3'))).toHaveLength(0);
    expect([...s.notes.values()].filter((n) => n.note_type === 'call_in')).toEqual([expect.objectContaining({ params: expect.objectContaining({ uniq: 'mango:pbx:c-1', link: 'https://rec.example.ru/c-1.mp3', duration: 30, call_status: 6, phone: '+7 (916) 123-45-67' }) })]);
    // A known caller: a call note on the open lead.
    const known = await e.deliver({ ...base, key: 'mango:pbx:c-2', call: { ...call, providerCallId: 'c-2', status: 'answered', talkSec: 25, state: 'ended' }, callbackTask: null }, 'call:c-2');
    expect(known).toMatchObject({ leadId: missed.leadId, createdLead: false });
    const note = s.notes.get(Number(known.noteId))!;
    expect(note).toMatchObject({ note_type: 'call_in', entity_id: Number(missed.leadId) });
    expect(note.params).toMatchObject({ uniq: 'mango:pbx:c-2', duration: 25, call_status: 4, phone: '+7 (916) 123-45-67' });
    // Its recording arrives later: that note gets the link (PATCH), twice delivered → still one note, no common note.
    const late = { ...base, key: 'mango:pbx:c-2', call: { ...call, providerCallId: 'c-2', status: 'answered' as const, talkSec: 25, state: 'recorded' as const, recording: { url: 'https://rec.example.ru/c-2.mp3' } }, callbackTask: null };
    await e.deliver(late, 'call:c-2');
    await e.deliver(late, 'call:c-2');
    expect([...s.notes.values()].filter((n) => n.params.uniq === 'mango:pbx:c-2')).toHaveLength(1);
    expect(s.notes.get(Number(known.noteId))!.params).toMatchObject({ uniq: 'mango:pbx:c-2', duration: 25, call_status: 4, link: 'https://rec.example.ru/c-2.mp3' });
    expect([...s.notes.values()].filter((n) => String(n.params.text ?? '').includes('c-2.mp3'))).toHaveLength(0);
  });

  describe('calls with assignment rules, messages sharing a phone', () => {
    const call = {
      source: { channel: 'mango', sourceId: 'pbx', name: 'Mango' },
      provider: 'mango',
      providerCallId: 'a-1',
      direction: 'inbound' as const,
      fromE164: '+79161239999',
      line: '+74950000000',
      startedAt: '2026-11-23T09:00:00.000Z',
      endedAt: '2026-11-23T09:00:30.000Z',
      durationSec: 30,
      status: 'missed' as const,
      state: 'missed' as const,
      occurredAt: '2026-11-23T09:00:30.000Z',
      eventIds: ['e1'],
    };
    const callback = { text: 'Перезвонить клиенту', dueAt: '2026-11-23T09:15:30.000Z' };
    const base = { kind: 'call' as const, phoneFormat: 'ru-display' as const, fields: [], sourceName: 'Mango', callbackTask: callback };

    it('an unknown caller\'s missed call: the Unsorted lead, its contact and the call-back task go to the rules\' pick, asked once', async () => {
      let asked = 0;
      const seen: unknown[] = [];
      const t = { ...base, key: 'mango:pbx:a-1', call, assignResponsible: async (found: unknown) => (asked++, seen.push(found), String(SEED.managerUserId)) };
      const r = await e.deliver(t, 'call:a-1');
      await e.deliver({ ...t, call: { ...call, state: 'recorded' as const, recording: { url: 'https://rec.example.ru/a-1.mp3' } } }, 'call:a-1');
      expect(asked).toBe(1);
      expect(seen).toEqual([{}]);
      const s = e.emu.state;
      const lead = s.leads.get(Number(r.leadId))!;
      expect(lead.responsible_user_id).toBe(SEED.managerUserId);
      expect(s.contacts.get(Number(r.contactId))!.responsible_user_id).toBe(SEED.managerUserId);
      expect([...s.tasks.values()]).toEqual([expect.objectContaining({ text: 'Перезвонить клиенту', responsible_user_id: SEED.managerUserId, entity_id: lead.id })]);
    });

    it('a known contact\'s missed call: the rules get its manager and open lead\'s (sticky), the call-back task goes to their answer', async () => {
      const first = await e.deliver(leadTask('site:k1:0', leadInput({ contact: { phonesE164: ['+79161239999'], emails: [] } })));
      const seen: unknown[] = [];
      const t = { ...base, key: 'mango:pbx:a-2', call: { ...call, providerCallId: 'a-2' }, assignResponsible: async (found: unknown) => (seen.push(found), String(SEED.managerUserId)) };
      const r = await e.deliver(t, 'call:a-2');
      const lead = e.emu.state.leads.get(Number(first.leadId))!;
      expect(seen).toEqual([{ contactResponsibleId: String(lead.responsible_user_id), openLeadResponsibleId: String(lead.responsible_user_id) }]);
      expect(r).toMatchObject({ leadId: first.leadId, createdLead: false });
      expect([...e.emu.state.tasks.values()].filter((x) => x.text === 'Перезвонить клиенту')).toEqual([expect.objectContaining({ responsible_user_id: SEED.managerUserId, entity_id: lead.id })]);
    });

    const message = (leadId: string, key: string, phonesE164: string[]): DeliveryTask => ({
      kind: 'message',
      key,
      contact: { phonesE164, phonesUnparsed: [], emails: [] },
      threadLeadId: leadId,
      noteText: 'Поделился своим номером',
      attachments: [],
      addToContact: { phoneFormat: 'ru-display' },
    });

    it('a phone shared in the chat joins the lead\'s contact once: PATCH with the existing values kept, formatted', async () => {
      const first = await e.deliver(leadTask('tg:1:0', leadInput({ contact: { name: 'Telegram', phonesE164: ['+79160000001'], emails: [] } })));
      const t = message(first.leadId!, 'tg:2:0', ['+79161230001']);
      await e.deliver(t);
      await e.deliver(t);
      const c = e.emu.state.contacts.get(Number(first.contactId))!;
      expect(c.custom_fields_values.filter((f) => f.field_code === 'PHONE').flatMap((f) => f.values.map((v) => v.value))).toEqual(['+7 (916) 000-00-01', '+7 (916) 123-00-01']);
      const notes = notesOf(e, Number(first.leadId)).filter((n) => String(n.params.text).startsWith('Поделился'));
      expect(notes).toHaveLength(1);
      expect(String(notes[0]!.params.text)).toContain('Добавлено в контакт: +7 (916) 123-00-01');
      expect(e.emu.stats.requests.filter((q) => q.method === 'PATCH' && q.path.startsWith('/api/v4/contacts'))).toHaveLength(1);
    });

    it('a phone another contact owns is only noted: the lead\'s contact is not changed, nothing is merged', async () => {
      const first = await e.deliver(leadTask('tg:3:0', leadInput({ contact: { name: 'Telegram', phonesE164: ['+79160000003'], emails: [] } })));
      const other = await e.deliver(leadTask('site:o:0', leadInput({ externalId: 'ev-o', contact: { name: 'Другой', phonesE164: ['+79161230002'], emails: [] } })));
      await e.deliver(message(first.leadId!, 'tg:4:0', ['+79161230002']));
      const c = e.emu.state.contacts.get(Number(first.contactId))!;
      expect(c.custom_fields_values.filter((f) => f.field_code === 'PHONE').flatMap((f) => f.values.map((v) => v.value))).toEqual(['+7 (916) 000-00-03']);
      const note = notesOf(e, Number(first.leadId)).find((n) => String(n.params.text).startsWith('Поделился'))!;
      expect(String(note.params.text)).toContain(`уже есть у другого контакта (id ${other.contactId})`);
    });
  });
});
