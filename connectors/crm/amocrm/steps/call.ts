/**
 * A finished call (reference: /work/shared/reference/amocrm.md §8, §9, §6.1). The journal is keyed by the call,
 * so its steps run once per call however many events arrive:
 * - known caller → a `call_in`/`call_out` note (`params.uniq` = call key) on the contact's open lead, else on the
 *   contact card (the Calls API placement rule, done ourselves so the note is journaled and recoverable);
 * - unknown inbound caller → `POST /api/v4/leads/unsorted/sip` with a new contact and `is_call_event_needed`
 *   (amoCRM adds the call note itself); an unknown number we called is left alone;
 * - the recording arriving after the call was written → `PATCH /api/v4/{entity}/notes` of the call note (sheet §8
 *   lists note editing) with its whole `params` plus `link` (`callNote:recorded`); the note amoCRM wrote itself for
 *   an Unsorted call is found by `params.uniq`. Only when no call note can be found is the link a second note;
 * - a missed inbound call → the callback task.
 * Assignment rules (`task.assignResponsible`, journaled as `assign`): the unknown caller's new lead and its
 * contact, and the callback task, go to the manager the rules pick; for a known caller the pick is sticky (the
 * open lead's, else the contact's manager while available). Without rules: the fixed/default responsible.
 * Step names carry the call state (`callNote:ended`, `callNote:recorded`).
 */
import { z } from 'zod';
import { formatPhone, type CallRecord, type DeliveryReceipt, type DeliveryTask } from '#sdk';
import { customFieldValues } from '../fields.ts';
import type { NoteEntity } from '../client.ts';
import { validationError } from '../classify.ts';
import { CLOCK_SLACK_SEC, sec, type StepCtx } from './context.ts';
import { findContact, type FoundContact } from './find-contact.ts';
import { openLeadOf } from './open-lead.ts';
import { addNote, findNote } from './add-note.ts';
import { addTask } from './add-task.ts';
import { placementPipeline } from './create-lead.ts';
import { ownedByOther, rememberContact, rememberLeadOwner } from './recent-intake.ts';

type CallTask = Extract<DeliveryTask, { kind: 'call' }>;

const CallPlacedSchema = z.object({
  entity: z.enum(['leads', 'contacts', 'companies']),
  entityId: z.number(),
  noteId: z.number().optional(),
  leadId: z.number().optional(),
  contactId: z.number().optional(),
  responsibleUserId: z.number().optional(),
  createdLead: z.boolean(),
  hasLink: z.boolean(),
});
type CallPlaced = z.infer<typeof CallPlacedSchema>;

interface CallTarget {
  entity: NoteEntity;
  entityId: number;
  leadId?: number;
  contactId: number;
  responsibleUserId?: number;
}

/** The client's number: the caller of an inbound call, the callee of an outbound one. */
export function clientPhone(r: CallRecord): string | undefined {
  if (r.direction === 'inbound') return r.fromE164;
  if (r.direction === 'outbound') return r.toE164;
  if (r.direction === 'unknown') return r.fromE164;
  return undefined; // internal
}

/** `call_status` 1–7 (sheet §8) and a human `call_result`. */
export function callOutcome(r: CallRecord): { call_status?: number; call_result?: string } {
  const inbound = r.direction !== 'outbound';
  const status = r.status ?? (r.state === 'missed' ? 'missed' : undefined);
  switch (status) {
    case 'answered':
      return { call_status: 4, call_result: 'Разговор состоялся' };
    case 'busy':
      return { call_status: 7, call_result: 'Линия занята' };
    case 'missed':
    case 'cancelled':
      return { call_status: 6, call_result: inbound ? 'Пропущенный звонок' : 'Не дозвонились' };
    case 'failed':
      return { call_status: 6, call_result: 'Звонок не состоялся' };
    default:
      return r.state === 'ended' || r.state === 'recorded' ? { call_result: 'Звонок завершён' } : {};
  }
}

