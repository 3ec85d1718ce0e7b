/**
 * An inquiry into Bitrix24, as journaled steps (reference: bitrix24.md §4–§7):
 *
 *   lookup          findbycomm on every phone spelling and e-mail, confirmed by reading the records (read-only;
 *                   journaled so a retry takes the same decision)
 *   contact-update  new phones/e-mails appended to the found contact (recover: read the contact back)
 *   — repeat inquiry with an open lead/deal and repeatPolicy note-on-open-lead —
 *   comment, todo   on the open record (recover: list its comments / to-dos since the attempt)
 *   — otherwise —
 *   create          new contact: ONE batch request: contact → lead/deal → comment → to-do, bound by `$result[…]`,
 *                   halting on error when alone; shared with other deliveries' commands (client.ts batch lane) it
 *                   runs without halt (recover: contact and lead/deal by ORIGIN_ID, then the to-do and the comment)
 *   lead | deal     known contact, or a batch that stopped before it (recover: by ORIGIN_ID)
 *   comment, todo   when not already done by the batch
 *
 * Classic mode creates leads; simple mode (no leads) creates a deal in the first stage of the pipeline.
 */
import { z } from 'zod';
import { CrmError, type DeliveryReceipt, type DeliveryTask, type StepJournal } from '#sdk';
import type { BatchCommand } from '../client.ts';
import { contactFields, dealFields, emailItems, leadFields, phoneItems } from './draft.ts';
import { findMatch, missingComms, type FoundContact } from './lookup.ts';
import {
  addComment,
  addTodo,
  commentParams,
  findByOrigin,
  findComment,
  findTodo,
  idOf,
  originFilter,
  originIdOf,
  parseRef,
  recordUrl,
  refString,
  todoIdOf,
  todoParams,
  type Ctx,
  type OwnerEntity,
  type TodoInput,
} from './common.ts';

type LeadTask = Extract<DeliveryTask, { kind: 'lead' }>;

/** What the `create` batch left behind (journaled). */
interface Created {
  contactId?: string;
  recordId?: string;
  noteId?: string;
  noteDone: boolean;
  todoId?: string;
  todoDone: boolean;
}

