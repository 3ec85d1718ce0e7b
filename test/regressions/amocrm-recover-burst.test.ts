/**
 * Regression: createLead's crash recovery claimed ANOTHER delivery's lead in a burst from one source. Unsorted
 * items were matched by source_uid + form_sent_at (to the second) only, so a retry took the first such item:
 * its note landed on someone else's contact and its own contact was never created. Recovery must now confirm
 * the candidate's contact carries this inquiry's phone or e-mail (Unsorted path and /leads/complex path).
 */
import { describe, expect, it } from 'vitest';
import type { AccountFacts, CrmIO, DeliveryTask, StepJournal } from '#sdk';
import type { AmoClient, AmoContact, AmoLead, AmoUnsortedItem } from '../../connectors/crm/amocrm/client.ts';
import type { AmoMeta } from '../../connectors/crm/amocrm/fields.ts';
import type { AmoSettings } from '../../connectors/crm/amocrm/settings.ts';
import { createLead, type CreatedLead } from '../../connectors/crm/amocrm/steps/create-lead.ts';
import type { StepCtx } from '../../connectors/crm/amocrm/steps/context.ts';
import type { FoundContact } from '../../connectors/crm/amocrm/steps/find-contact.ts';

type LeadTask = Extract<DeliveryTask, { kind: 'lead' }>;

const SENT_AT = '2025-06-01T10:00:00.000Z';
const SENT_SEC = Date.parse(SENT_AT) / 1000;
const PIPELINE = 100;

function task(key: string, phone: string, email: string, placement: LeadTask['placement'] = { kind: 'incoming' }): LeadTask {
  return {
    kind: 'lead',
    key,
    repeatPolicy: 'always-new',
    placement,
    fields: [],
    phoneFormat: 'e164',
    noteText: 'x',
    task: null,
    lead: {
      source: { sourceId: 'site', name: 'Site' },
      externalId: key,
      occurredAt: SENT_AT,
      title: 'Заявка с сайта',
      contact: { phonesE164: [phone], emails: [email] },
      tracking: {},
    },
  } as unknown as LeadTask;
}

const contact = (id: number, phone: string, email: string, leadIds: number[] = []): AmoContact =>
  ({
    id,
    custom_fields_values: [
      { field_code: 'PHONE', values: [{ value: phone }] },
      { field_code: 'EMAIL', values: [{ value: email }] },
    ],
    _embedded: { leads: leadIds.map((l) => ({ id: l })) },
  }) as unknown as AmoContact;

const item = (uid: string, leadId: number, contactId: number): AmoUnsortedItem => ({
  uid,
  source_uid: 'leadgate-site',
  category: 'forms',
  pipeline_id: PIPELINE,
  created_at: SENT_SEC + 1,
  metadata: { form_sent_at: SENT_SEC },
  _embedded: { leads: [{ id: leadId }], contacts: [{ id: contactId }] },
});

function ctxWith(c: Partial<AmoClient>): { ctx: StepCtx; wrote: () => boolean } {
  let wrote = false;
  const cache = new Map<string, string>();
  const io = { cache: { get: async (k: string) => cache.get(k) ?? null, set: async (k: string, v: string) => void cache.set(k, v) } } as unknown as CrmIO;
  // A journal whose intent exists and whose result was lost: recover runs; a miss means the write is redone.
  const journal: StepJournal = {
    async step<T>(_name: string, run: () => Promise<T>, opts?: { recover?: (intentAt: Date) => Promise<T | undefined> }): Promise<T> {
      const found = await opts?.recover?.(new Date(SENT_SEC * 1000));
      if (found !== undefined) return found;
      wrote = true;
      return run();
    },
    snapshot: async () => ({}),
  };
  const meta: AmoMeta = { accountId: 1, pipelines: [{ id: PIPELINE, name: 'Main', isMain: true, isUnsortedOn: true, firstStageId: 101 }], incomingPipelineId: PIPELINE, users: [] };
  const client = {
    searchContacts: async () => [],
    addUnsorted: async () => ({ uid: 'new', leadId: 999, contactId: 998 }),
    addComplex: async () => ({ leadId: 999, contactId: 998, merged: false }),
    ...c,
  } as unknown as AmoClient;
  const facts: AccountFacts = { fields: [], problems: [], warnings: [], meta: { amo: meta } };
  return { ctx: { io, s: {} as AmoSettings, c: client, facts, meta, journal }, wrote: () => wrote };
}

describe('amoCRM createLead recovery in a burst from one source', () => {
  const contacts = new Map<number, AmoContact>([
    [11, contact(11, '+79120000001', 'a@example.ru')],
    [22, contact(22, '+7 (912) 000-00-02', 'B@Example.ru')],
  ]);
  const unsorted = [item('u-a', 1, 11), item('u-b', 2, 22)]; // newest first: A's item comes first

  it('Unsorted: takes only the item whose contact is this inquiry, never the same-second item of another', async () => {
    const { ctx, wrote } = ctxWith({ listUnsorted: async () => unsorted, contact: async (id: number) => contacts.get(id) ?? null });
    const got: CreatedLead = await createLead(ctx, task('d-b', '+79120000002', 'b@example.ru'), null);
    expect(got).toMatchObject({ leadId: 2, contactId: 22, endpoint: 'unsorted/forms' });
    expect(wrote()).toBe(false);
  });

  it('Unsorted: no item of this person → the write is done again, nobody else’s lead is taken', async () => {
    const { ctx, wrote } = ctxWith({ listUnsorted: async () => unsorted, contact: async (id: number) => contacts.get(id) ?? null });
    const got = await createLead(ctx, task('d-c', '+79120000003', 'c@example.ru'), null);
    expect(got.leadId).toBe(999);
    expect(wrote()).toBe(true);
  });

  it('/leads/complex: a contact found by search that does not carry this inquiry is not trusted', async () => {
    const lead: AmoLead = { id: 5, status_id: 101, pipeline_id: PIPELINE, created_at: SENT_SEC + 1 };
    const { ctx, wrote } = ctxWith({
      searchContacts: async () => [contact(33, '+79120000009', 'z@example.ru', [5])],
      contact: async () => contact(33, '+79120000009', 'z@example.ru', [5]),
      leadsByIds: async () => [lead],
    });
    const got = await createLead(ctx, task('d-d', '+79120000004', 'd@example.ru', { kind: 'pipeline', pipeline: 'Main' }), null);
    expect(got.leadId).toBe(999);
    expect(wrote()).toBe(true);
  });

  it('/leads/complex: the known contact’s lead created since the intent is recovered', async () => {
    const lead: AmoLead = { id: 6, status_id: 101, pipeline_id: PIPELINE, created_at: SENT_SEC + 1 };
    const found: FoundContact = { contactId: 44, phones: [], emails: [], leadIds: [], via: 'phone' };
    const { ctx, wrote } = ctxWith({ contact: async () => contact(44, '+79120000004', 'd@example.ru', [6]), leadsByIds: async () => [lead] });
    const got = await createLead(ctx, task('d-e', '+79120000004', 'd@example.ru', { kind: 'pipeline', pipeline: 'Main' }), found);
    expect(got).toMatchObject({ leadId: 6, contactId: 44, endpoint: 'complex' });
    expect(wrote()).toBe(false);
  });
});
