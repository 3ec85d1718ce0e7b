/**
 * One outcome into __TITLE__ as journaled steps. Every CRM write runs inside `journal.step`: its result is saved in
 * Redis before the next step, so a retry (or another worker after a crash) resumes and never writes twice.
 *
 * TODO, in this order (see connectors/crm/amocrm/deliver.ts and connectors/crm/bitrix24/deliver.ts):
 *  1. findContact  — search by `task.lead.contact.phonesE164` and `emails` (GET …);
 *  2. saveContact  — create it when not found, with `task.phoneFormat` for phones;
 *  3. createLead   — in the incoming stage (`task.placement`), with `task.fields` (from the mapping file);
 *  4. addNote      — `task.noteText`, the whole inquiry;
 *  5. addTask      — `task.task` (text, dueAt, responsible) when not null;
 *  then `kind: 'message'` (a note on `threadLeadId`) and `kind: 'call'` (a call record) tasks.
 * Give each write a `recover` that looks the write up in the CRM by `task.key` when an attempt crashed midway.
 */
import { CrmError, type AccountFacts, type CrmIO, type DeliveryReceipt, type DeliveryTask, type StepJournal } from '#sdk';
import type { __PASCAL__Settings } from './settings.ts';

/** Stops the delivery for an admin with the fix, until the step is written. */
function notImplemented(step: string): CrmError {
  return new CrmError({ kind: 'config', cause: `__ID__: ${step} is not implemented yet`, fix: `implement ${step} in connectors/crm/__ID__/deliver.ts` });
}

export async function deliver(io: CrmIO, _s: __PASCAL__Settings, task: DeliveryTask, journal: StepJournal, _facts: AccountFacts): Promise<DeliveryReceipt> {
  if (task.kind !== 'lead') throw notImplemented(`delivery of "${task.kind}" outcomes`);
  const contactId = await journal.step('findContact', async (): Promise<string | null> => {
    io.log.debug({ phones: task.lead.contact.phonesE164.length, emails: task.lead.contact.emails.length }, 'findContact');
    throw notImplemented('findContact');
  });
  const leadId = await journal.step('createLead', async (): Promise<string> => {
    throw notImplemented('createLead');
  });
  return { ...(contactId ? { contactId } : {}), leadId, createdLead: true };
}