export async function deliverLead(ctx: Ctx, task: LeadTask, journal: StepJournal): Promise<DeliveryReceipt> {
  if (task.threadLeadId) {
    // A later message of a conversation that already has its lead: a comment, nothing else.
    const ref = parseRef(task.threadLeadId);
    const noteId = await commentStep(ctx, journal, 'comment', ref, task.noteText);
    return { leadId: refString(ref), createdLead: false, noteId, url: recordUrl(ctx, ref) };
  }
  const c = task.lead.contact;
  const originId = originIdOf(task.key);
  const match = await journal.step('lookup', () => findMatch(ctx, { phonesE164: c.phonesE164, emails: c.emails }));
  if (match.contact) await addMissingComms(ctx, journal, match.contact, task);
  const contactId = match.contact?.id;
  const companyId = match.contact?.companyId ?? match.companyId;
  let assignedById = task.responsibleUserId ?? match.contact?.assignedById ?? ctx.s.responsibleUserId;

  if (task.repeatPolicy === 'note-on-open-lead' && match.open) {
    const owner = { entity: match.open.entity, id: match.open.id };
    const noteId = await commentStep(ctx, journal, 'comment', owner, task.noteText);
    const taskId = task.task ? await todoStep(ctx, journal, { ownerEntity: owner.entity, ownerId: owner.id, title: task.task.text, dueAt: task.task.dueAt, description: task.lead.title, responsibleId: task.task.responsibleUserId ?? match.open.assignedById ?? assignedById }) : undefined;
    return { ...(contactId ? { contactId } : {}), leadId: refString(owner), createdLead: false, noteId, ...(taskId ? { taskId } : {}), url: recordUrl(ctx, owner) };
  }

  // Assignment rules pick the new record's manager from what the lookup found; journaled, so a retry keeps the pick.
  if (task.assignResponsible && !task.responsibleUserId) {
    const assign = task.assignResponsible;
    const found = { ...(match.contact?.assignedById ? { contactResponsibleId: match.contact.assignedById } : {}), ...(match.open?.assignedById ? { openLeadResponsibleId: match.open.assignedById } : {}) };
    const picked = await journal.step('assign', async () => ({ userId: (await assign(found)) ?? null }));
    if (picked.userId) assignedById = picked.userId;
  }
  const entity: 'lead' | 'deal' = ctx.meta.mode === 'simple' ? 'deal' : 'lead';
  const place = entity === 'deal' ? dealPlacement(ctx, task) : undefined;
  if (entity === 'lead' && task.placement.kind === 'pipeline') ctx.io.log.debug({ pipeline: task.placement.pipeline }, 'classic mode: leads have no pipelines; the source pipeline is ignored');
  const recordFields = (bind: { contactId?: string | undefined }): Record<string, unknown> =>
    entity === 'lead'
      ? leadFields(ctx, task, originId, { contactId: bind.contactId, companyId, assignedById })
      : dealFields(ctx, task, originId, { contactId: bind.contactId, companyId, assignedById, categoryId: place!.categoryId, stageId: place!.stageId });
  const todoFor = (ownerId: string): TodoInput | undefined =>
    task.task ? { ownerEntity: entity, ownerId, title: task.task.text, dueAt: task.task.dueAt, description: task.lead.title, responsibleId: task.task.responsibleUserId ?? assignedById } : undefined;

  let created: Created = { ...(contactId ? { contactId } : {}), noteDone: false, todoDone: false };
  // Nothing to reach the client by (no phone, e-mail or messenger): a lead/deal alone, no empty contact.
  const reachable = c.phonesE164.length > 0 || c.emails.length > 0 || c.messenger !== undefined;
  if (!contactId && reachable) {
    let failure: unknown;
    created = await journal.step(
      'create',
      async (): Promise<Created> => {
        const todo = todoFor('$result[r]');
        const cmds: Record<string, BatchCommand> = {
          c: { method: 'crm.contact.add', params: { fields: contactFields(ctx, task, originId, { companyId, assignedById }), params: { REGISTER_SONET_EVENT: 'Y' } } },
          r: { method: `crm.${entity}.add`, params: { fields: recordFields({ contactId: '$result[c]' }), params: { REGISTER_SONET_EVENT: 'Y' } } },
          n: { method: 'crm.timeline.comment.add', params: commentParams({ entity, id: '$result[r]' }, task.noteText) },
          ...(todo ? { t: { method: 'crm.activity.todo.add', params: todoParams(todo) } } : {}),
        };
        const res = await ctx.client.batch(cmds, { halt: true });
        const out: Created = { noteDone: 'n' in res.results, todoDone: 't' in res.results };
        const [cId, rId, nId, tId] = [idOf(res.results.c), idOf(res.results.r), idOf(res.results.n), todoIdOf(res.results.t)];
        if (cId) out.contactId = cId;
        if (rId) out.recordId = rId;
        if (nId) out.noteId = nId;
        if (tId) out.todoId = tId;
        // Nothing created: fail the step (nothing to save); a retry sends the batch again.
        if (!out.contactId && !out.recordId) throw Object.values(res.errors)[0] ?? new CrmError({ kind: 'retry', afterMs: 10_000, cause: 'batch crm.contact.add answered without an id' });
        // Shared with other deliveries the batch runs without halt: the lead/deal may exist although the contact
        // failed. The inquiry is in the CRM (the record carries the phone and e-mail itself); say so, go on.
        if (!out.contactId && res.errors.c) ctx.io.log.warn({ recordId: out.recordId, err: res.errors.c.message }, 'Bitrix24 refused the contact of a batched delivery; the lead/deal was created without it');
        // Something else failed: save what exists, then report the failure; the retry finishes with single steps.
        const err = Object.entries(res.errors).find(([k]) => k !== 'c')?.[1];
        if (err) failure = err;
        return out;
      },
      { recover: (since) => recoverCreate(ctx, entity, originId, task, since) },
    );
    if (failure) throw failure;
  }

  const recordId =
    created.recordId ??
    (await journal.step(entity, async () => {
      const id = idOf(await ctx.client.call(`crm.${entity}.add`, { fields: recordFields({ contactId: created.contactId }), params: { REGISTER_SONET_EVENT: 'Y' } }));
      if (!id) throw new CrmError({ kind: 'retry', afterMs: 10_000, cause: `crm.${entity}.add answered without an id` });
      return id;
    }, { recover: () => findByOrigin(ctx.client, entity, originId) }));
  const owner = { entity, id: recordId };
  const noteId = created.noteDone ? created.noteId : await commentStep(ctx, journal, 'comment', owner, task.noteText);
  const todo = todoFor(recordId);
  const taskId = !todo ? undefined : created.todoDone ? created.todoId : await todoStep(ctx, journal, todo);
  return {
    ...(created.contactId ? { contactId: created.contactId } : {}),
    leadId: refString(owner),
    createdLead: true,
    ...(noteId ? { noteId } : {}),
    ...(taskId ? { taskId } : {}),
    url: recordUrl(ctx, owner),
  };
}

