/**
 * createLead: one write that opens the lead and, for a new person, creates the contact with it.
 * - placement incoming, new contact → `POST /api/v4/leads/unsorted/forms` (lead + contact embedded, sheet §6.1).
 * - placement incoming, known contact → `POST /api/v4/leads/complex` with `_embedded.contacts: [{id}]` and
 *   `_embedded.metadata.category: forms` (lands in Unsorted). The sheet documents Unsorted's `_embedded.contacts`
 *   as new contact objects only, while /leads/complex takes "new or with id" (§5.2): linking by id there
 *   never creates a second contact.
 * - placement pipeline → `POST /api/v4/leads/complex` into the first stage of the named pipeline.
 * Recovery (crash between amoCRM's answer and the journal save): the contact's leads created since the intent,
 * or Unsorted items of this source sent at this time, never one another delivery claimed. amoCRM stores no
 * key of ours on either write (`request_id` is echoed, not stored; sheet §5.1, §6.1), so a candidate counts as
 * this delivery's write only when its contact carries this inquiry's phone or e-mail: in a burst from one
 * source, items of the same second belong to other people and must never be taken (a retry would put its
 * note on someone else's lead and never create its own).
 */
import { CrmError, type DeliveryTask } from '#sdk';
import { customFieldValues, findPipeline, type PipelineFact } from '../fields.ts';
import type { AmoContact, AmoUnsortedItem } from '../client.ts';
import { CLOCK_SLACK_SEC, sec, type StepCtx } from './context.ts';
import { findContact, hasEmail, hasPhone, type FoundContact } from './find-contact.ts';
import { newContactPayload } from './save-contact.ts';
import { ownedByOther, rememberContact, rememberLeadOwner } from './recent-intake.ts';

type LeadTask = Extract<DeliveryTask, { kind: 'lead' }>;

export interface CreatedLead {
  leadId: number;
  contactId?: number;
  /** Responsible user we set (undefined: amoCRM's default, the token's user). */
  responsibleUserId?: number;
  endpoint: 'unsorted/forms' | 'complex';
  merged?: boolean;
}

export function placementPipeline(ctx: Pick<StepCtx, 'meta' | 's'>, placement: LeadTask['placement']): { pipeline: PipelineFact; incoming: boolean } {
  if (placement.kind === 'pipeline') {
    const p = findPipeline(ctx.meta.pipelines, placement.pipeline);
    if (!p) {
      throw new CrmError({ kind: 'config', cause: `sources[].pipeline "${placement.pipeline}" is not a pipeline of this amoCRM account`, fix: `use one of: ${ctx.meta.pipelines.map((x) => x.name).join(', ')}` });
    }
    return { pipeline: p, incoming: false };
  }
  const p = ctx.meta.pipelines.find((x) => x.id === ctx.meta.incomingPipelineId) ?? ctx.meta.pipelines.find((x) => x.isMain);
  if (!p) throw new CrmError({ kind: 'config', cause: 'the amoCRM account has no pipeline', fix: 'create a pipeline in amoCRM' });
  return { pipeline: p, incoming: true };
}

/** `assigned`: the manager assignment rules picked (used when the task fixes none; else the account default). */
export async function createLead(ctx: StepCtx, task: LeadTask, found: FoundContact | null, assigned?: string): Promise<CreatedLead> {
  const { pipeline, incoming } = placementPipeline(ctx, task.placement);
  const lead = task.lead;
  const responsible = task.responsibleUserId ?? assigned ?? ctx.s.responsibleUserId;
  const leadBody: Record<string, unknown> = {
    name: lead.title,
    ...(lead.order?.amount !== undefined ? { price: Math.round(lead.order.amount) } : {}),
    ...(responsible ? { responsible_user_id: Number(responsible) } : {}),
  };
  const cfv = customFieldValues(ctx.facts, task.fields, 'lead');
  if (cfv.length) leadBody.custom_fields_values = cfv;
  const formMeta = formMetadata(lead);
  const sourceUid = ctx.s.unsortedSourceUid ?? `leadgate-${lead.source.sourceId}`;
  const newContact = (): Record<string, unknown> => newContactPayload(ctx, lead.contact, task.phoneFormat, task.fields, lead.title, responsible);
  const company = !found && lead.contact.company ? [{ name: lead.contact.company }] : undefined;
  const viaUnsortedForms = incoming && !found;

  const result = await ctx.journal.step<CreatedLead>(
    'createLead',
    async () => {
      if (viaUnsortedForms) {
        const r = await ctx.c.addUnsorted('forms', {
          source_uid: sourceUid,
          source_name: lead.source.name,
          pipeline_id: pipeline.id,
          metadata: formMeta,
          _embedded: { leads: [leadBody], contacts: [newContact()], ...(company ? { companies: company } : {}) },
        });
        if (r.leadId === undefined) throw new CrmError({ kind: 'retry', afterMs: 30_000, cause: `amoCRM created Unsorted item ${r.uid} without a lead id` });
        return created(r.leadId, r.contactId, responsible, 'unsorted/forms');
      }
      const embedded: Record<string, unknown> = { contacts: [found ? { id: found.contactId } : newContact()] };
      if (company) embedded.companies = company;
      if (incoming) embedded.metadata = { category: 'forms', ...formMeta };
      const body: Record<string, unknown> = { ...leadBody, pipeline_id: pipeline.id, _embedded: embedded };
      if (!incoming && pipeline.firstStageId !== undefined) body.status_id = pipeline.firstStageId;
      const r = await ctx.c.addComplex(body);
      return { ...created(r.leadId, r.contactId ?? found?.contactId, responsible, 'complex'), ...(r.merged ? { merged: true } : {}) };
    },
    {
      recover: async (intentAt) => {
        const since = sec(intentAt) - CLOCK_SLACK_SEC;
        if (viaUnsortedForms) return recoverUnsorted(ctx, task, sourceUid, pipeline.id, formMeta.form_sent_at, since, responsible);
        const contact = found ?? (await findContact(ctx, { phonesE164: lead.contact.phonesE164, emails: lead.contact.emails }));
        if (!contact) return undefined;
        const fresh = await ctx.c.contact(contact.contactId);
        // A contact we just created carries this inquiry's phone/e-mail; anything else is not this delivery's write.
        if (!fresh || (!found && !isThisInquiry(fresh, lead.contact))) return undefined;
        const leads = (await ctx.c.leadsByIds((fresh?._embedded?.leads ?? []).map((l) => l.id))).filter((l) => l.created_at >= since && l.pipeline_id === pipeline.id);
        for (const l of leads.sort((a, b) => a.created_at - b.created_at || a.id - b.id)) {
          if (!(await ownedByOther(ctx.io, l.id, task.key))) return created(l.id, contact.contactId, responsible, 'complex');
        }
        return undefined;
      },
    },
  );
  // Not CRM writes: idempotent bookkeeping for the next inquiry and for crash recovery.
  await rememberLeadOwner(ctx.io, result.leadId, task.key);
  if (result.contactId !== undefined) {
    await rememberContact(ctx.io, result.contactId, { phonesE164: lead.contact.phonesE164, emails: lead.contact.emails, messengerKey: messengerKey(lead.contact) });
  }
  return result;
}

