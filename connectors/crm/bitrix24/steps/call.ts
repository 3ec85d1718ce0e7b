/**
 * A finished call from an external PBX into Bitrix24 telephony (reference: bitrix24.md §8), one journal step
 * each:
 *
 *   call-lookup, assign  (assignment rules only) for an inbound call not answered by a known extension: the caller's
 *                contact and open lead (findbycomm, read-only), then the rules' pick — sticky first — which becomes
 *                the call's USER_ID: the responsible of the lead CRM_CREATE opens and of the call-back to-do. A call
 *                answered by a known extension stays that employee's. Both journaled: every event of the call and
 *                every retry registers and finishes for the same user.
 *   register     telephony.externalcall.register with a unique EXTERNAL_CALL_ID; CRM_CREATE=1 makes a lead for an
 *                unknown inbound caller. No lookup exists for a lost answer, but re-registering within 30 min
 *                with the same keys returns the same CALL_ID, so a retry just registers again.
 *   lead-fields  source description, UTM and mapped fields on the lead/deal the call created (an update: safe to repeat)
 *   finish       telephony.externalcall.finish: creates the CRM call activity (recover: finishing again answers
 *                "Call is not found" once the call is finished, which means the lost attempt did it)
 *   record       telephony.externalcall.attachRecord with RECORD_URL (a second attach replaces the first: safe to repeat)
 *   callback     a missed inbound call leaves the to-do "Перезвонить клиенту" (recover: list the owner's to-dos)
 */
import { z } from 'zod';
import { CrmError, type CallRecord, type DeliveryReceipt, type DeliveryTask, type StepJournal } from '#sdk';
import { BitrixApiError, type Params } from '../client.ts';
import { mappedFields, sourceIdFor } from './draft.ts';
import { findMatch } from './lookup.ts';
import { idOf, originIdOf, recordUrl, refString, type Ctx, type OwnerEntity } from './common.ts';
import { todoStep } from './lead.ts';
import { DEFAULTS } from '../settings.ts';

type CallTask = Extract<DeliveryTask, { kind: 'call' }>;

const IdLike = z.union([z.string(), z.number()]).nullish();
const RegisterSchema = z.object({
  CALL_ID: z.string().min(1),
  CRM_CREATED_LEAD: IdLike,
  CRM_ENTITY_TYPE: z.string().nullish(),
  CRM_ENTITY_ID: IdLike,
  CRM_CREATED_ENTITIES: z.array(z.object({ ENTITY_TYPE: z.string(), ENTITY_ID: z.union([z.string(), z.number()]) })).nullish(),
});

interface Registered {
  callId: string;
  createdLeadId?: string;
  /** What the call is bound to: the created deal (simple mode), the created lead, or what Bitrix matched. */
  owner?: { entity: OwnerEntity; id: string };
  created: { entity: string; id: string }[];
}

/** SIP-style codes Bitrix shows (sheet §8.3); an unanswered inbound call is always 304 so the missed-call list and automation fire. */
export function statusCode(call: CallRecord, inbound: boolean): string {
  if (answered(call)) return '200';
  if (inbound) return '304';
  switch (call.status) {
    case 'busy':
      return '486';
    case 'cancelled':
      return '603-S';
    case 'failed':
      return 'OTHER';
    default:
      return '304';
  }
}