/** The `create` batch's answer was lost: find what it made by ORIGIN_ID, then what ran after it. */
async function recoverCreate(ctx: Ctx, entity: 'lead' | 'deal', originId: string, task: LeadTask, since: Date): Promise<Created | undefined> {
  const res = await ctx.client.batch({ c: { method: 'crm.contact.list', params: originFilter(originId) }, r: { method: `crm.${entity}.list`, params: originFilter(originId) } });
  const firstError = Object.values(res.errors)[0];
  if (firstError) throw firstError;
  const first = (v: unknown): string | undefined => z.array(z.object({ ID: z.union([z.string(), z.number()]) })).parse(v).map((r) => idOf(r.ID)).find(Boolean);
  const contactId = first(res.results.c);
  const recordId = first(res.results.r);
  if (!contactId && !recordId) return undefined;
  const out: Created = { ...(contactId ? { contactId } : {}), ...(recordId ? { recordId } : {}), noteDone: false, todoDone: false };
  if (recordId) {
    if (task.task) {
      const todoId = await findTodo(ctx, entity, recordId, task.task.text, since);
      // A batch shared with other deliveries runs without halt: a to-do found says nothing about the comment.
      if (todoId) Object.assign(out, { todoId, todoDone: true });
    }
    if (!out.noteDone) {
      const noteId = await findComment(ctx, { entity, id: recordId }, task.noteText, since);
      if (noteId && noteId !== 'unknown') Object.assign(out, { noteId, noteDone: true });
      // The portal cannot list comments: a to-do found means the comment before it most likely ran as well.
      else if (noteId === 'unknown' && out.todoDone) out.noteDone = true;
    }
  }
  ctx.io.log.info({ recovered: out }, 'batch answer was lost; found what it created by ORIGIN_ID');
  return out;
}

function dealPlacement(ctx: Ctx, task: LeadTask): { categoryId: number; stageId: string | undefined } {
  let categoryId = ctx.meta.dealCategoryId;
  if (task.placement.kind === 'pipeline') {
    const want = task.placement.pipeline.trim();
    const cat = ctx.meta.categories.find((c) => String(c.id) === want || c.name.toLowerCase() === want.toLowerCase());
    if (!cat) {
      throw new CrmError({ kind: 'config', cause: `the source's pipeline "${want}" is not a deal pipeline of the portal`, fix: `set sources[].pipeline to one of: ${ctx.meta.categories.map((c) => `${c.id} (${c.name})`).join(', ')}` });
    }
    categoryId = cat.id;
  }
  return { categoryId, stageId: ctx.meta.categories.find((c) => c.id === categoryId)?.firstStageId };
}

const ContactMulti = z.object({
  PHONE: z.array(z.object({ ID: z.union([z.string(), z.number()]).optional(), VALUE: z.string() })).nullish(),
  EMAIL: z.array(z.object({ ID: z.union([z.string(), z.number()]).optional(), VALUE: z.string() })).nullish(),
});

/**
 * New phones/e-mails go onto the found contact. Multifield update semantics (sheet §4.3): items without `ID` are
 * appended and the existing ones stay, so only the missing values are sent.
 */
async function addMissingComms(ctx: Ctx, journal: StepJournal, contact: FoundContact, task: LeadTask): Promise<void> {
  const validEmails = emailItems(task.lead.contact.emails).map((e) => e.VALUE);
  const miss = missingComms(contact, task.lead.contact.phonesE164, validEmails);
  if (!miss.phones.length && !miss.emails.length) return;
  const added = miss.phones.length + miss.emails.length;
  await journal.step(
    'contact-update',
    async () => {
      const fields: Record<string, unknown> = {};
      if (miss.phones.length) fields.PHONE = phoneItems(miss.phones, task.phoneFormat);
      if (miss.emails.length) fields.EMAIL = emailItems(miss.emails);
      await ctx.client.call('crm.contact.update', { id: contact.id, fields, params: { REGISTER_SONET_EVENT: 'N' } });
      return { added };
    },
    {
      recover: async () => {
        const now = ContactMulti.parse(await ctx.client.call('crm.contact.get', { id: contact.id }));
        const still = missingComms(
          { ...contact, phones: (now.PHONE ?? []).map((p) => ({ id: String(p.ID ?? ''), value: p.VALUE })), emails: (now.EMAIL ?? []).map((e) => ({ id: String(e.ID ?? ''), value: e.VALUE })) },
          miss.phones,
          miss.emails,
        );
        return still.phones.length || still.emails.length ? undefined : { added };
      },
    },
  );
}

export function commentStep(ctx: Ctx, journal: StepJournal, name: string, owner: { entity: OwnerEntity; id: string }, text: string): Promise<string> {
  return journal.step(name, () => addComment(ctx, owner, text), {
    recover: async (since) => {
      const found = await findComment(ctx, owner, text, since);
      return found === 'unknown' ? undefined : found;
    },
  });
}

export function todoStep(ctx: Ctx, journal: StepJournal, t: TodoInput, name = 'todo'): Promise<string> {
  return journal.step(name, () => addTodo(ctx, t), { recover: (since) => findTodo(ctx, t.ownerEntity, t.ownerId, t.title, since) });
}