export async function deliverCall(ctx: StepCtx, task: CallTask): Promise<DeliveryReceipt> {
  const r = task.call;
  const phone = clientPhone(r);
  if (!phone) return { createdLead: false };
  const prior = await priorPlacement(ctx);
  let placed: CallPlaced;
  /** Who the rules gave this call (undefined: no rules, or the CRM default applies). */
  let assigned: number | undefined;
  const wantsTaskOwner = task.callbackTask !== null && task.callbackTask.responsibleUserId === undefined;
  if (prior) {
    placed = prior;
    if (r.state === 'recorded' && !prior.hasLink && r.recording?.url) await linkRecording(ctx, task, phone, prior, r.recording.url);
    // Only a crash between the call note and the task gets here with the task still to write: the pick is journaled.
    if (wantsTaskOwner) assigned = await assign(ctx, task, prior.responsibleUserId !== undefined ? { contactResponsibleId: String(prior.responsibleUserId) } : {});
  } else {
    const found = await ctx.journal.step<FoundContact | null>('findContact', () => findContact(ctx, { phonesE164: [phone], emails: [] }));
    if (found) {
      const target = await ctx.journal.step<CallTarget>('callTarget', async () => {
        const open = await openLeadOf(ctx, found.leadIds);
        return open
          ? { entity: 'leads', entityId: open.leadId, leadId: open.leadId, contactId: found.contactId, ...(open.responsibleUserId ? { responsibleUserId: open.responsibleUserId } : {}) }
          : { entity: 'contacts', entityId: found.contactId, contactId: found.contactId, ...(found.responsibleUserId ? { responsibleUserId: found.responsibleUserId } : {}) };
      });
      // A known caller's missed call: the call-back goes to their manager (sticky) unless absent or deactivated.
      if (wantsTaskOwner) {
        assigned = await assign(ctx, task, {
          ...(found.responsibleUserId !== undefined ? { contactResponsibleId: String(found.responsibleUserId) } : {}),
          ...(target.entity === 'leads' && target.responsibleUserId !== undefined ? { openLeadResponsibleId: String(target.responsibleUserId) } : {}),
        });
      }
      placed = await callNote(ctx, task, phone, target);
    } else if (r.direction !== 'outbound') {
      // An unknown caller gets a new lead: its manager comes from the rules.
      assigned = await assign(ctx, task, {});
      placed = await unsortedSip(ctx, task, phone, assigned);
    } else {
      return { createdLead: false };
    }
  }
  let taskId: number | undefined;
  if (task.callbackTask) taskId = (await addTask(ctx, 'callbackTask', placed.entity, placed.entityId, task.callbackTask, assigned ?? placed.responsibleUserId)).taskId;
  return {
    ...(placed.contactId !== undefined ? { contactId: String(placed.contactId) } : {}),
    ...(placed.leadId !== undefined ? { leadId: String(placed.leadId), url: `${ctx.s.baseUrl}/leads/detail/${placed.leadId}` } : {}),
    createdLead: placed.createdLead && !prior,
    ...(placed.noteId !== undefined ? { noteId: String(placed.noteId) } : {}),
    ...(taskId !== undefined ? { taskId: String(taskId) } : {}),
  };
}

/**
 * The rules' pick for this call, once (journaled `assign`: a retry or a later event of the call keeps it). undefined
 * without rules, or when the rules leave it to the default (`settings.responsibleUserId`, else the CRM's).
 */
async function assign(ctx: StepCtx, task: CallTask, found: { contactResponsibleId?: string; openLeadResponsibleId?: string }): Promise<number | undefined> {
  const hook = task.assignResponsible;
  if (!hook) return undefined;
  const picked = await ctx.journal.step('assign', async () => ({ userId: (await hook(found)) ?? null }));
  return picked.userId !== null && /^\d+$/.test(picked.userId) ? Number(picked.userId) : undefined;
}

/** The call note's `params` (sheet §8): the same on the first write and on the edit that adds the recording. */
function callParams(task: CallTask, phone: string, link: string | undefined): Record<string, unknown> {
  const r = task.call;
  return {
    uniq: task.key,
    duration: durationSec(r),
    source: task.sourceName,
    phone: formatPhone(phone, task.phoneFormat),
    ...callOutcome(r),
    ...(link ? { link } : {}),
    ...(r.employeeName ? { call_responsible: r.employeeName } : {}),
  };
}

/**
 * The recording came after the call note: the note itself gets the link (`PATCH /api/v4/{entity}/notes`, sheet §8:
 * notes are editable; `params` is sent whole — whether amoCRM merges or replaces it is not documented). The note is
 * ours (its id journaled) or, for an Unsorted call, the one amoCRM wrote, found by `params.uniq`. Editing is
 * idempotent, so a retry simply edits again. No call note found (amoCRM did not write one) → a second note with the
 * link, so the recording is never lost.
 */
async function linkRecording(ctx: StepCtx, task: CallTask, phone: string, prior: CallPlaced, url: string): Promise<void> {
  const noteType = task.call.direction === 'outbound' ? 'call_out' : 'call_in';
  const noteId = prior.noteId ?? (await ctx.journal.step('callNote:find', async () => ({ noteId: (await findNote(ctx, prior.entity, prior.entityId, [noteType], (p) => p.uniq === task.key)) ?? null }))).noteId;
  if (noteId === null) {
    await addNote(ctx, 'callNote:recorded', prior.entity, prior.entityId, `Запись разговора (${formatPhone(phone, task.phoneFormat)}): ${url}`, `${task.key}:recording`);
    return;
  }
  await ctx.journal.step('callNote:recorded', async () => {
    const items = [{ id: noteId, note_type: noteType, params: callParams(task, phone, url) }];
    try {
      await ctx.io.http.request({ method: 'PATCH', url: `/api/v4/${prior.entity}/notes`, data: items });
    } catch (err) {
      throw validationError(err, items) ?? err;
    }
    return { noteId, entity: prior.entity, entityId: prior.entityId, edited: true };
  });
}

