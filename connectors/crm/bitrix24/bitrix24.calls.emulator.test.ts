/** Bitrix24 connector against the emulator: calls (register → finish → record), assignment of calls, follow-up messages. */
import { beforeAll, describe, expect, it } from 'vitest';
import { formatPhone, type DeliveryTask } from '#sdk';
import type { RunningBitrixEmulator } from '../../../test/emulators/bitrix24/index.ts';
import { bitrix24Crm } from './index.ts';
import { useBitrixEmulator, type Account } from './emulator-env.ts';

describe('bitrix24 calls and messages against the emulator', () => {
  const env = useBitrixEmulator();
  const { account, oauthAccount, leadTask, callTask, todos, seedContact } = env;
  let emu: RunningBitrixEmulator;
  beforeAll(() => {
    emu = env.emu;
  });

  it('a call: register → finish → attachRecord, the unknown caller becomes a lead; the recording arriving later is attached once', async () => {
    const a = oauthAccount();
    const ended = callTask(a, {});
    const first = await a.deliver(ended, 'call-1');
    expect(emu.state.externalCalls.size).toBe(1);
    const ext = [...emu.state.externalCalls.values()][0]!;
    expect(ext).toMatchObject({ TYPE: 2, USER_ID: 7, LINE_NUMBER: '74951234567', EXTERNAL_CALL_ID: 'mango:pbx:call-1' });
    expect(ext.finished).toMatchObject({ CALL_DURATION: 95, CALL_FAILED_CODE: '200' });
    expect(ext.records).toEqual([]);
    const lead = [...emu.state.leads.values()][0]!;
    expect(lead).toMatchObject({ SOURCE_ID: 'CALL', SOURCE_DESCRIPTION: 'Телефония, линия 74951234567', ORIGINATOR_ID: 'leadgate' });
    expect(first).toMatchObject({ createdLead: true, leadId: String(lead.ID) });
    const recorded = callTask(a, { state: 'recorded', recording: { url: 'https://pbx.example.ru/rec/call-1.mp3' } });
    await a.deliver(recorded, 'call-1');
    await a.deliver(recorded, 'call-1');
    expect(emu.state.externalCalls.size).toBe(1);
    expect(ext.records).toEqual([expect.objectContaining({ FILENAME: 'call-1.mp3', source: 'url' })]);
    expect(emu.stats.methodCalls.get('telephony.externalcall.register')).toBe(1);
    expect(emu.stats.methodCalls.get('telephony.externalcall.finish')).toBe(1);
    expect(emu.stats.methodCalls.get('telephony.externalcall.attachrecord')).toBe(1);
    expect([...emu.state.activities.values()].filter((x) => x.kind === 'call')).toHaveLength(1);
    expect(todos()).toHaveLength(0);
  });

  it('a missed inbound call → finish with 304 and the "Перезвонить клиенту" to-do, once', async () => {
    const a = oauthAccount();
    const t = callTask(a, { providerCallId: 'call-2', status: 'missed', state: 'missed', talkSec: 0, answeredAt: undefined, extension: undefined }, { text: 'Перезвонить клиенту', dueAt: '2026-05-14T07:36:45.000Z' });
    await a.deliver(t, 'call-2');
    await a.deliver(t, 'call-2');
    const ext = [...emu.state.externalCalls.values()][0]!;
    expect(ext.finished).toMatchObject({ CALL_FAILED_CODE: '304', CALL_DURATION: 0 });
    expect(todos()).toHaveLength(1);
    const lead = [...emu.state.leads.values()][0]!;
    expect(todos()[0]).toMatchObject({ SUBJECT: 'Перезвонить клиенту', OWNER_TYPE_ID: 1, OWNER_ID: Number(lead.ID) });
  });

  it('finish executed but its answer lost → the retry treats "call is not found" as done', async () => {
    const a = oauthAccount();
    emu.faults.failNext(1, 502, { method: 'telephony.externalcall.finish', afterExecution: true });
    const t = callTask(a, { providerCallId: 'call-3' });
    const err = await a.deliver(t, 'call-3').catch((e: unknown) => e);
    expect(bitrix24Crm.classify(err)).toMatchObject({ kind: 'retry' });
    await a.deliver(t, 'call-3');
    expect([...emu.state.externalCalls.values()][0]!.finished).not.toBeNull();
    expect([...emu.state.activities.values()].filter((x) => x.kind === 'call')).toHaveLength(1);
  });

  describe('calls and assignment rules', () => {
    const callback = { text: 'Перезвонить клиенту', dueAt: '2026-05-14T07:36:45.000Z' };
    const missed = { status: 'missed' as const, state: 'missed' as const, talkSec: 0, answeredAt: undefined };

    it('an unknown caller\'s missed call (the extension that rang is known) → registered for the rules\' pick: its lead and call-back to-do; asked once', async () => {
      const a = oauthAccount();
      let asked = 0;
      const seen: unknown[] = [];
      const t = { ...callTask(a, { providerCallId: 'rr-1', ...missed }, callback), assignResponsible: async (found: unknown) => (asked++, seen.push(found), '1') };
      const r = await a.deliver(t, 'rr-1');
      await a.deliver({ ...t, call: { ...t.call, state: 'recorded', recording: { url: 'https://pbx.example.ru/rec/rr-1.mp3' } } }, 'rr-1');
      expect(asked).toBe(1);
      expect(seen).toEqual([{}]);
      const ext = [...emu.state.externalCalls.values()][0]!;
      expect(ext).toMatchObject({ USER_ID: 1 });
      expect(ext.finished).toMatchObject({ PORTAL_USER_ID: 1, CALL_FAILED_CODE: '304' });
      const lead = [...emu.state.leads.values()][0]!;
      expect(String(lead.ASSIGNED_BY_ID)).toBe('1');
      expect(r).toMatchObject({ createdLead: true, leadId: String(lead.ID) });
      expect(todos()).toHaveLength(1);
      expect(todos()[0]).toMatchObject({ RESPONSIBLE_ID: 1, OWNER_ID: Number(lead.ID) });
    });

    it('a known contact\'s missed call → the rules see its manager and open lead (sticky); the call and to-do are theirs', async () => {
      const a = oauthAccount();
      const contactId = await seedContact({ NAME: 'Анна', PHONE: [{ VALUE: '8 (916) 123-45-67', VALUE_TYPE: 'WORK' }], ASSIGNED_BY_ID: 7 });
      const seen: unknown[] = [];
      const t = { ...callTask(a, { providerCallId: 'rr-2', ...missed, extension: undefined }, callback), assignResponsible: async (found: { contactResponsibleId?: string }) => (seen.push(found), found.contactResponsibleId) };
      await a.deliver(t, 'rr-2');
      expect(seen).toEqual([{ contactResponsibleId: '7' }]);
      expect([...emu.state.externalCalls.values()][0]).toMatchObject({ USER_ID: 7, CRM_ENTITY_TYPE: 'CONTACT', CRM_ENTITY_ID: contactId });
      expect(emu.state.leads.size).toBe(0);
      expect(todos()[0]).toMatchObject({ RESPONSIBLE_ID: 7 });
    });

    it('a call answered by a known extension stays that employee\'s: the rules are not asked', async () => {
      const a = oauthAccount();
      let asked = 0;
      const t = { ...callTask(a, { providerCallId: 'rr-3' }), assignResponsible: async () => (asked++, '1') };
      await a.deliver(t, 'rr-3');
      expect(asked).toBe(0);
      expect([...emu.state.externalCalls.values()][0]).toMatchObject({ USER_ID: 7 });
      expect(String([...emu.state.leads.values()][0]!.ASSIGNED_BY_ID)).toBe('7');
    });
  });

  describe('messages: a phone or e-mail shared after the lead exists', () => {
    function messageTask(a: Account, leadId: string, key: string, contact: { phonesE164?: string[]; emails?: string[] }): Extract<DeliveryTask, { kind: 'message' }> {
      return { kind: 'message', key, contact: { phonesE164: contact.phonesE164 ?? [], phonesUnparsed: [], emails: contact.emails ?? [] }, threadLeadId: leadId, noteText: 'Поделился своим номером', attachments: [], addToContact: { phoneFormat: a.mapping.phoneFormat } };
    }

    it('joins the lead\'s contact once (formatted per the account, existing values kept); a retry adds nothing', async () => {
      const a = account();
      const first = await a.deliver(leadTask(a, { contact: { name: 'Telegram', phonesE164: [], emails: ['old@example.ru'], messenger: { kind: 'telegram', userId: '42' } } }));
      const contact = [...emu.state.contacts.values()][0]!;
      const t = messageTask(a, first.leadId!, 'tg:upd-2:0', { phonesE164: ['+79161230001'], emails: ['old@example.ru', 'new@example.ru'] });
      await a.deliver(t);
      await a.deliver(t);
      expect(emu.state.contacts.size).toBe(1);
      const shown = formatPhone('+79161230001', a.mapping.phoneFormat);
      const values = (k: string) => ((contact[k] ?? []) as { VALUE: string }[]).map((p) => p.VALUE);
      expect(values('PHONE')).toEqual([shown]);
      expect(values('EMAIL')).toEqual(['old@example.ru', 'new@example.ru']);
      expect(emu.stats.methodCalls.get('crm.contact.update')).toBe(1);
      const comments = [...emu.state.comments.values()].filter((c) => c.COMMENT.startsWith('Поделился'));
      expect(comments).toHaveLength(1);
      expect(comments[0]!.COMMENT).toContain(`Добавлено в контакт: ${shown}`);
    });

    it('a phone another contact owns is only noted: no update, no merge', async () => {
      const a = account();
      const first = await a.deliver(leadTask(a, { contact: { name: 'Telegram', phonesE164: [], emails: [], messenger: { kind: 'telegram', userId: '43' } } }));
      const other = await seedContact({ NAME: 'Другой', PHONE: [{ VALUE: '89161230002', VALUE_TYPE: 'WORK' }] });
      await a.deliver(messageTask(a, first.leadId!, 'tg:upd-3:0', { phonesE164: ['+79161230002'] }));
      expect(emu.stats.methodCalls.get('crm.contact.update') ?? 0).toBe(0);
      const mine = [...emu.state.contacts.values()].find((c) => c.ID !== other)!;
      expect(mine.PHONE ?? []).toEqual([]);
      const comment = [...emu.state.comments.values()].find((c) => c.COMMENT.startsWith('Поделился'))!;
      expect(comment.COMMENT).toContain(`уже есть у другого контакта (id ${other})`);
    });
  });

});