async function recoverUnsorted(ctx: StepCtx, task: LeadTask, sourceUid: string, pipelineId: number, sentAt: number, since: number, responsible: string | undefined): Promise<CreatedLead | undefined> {
  for (let page = 1; page <= 4; page++) {
    const items = await ctx.c.listUnsorted('forms', page, pipelineId);
    for (const u of items) {
      if (!matchesForm(u, sourceUid, sentAt, since)) continue;
      const leadId = u._embedded?.leads?.[0]?.id;
      const contactId = u._embedded?.contacts?.[0]?.id;
      // Same source and second is not enough: the item's own contact (created by that very write) must be this person.
      if (leadId === undefined || contactId === undefined) continue;
      const contact = await ctx.c.contact(contactId);
      if (!contact || !isThisInquiry(contact, task.lead.contact)) continue;
      if (!(await ownedByOther(ctx.io, leadId, task.key))) return created(leadId, contactId, responsible, 'unsorted/forms');
    }
    // Newest first: once past the intent time, nothing older can be ours.
    if (items.length < 50 || items.some((u) => (u.created_at ?? 0) < since)) break;
  }
  return undefined;
}

function matchesForm(u: AmoUnsortedItem, sourceUid: string, sentAt: number, since: number): boolean {
  return u.source_uid === sourceUid && (u.created_at ?? 0) >= since && Number(u.metadata?.form_sent_at) === sentAt;
}

/**
 * The contact carries one of this inquiry's phones (E.164 / last 10 digits) or e-mails (case-insensitive). An inquiry
 * with neither cannot be confirmed: recovery then writes again (a visible double beats a note on someone else's lead).
 */
export function isThisInquiry(contact: AmoContact, inquiry: Pick<LeadTask['lead']['contact'], 'phonesE164' | 'emails'>): boolean {
  return hasPhone(contact, inquiry.phonesE164) || hasEmail(contact, inquiry.emails);
}

function created(leadId: number, contactId: number | undefined, responsible: string | undefined, endpoint: CreatedLead['endpoint']): CreatedLead {
  return { leadId, ...(contactId !== undefined ? { contactId } : {}), ...(responsible ? { responsibleUserId: Number(responsible) } : {}), endpoint };
}

/** Forms metadata (sheet §6.1). The SDK always sends form_id, form_name, form_page and form_sent_at. */
function formMetadata(lead: LeadTask['lead']): { form_id: string; form_name: string; form_page: string; form_sent_at: number; ip?: string; referer?: string } {
  return {
    form_id: lead.formName ?? lead.source.sourceId,
    form_name: lead.formName ?? lead.source.name,
    form_page: lead.tracking.pageUrl ?? lead.tracking.landingUrl ?? lead.source.name,
    form_sent_at: Number.isFinite(sec(lead.occurredAt)) ? sec(lead.occurredAt) : 0,
    ...(lead.tracking.ip ? { ip: lead.tracking.ip } : {}),
    ...(lead.tracking.referrer ? { referer: lead.tracking.referrer } : {}),
  };
}

export function messengerKey(c: LeadTask['lead']['contact']): string | undefined {
  return c.messenger ? `${c.messenger.kind}:${c.messenger.userId}` : undefined;
}
