/**
 * One outcome into amoCRM as journaled steps (every CRM write runs inside `journal.step` with a `recover`):
 *   lead:    findContact → saveContact (new phone/e-mail on a found contact) → threadLead | openLead
 *            → createLead (Unsorted form or /leads/complex, embedding a new contact) → addNote → addTask
 *   message: see steps/message.ts (a shared phone/e-mail joins the lead's contact, then addNote)
 *   call:    see steps/call.ts
 * Reads (findContact, openLead) are journaled too, so a retry takes the same decisions as the first attempt.
 */
import { type AccountFacts, type CallerInfo, type CrmIO, type DeliveryReceipt, type DeliveryTask, type StepJournal } from '#sdk';
import { amoClient } from './client.ts';
import { withAuthContext } from './auth.ts';
import { runClassified } from './run.ts';
import { amoMeta } from './fields.ts';
import type { AmoSettings } from './settings.ts';
import type { StepCtx } from './steps/context.ts';
import { findContact, type FoundContact } from './steps/find-contact.ts';
import { addContactDetails } from './steps/save-contact.ts';
import { openLeadOf, openThreadLead, type TargetLead } from './steps/open-lead.ts';
import { createLead, messengerKey } from './steps/create-lead.ts';
import { addNote } from './steps/add-note.ts';
import { addTask } from './steps/add-task.ts';
import { deliverCall } from './steps/call.ts';
import { deliverMessage } from './steps/message.ts';

type LeadTask = Extract<DeliveryTask, { kind: 'lead' }>;

export function deliver(io: CrmIO, s: AmoSettings, task: DeliveryTask, journal: StepJournal, facts: AccountFacts): Promise<DeliveryReceipt> {
  return runClassified(s, async () => {
    const ctx: StepCtx = { io, s, c: amoClient(io, s), facts, meta: amoMeta(facts), journal };
    switch (task.kind) {
      case 'lead':
        return deliverLead(ctx, task);
      case 'message':
        return deliverMessage(ctx, task);
      case 'call':
        return deliverCall(ctx, task);
    }
  });
}

async function deliverLead(ctx: StepCtx, task: LeadTask): Promise<DeliveryReceipt> {
  const c = task.lead.contact;
  const found = await ctx.journal.step<FoundContact | null>('findContact', () => findContact(ctx, { phonesE164: c.phonesE164, emails: c.emails, messengerKey: messengerKey(c) }));
  if (found) await addContactDetails(ctx, found, c, task.phoneFormat);

  let target: TargetLead | null = null;
  const threadLeadId = task.threadLeadId !== undefined && /^\d+$/.test(task.threadLeadId) ? Number(task.threadLeadId) : undefined;
  // A conversation's lead takes the message while it is open; a closed one gives way to the usual rules.
  if (threadLeadId !== undefined) target = await ctx.journal.step('threadLead', () => openThreadLead(ctx, threadLeadId));
  if (!target && found && task.repeatPolicy === 'note-on-open-lead') target = await ctx.journal.step('openLead', () => openLeadOf(ctx, found.leadIds));

  let createdLead = false;
  let contactId = found?.contactId;
  if (!target) {
    // Assignment rules pick the new lead's manager from what the search found; journaled, so a retry keeps the pick.
    let assigned: string | undefined;
    if (task.assignResponsible && !task.responsibleUserId) {
      const assign = task.assignResponsible;
      const seen = found?.responsibleUserId !== undefined ? { contactResponsibleId: String(found.responsibleUserId) } : {};
      assigned = (await ctx.journal.step('assign', async () => ({ userId: (await assign(seen)) ?? null }))).userId ?? undefined;
    }
    const made = await createLead(ctx, task, found, assigned);
    target = { leadId: made.leadId, ...(made.responsibleUserId !== undefined ? { responsibleUserId: made.responsibleUserId } : {}) };
    createdLead = made.merged !== true;
    contactId = made.contactId ?? contactId;
  }
  // The note and the task do not depend on each other: sent together, the card is complete one request sooner.
  // Both are waited for before a failure is thrown, so a retry finds whichever one succeeded in the journal.
  const leadId = target.leadId;
  const [noteR, taskR] = await Promise.allSettled([
    addNote(ctx, 'addNote', 'leads', leadId, task.noteText, task.key),
    task.task ? addTask(ctx, 'addTask', 'leads', leadId, task.task, target.responsibleUserId) : Promise.resolve(undefined),
  ]);
  if (noteR.status === 'rejected') throw noteR.reason;
  if (taskR.status === 'rejected') throw taskR.reason;
  const note = noteR.value;
  const followUp = taskR.value;
  return {
    ...(contactId !== undefined ? { contactId: String(contactId) } : {}),
    leadId: String(target.leadId),
    createdLead,
    noteId: String(note.noteId),
    ...(followUp ? { taskId: String(followUp.taskId) } : {}),
    url: `${ctx.s.baseUrl}/leads/detail/${target.leadId}`,
  };
}

/** Caller-ID: who is calling, who handles them, and their open lead. Reads only. */
export function lookupPhone(io: CrmIO, s: AmoSettings, phoneE164: string): Promise<CallerInfo | null> {
  return withAuthContext(async () => {
    const c = amoClient(io, s);
    const found = await findContact({ io, c }, { phonesE164: [phoneE164], emails: [] });
    if (!found) return null;
    const open = await openLeadOf({ c }, found.leadIds);
    const responsibleUserId = open?.responsibleUserId ?? found.responsibleUserId;
    const responsibleName = responsibleUserId !== undefined ? await userName(io, c, responsibleUserId) : undefined;
    return {
      contactId: String(found.contactId),
      ...(found.name ? { name: found.name } : {}),
      ...(responsibleUserId !== undefined ? { responsibleUserId: String(responsibleUserId) } : {}),
      ...(responsibleName ? { responsibleName } : {}),
      ...(open ? { openLeadId: String(open.leadId) } : {}),
    };
  });
}

/** User names change rarely: cached for a day in the account's Redis cache. */
async function userName(io: CrmIO, c: ReturnType<typeof amoClient>, id: number): Promise<string | undefined> {
  const key = `user:${id}:name`;
  const cached = await io.cache.get(key);
  if (cached !== null) return cached || undefined;
  const u = await c.user(id);
  await io.cache.set(key, u?.name ?? '', 86_400);
  return u?.name;
}