export async function deliverCall(ctx: Ctx, task: CallTask, journal: StepJournal): Promise<DeliveryReceipt> {
  const call = task.call;
  if (call.direction === 'internal') return { createdLead: false };
  const inbound = call.direction !== 'outbound';
  const client = inbound ? (call.fromE164 ?? call.from) : (call.toE164 ?? call.to);
  if (!client || client.replace(/\D/g, '') === '') {
    ctx.io.log.warn({ call: task.key }, 'call without a client number: nothing to register in Bitrix24');
    return { createdLead: false };
  }
  const assigned = await assignCall(ctx, task, journal, inbound);
  const user = assigned ? { USER_ID: assigned } : callUser(ctx, call, task);

  const reg = await journal.step('register', async (): Promise<Registered> => {
    const res = RegisterSchema.parse(
      await ctx.client.call('telephony.externalcall.register', {
        ...user,
        PHONE_NUMBER: client,
        TYPE: inbound ? 2 : 1,
        ...(call.startedAt ? { CALL_START_DATE: call.startedAt } : {}),
        CRM_CREATE: inbound ? 1 : 0,
        CRM_SOURCE: sourceIdFor(ctx, task.fields, ctx.meta.callSourceId),
        ...(call.line ? { LINE_NUMBER: call.line } : {}),
        // Unique per physical call, so a real new call is never merged into an old one (sheet §8.2).
        EXTERNAL_CALL_ID: task.key,
        // The call is over: no card pops up for the employee.
        SHOW: 0,
      }),
    );
    const created = (res.CRM_CREATED_ENTITIES ?? []).flatMap((e) => (idOf(e.ENTITY_ID) ? [{ entity: e.ENTITY_TYPE.toLowerCase(), id: idOf(e.ENTITY_ID)! }] : []));
    const bound = ownerOf(res.CRM_ENTITY_TYPE, res.CRM_ENTITY_ID);
    const createdDeal = created.find((e) => e.entity === 'deal');
    const owner: Registered['owner'] = createdDeal ? { entity: 'deal', id: createdDeal.id } : bound;
    return { callId: res.CALL_ID, ...(idOf(res.CRM_CREATED_LEAD) ? { createdLeadId: idOf(res.CRM_CREATED_LEAD)! } : {}), ...(owner ? { owner } : {}), created };
  });

  const target = reg.created.find((e) => e.entity === (ctx.meta.mode === 'simple' ? 'deal' : 'lead'));
  if (target) {
    await journal.step('lead-fields', async () => {
      const into = target.entity === 'deal' ? 'deal' : 'lead';
      const fields: Params = {
        SOURCE_DESCRIPTION: `${task.sourceName}${call.line ? `, линия ${call.line}` : ''}`,
        ...mappedFields(ctx, task.fields, 'lead', into),
        // CRM_CREATE already gives the record to the call's user; said explicitly so a portal that differs still follows the rules.
        ...(assigned ? { ASSIGNED_BY_ID: assigned } : {}),
        ORIGINATOR_ID: DEFAULTS.originatorId,
        ORIGIN_ID: originIdOf(task.key),
      };
      await ctx.client.call(`crm.${into}.update`, { id: target.id, fields, params: { REGISTER_SONET_EVENT: 'N' } });
      return { updated: `${into}:${target.id}` };
    });
  }

  const finishParams: Params = {
    CALL_ID: reg.callId,
    ...user,
    DURATION: Math.max(0, Math.round(call.talkSec ?? (statusCode(call, inbound) === '200' ? (call.durationSec ?? 0) : 0))),
    STATUS_CODE: statusCode(call, inbound),
    ADD_TO_CHAT: 0,
  };
  await journal.step('finish', () => finish(ctx, finishParams), {
    recover: async () => {
      try {
        return await finish(ctx, finishParams);
      } catch (err) {
        // A finished call is gone from the "registered" list: the lost attempt finished it.
        if (err instanceof BitrixApiError && /call is not found/i.test(err.description)) return { finished: true, recovered: true };
        throw err;
      }
    },
  });

  const url = call.recording?.url;
  if (url) {
    await journal.step('record', async () => {
      const res = z.object({ FILE_ID: IdLike }).catch({ FILE_ID: null }).parse(await ctx.client.call('telephony.externalcall.attachRecord', { CALL_ID: reg.callId, RECORD_URL: url, FILENAME: recordFileName(url, call.providerCallId) }));
      return { fileId: idOf(res.FILE_ID) ?? null };
    });
  }

  let taskId: string | undefined;
  if (task.callbackTask && reg.owner) {
    const t = task.callbackTask;
    taskId = await todoStep(
      ctx,
      journal,
      { ownerEntity: reg.owner.entity, ownerId: reg.owner.id, title: t.text, dueAt: t.dueAt, description: `Пропущенный звонок ${client}`, responsibleId: t.responsibleUserId ?? ('USER_ID' in user ? String(user.USER_ID) : ctx.s.responsibleUserId) },
      'callback',
    );
  }

  const leadRef = reg.owner && (reg.owner.entity === 'lead' || reg.owner.entity === 'deal') ? { entity: reg.owner.entity, id: reg.owner.id } : undefined;
  const contactId = reg.owner?.entity === 'contact' ? reg.owner.id : reg.created.find((e) => e.entity === 'contact')?.id;
  return {
    ...(contactId ? { contactId } : {}),
    ...(leadRef ? { leadId: refString(leadRef), url: recordUrl(ctx, leadRef) } : {}),
    createdLead: reg.createdLeadId !== undefined,
    ...(taskId ? { taskId } : {}),
  };
}