/** Where an earlier delivery of this call put it (a `callNote:<state>` step of the call's journal). */
async function priorPlacement(ctx: StepCtx): Promise<CallPlaced | undefined> {
  const snap = await ctx.journal.snapshot();
  for (const [k, v] of Object.entries(snap)) {
    if (!k.startsWith('callNote:') || k === 'callNote:recorded' || k === 'callNote:find') continue;
    const p = CallPlacedSchema.safeParse(v);
    if (p.success) return p.data;
  }
  return undefined;
}

function callNote(ctx: StepCtx, task: CallTask, phone: string, t: CallTarget): Promise<CallPlaced> {
  const r = task.call;
  const noteType = r.direction === 'outbound' ? 'call_out' : 'call_in';
  const link = r.recording?.url;
  const placed = (noteId: number): CallPlaced => ({
    entity: t.entity,
    entityId: t.entityId,
    noteId,
    ...(t.leadId !== undefined ? { leadId: t.leadId } : {}),
    contactId: t.contactId,
    ...(t.responsibleUserId !== undefined ? { responsibleUserId: t.responsibleUserId } : {}),
    createdLead: false,
    hasLink: Boolean(link),
  });
  return ctx.journal.step<CallPlaced>(
    `callNote:${r.state}`,
    async () => placed(await ctx.c.addNote(t.entity, t.entityId, { note_type: noteType, params: callParams(task, phone, link) })),
    {
      recover: async () => {
        const id = await findNote(ctx, t.entity, t.entityId, [noteType], (p) => p.uniq === task.key);
        return id === undefined ? undefined : placed(id);
      },
    },
  );
}

async function unsortedSip(ctx: StepCtx, task: CallTask, phone: string, assigned: number | undefined): Promise<CallPlaced> {
  const r = task.call;
  const { pipeline } = placementPipeline(ctx, { kind: 'incoming' });
  const shown = formatPhone(phone, task.phoneFormat);
  const link = r.recording?.url;
  const responsible = assigned !== undefined ? String(assigned) : ctx.s.responsibleUserId;
  const placed = (leadId: number, contactId: number | undefined): CallPlaced => ({
    entity: 'leads',
    entityId: leadId,
    leadId,
    ...(contactId !== undefined ? { contactId } : {}),
    ...(responsible ? { responsibleUserId: Number(responsible) } : {}),
    createdLead: true,
    hasLink: Boolean(link),
  });
  const result = await ctx.journal.step<CallPlaced>(
    `callNote:${r.state}`,
    async () => {
      const cfv = customFieldValues(ctx.facts, task.fields, 'lead');
      const item = {
        source_uid: ctx.s.unsortedSourceUid ?? `leadgate-${r.source.sourceId}`,
        source_name: task.sourceName,
        pipeline_id: pipeline.id,
        metadata: {
          uniq: task.key,
          duration: durationSec(r),
          service_code: r.provider,
          ...(link ? { link } : {}),
          // Kommo reference: `phone` is the call's recipient (our line), `from` the initiator (sheet §6.1).
          phone: r.line ?? r.toE164 ?? r.to ?? shown,
          from: shown,
          called_at: sec(r.startedAt ?? r.endedAt ?? r.occurredAt),
          ...(r.employeeName ? { call_responsible: r.employeeName } : {}),
          is_call_event_needed: true,
        },
        _embedded: {
          leads: [{ name: `Звонок с ${shown}`, ...(responsible ? { responsible_user_id: Number(responsible) } : {}), ...(cfv.length ? { custom_fields_values: cfv } : {}) }],
          contacts: [{ name: shown, ...(responsible ? { responsible_user_id: Number(responsible) } : {}), custom_fields_values: [{ field_code: 'PHONE', values: [ctx.meta.phoneEnumCode ? { value: shown, enum_code: ctx.meta.phoneEnumCode } : { value: shown }] }] }],
        },
      };
      const res = await ctx.c.addUnsorted('sip', item);
      if (res.leadId === undefined) throw new Error(`amoCRM created Unsorted call ${res.uid} without a lead id`);
      return placed(res.leadId, res.contactId);
    },
    {
      recover: async (intentAt) => {
        const since = sec(intentAt) - CLOCK_SLACK_SEC;
        for (let page = 1; page <= 4; page++) {
          const items = await ctx.c.listUnsorted('sip', page, pipeline.id);
          for (const u of items) {
            const leadId = u._embedded?.leads?.[0]?.id;
            if (u.metadata?.uniq === task.key && leadId !== undefined && !(await ownedByOther(ctx.io, leadId, task.key))) return placed(leadId, u._embedded?.contacts?.[0]?.id);
          }
          if (items.length < 50 || items.some((u) => (u.created_at ?? 0) < since)) break;
        }
        return undefined;
      },
    },
  );
  await rememberLeadOwner(ctx.io, result.entityId, task.key);
  if (result.contactId !== undefined) await rememberContact(ctx.io, result.contactId, { phonesE164: [phone], emails: [] });
  return result;
}

function durationSec(r: CallRecord): number {
  return Math.max(0, Math.round(r.talkSec ?? r.durationSec ?? 0));
}