/**
 * The rules' manager for an inbound call nobody known took: undefined without rules, for a call answered by an
 * extension of a Bitrix24 user (that employee keeps it), or when the rules leave it to the default.
 */
async function assignCall(ctx: Ctx, task: CallTask, journal: StepJournal, inbound: boolean): Promise<string | undefined> {
  const hook = task.assignResponsible;
  const call = task.call;
  if (!hook || !inbound) return undefined;
  const ext = call.extension?.trim();
  if (answered(call) && ext && ctx.meta.usersByInner[ext]) return undefined;
  const phone = call.fromE164;
  const match = phone ? await journal.step('call-lookup', () => findMatch(ctx, { phonesE164: [phone], emails: [] })) : {};
  const found = { ...(match.contact?.assignedById ? { contactResponsibleId: match.contact.assignedById } : {}), ...(match.open?.assignedById ? { openLeadResponsibleId: match.open.assignedById } : {}) };
  const picked = await journal.step('assign', async () => ({ userId: (await hook(found)) ?? null }));
  return picked.userId ?? undefined;
}

function answered(call: CallRecord): boolean {
  return call.status === 'answered' || ((call.talkSec ?? 0) > 0 && call.status !== 'missed');
}

async function finish(ctx: Ctx, params: Params): Promise<{ finished: true; activityId?: string }> {
  const res = z.object({ CRM_ACTIVITY_ID: IdLike }).catch({ CRM_ACTIVITY_ID: null }).parse(await ctx.client.call('telephony.externalcall.finish', params));
  const activityId = idOf(res.CRM_ACTIVITY_ID);
  return { finished: true, ...(activityId ? { activityId } : {}) };
}

/**
 * Whose call it is: the employee by extension (`UF_PHONE_INNER`, read at start-up), else the configured
 * responsible, else the webhook's/app's own user. An unknown extension would make Bitrix refuse the call.
 */
function callUser(ctx: Ctx, call: CallRecord, task: CallTask): { USER_ID: string } | { USER_PHONE_INNER: string } {
  const ext = call.extension?.trim();
  if (ext) {
    const id = ctx.meta.usersByInner[ext];
    if (id) return { USER_ID: id };
    if (Object.keys(ctx.meta.usersByInner).length === 0) return { USER_PHONE_INNER: ext }; // users unreadable: let the portal resolve it
    ctx.io.log.warn({ extension: ext }, 'extension is no active Bitrix24 user (UF_PHONE_INNER); the call goes to the default user');
  }
  const fallback = task.callbackTask?.responsibleUserId ?? ctx.s.responsibleUserId ?? ctx.meta.currentUserId;
  if (!fallback) throw new CrmError({ kind: 'config', cause: 'no Bitrix24 user to register the call for (no known extension, no responsibleUserId)', fix: 'set crm[].settings.responsibleUserId, or employees\' extension numbers in their Bitrix24 profiles (UF_PHONE_INNER)' });
  return { USER_ID: fallback };
}

const OWNER_BY_TYPE = new Map<string, OwnerEntity>([
  ['LEAD', 'lead'],
  ['CONTACT', 'contact'],
  ['COMPANY', 'company'],
  ['DEAL', 'deal'],
]);

function ownerOf(type: string | null | undefined, id: unknown): { entity: OwnerEntity; id: string } | undefined {
  const entity = OWNER_BY_TYPE.get(String(type ?? '').toUpperCase());
  const sid = idOf(id);
  return entity && sid ? { entity, id: sid } : undefined;
}

/** attachRecord wants a `.mp3`/`.wav` name; recording URLs often have none. */
function recordFileName(url: string, callId: string): string {
  const last = url.split('?')[0]!.split('/').pop() ?? '';
  if (/\.(mp3|wav)$/i.test(last)) return last;
  return `call-${callId.replace(/[^A-Za-z0-9_-]/g, '').slice(0, 40) || 'record'}.mp3`;
}

