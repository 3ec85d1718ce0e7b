/**
 * Account facts (reference: /work/shared/reference/amocrm.md §7, §11): users, pipelines, lead and contact
 * custom fields, checked against the settings at start-up and against the mapping's targets. Also turns mapped
 * values into `custom_fields_values` of the right shape per field type.
 */
import { z } from 'zod';
import { CrmError, HttpError, type AccountFacts, type CrmIO, type FieldCatalogueEntry, type MappedField } from '#sdk';
import { amoClient, type AmoCustomField, type AmoPipeline } from './client.ts';
import { tokenWarnings, withAuthContext } from './auth.ts';
import type { AmoSettings } from './settings.ts';

/** The tracking (`tracking_data`) lead fields every account has (sheet §7.1). */
export const TRACKING_CODES = [
  'UTM_SOURCE', 'UTM_MEDIUM', 'UTM_CAMPAIGN', 'UTM_CONTENT', 'UTM_TERM', 'UTM_REFERRER', 'REFERRER', 'ROISTAT',
  'OPENSTAT_SERVICE', 'OPENSTAT_CAMPAIGN', 'OPENSTAT_AD', 'OPENSTAT_SOURCE', 'FROM', 'GCLIENTID', '_YM_UID', '_YM_COUNTER',
  'GCLID', 'YCLID', 'FBCLID',
] as const;

/** Won / lost exist in every pipeline (sheet §11): any other status is an open lead, Unsorted included. */
export const CLOSED_STATUS_IDS: readonly number[] = [142, 143];

const PipelineFact = z.object({
  id: z.number(),
  name: z.string(),
  isMain: z.boolean(),
  isUnsortedOn: z.boolean(),
  /** First regular stage (type 0, lowest sort, not won/lost). */
  firstStageId: z.number().optional(),
});
export type PipelineFact = z.infer<typeof PipelineFact>;

/** What the connector keeps in `facts.meta.amo`; parsed back with this schema, never cast. */
export const AmoMetaSchema = z.object({
  accountId: z.number(),
  subdomain: z.string().optional(),
  currentUserId: z.number().optional(),
  pipelines: z.array(PipelineFact),
  /** Pipeline of "Неразобранное" for incoming leads (settings.pipeline or the main one). */
  incomingPipelineId: z.number().optional(),
  users: z.array(z.object({ id: z.number(), name: z.string(), active: z.boolean() })),
  phoneEnumCode: z.string().optional(),
  emailEnumCode: z.string().optional(),
});
export type AmoMeta = z.infer<typeof AmoMetaSchema>;

export function amoMeta(facts: AccountFacts): AmoMeta {
  const r = AmoMetaSchema.safeParse(facts.meta.amo);
  if (!r.success) throw new Error(`amoCRM account facts are incomplete (${r.error.issues[0]?.message ?? 'meta.amo missing'}); inspect() must run first`);
  return r.data;
}

export async function inspectAccount(io: CrmIO, s: AmoSettings, env: Readonly<Record<string, string | undefined>> = process.env): Promise<AccountFacts> {
  return withAuthContext(async () => {
    const problems: string[] = [];
    const warnings: string[] = [];
    const tw = await tokenWarnings(io, s, env);
    problems.push(...tw.problems);
    warnings.push(...tw.warnings);
    const c = amoClient(io, s);
    let account;
    try {
      account = await c.account();
    } catch (err) {
      // No tokens yet, a dead token…: stop start-up with the fix rather than fail every delivery.
      if (err instanceof CrmError && err.failure.kind === 'config') {
        return { fields: [], problems: [...problems, `${err.failure.cause}; fix: ${err.failure.fix}`], warnings, meta: {} };
      }
      throw err;
    }
    // Listing users needs admin rights; a manager's token still delivers, only the responsible check is skipped.
    const users = await c.users().catch((err: unknown) => {
      if (err instanceof HttpError && err.status === 403 && !/html/i.test(err.headers['content-type'] ?? '')) {
        warnings.push('the token may not list users (HTTP 403): settings.responsibleUserId and user names are not checked');
        return [];
      }
      throw err;
    });
    const [pipelinesRaw, leadFields, contactFields] = [await c.pipelines(), await c.customFields('leads'), await c.customFields('contacts')];
    const pipelines = pipelinesRaw.map(pipelineFact);
    const fields = [...catalogue('lead', leadFields), ...catalogue('contact', contactFields)];

    let incoming = pipelines.find((p) => p.isMain) ?? pipelines[0];
    if (s.pipeline) {
      const named = findPipeline(pipelines, s.pipeline);
      if (!named) problems.push(`settings.pipeline: no pipeline "${s.pipeline}" in amoCRM; known: ${pipelines.map((p) => `${p.name} (${p.id})`).join(', ')}`);
      else incoming = named;
    }
    if (incoming && !incoming.isUnsortedOn) {
      problems.push(`pipeline "${incoming.name}" has "Неразобранное" (Unsorted) switched off; fix: switch it on in the pipeline's settings in amoCRM, or set settings.pipeline to a pipeline that has it`);
    }
    if (s.responsibleUserId && users.length) {
      const u = users.find((x) => String(x.id) === s.responsibleUserId);
      if (!u) problems.push(`settings.responsibleUserId: no amoCRM user ${s.responsibleUserId}; known: ${users.map((x) => `${x.name} (${x.id})`).join(', ')}`);
      else if (u.rights?.is_active === false) problems.push(`settings.responsibleUserId: user ${u.name} (${u.id}) is deactivated; pick an active user`);
    }
    const phone = contactFields.find((f) => f.code === 'PHONE');
    const email = contactFields.find((f) => f.code === 'EMAIL');
    if (!phone) problems.push('the contact field PHONE is missing in amoCRM; it is predefined in every account: check that the token may read contact fields');
    if (!email) warnings.push('the contact field EMAIL is missing in amoCRM: e-mails go into the note only');
    const meta: AmoMeta = {
      accountId: account.id,
      ...(account.subdomain ? { subdomain: account.subdomain } : {}),
      ...(account.current_user_id ? { currentUserId: account.current_user_id } : {}),
      pipelines,
      ...(incoming ? { incomingPipelineId: incoming.id } : {}),
      users: users.map((u) => ({ id: u.id, name: u.name, active: u.rights?.is_active !== false })),
      ...(enumCode(phone, ['WORK', 'MOB']) ? { phoneEnumCode: enumCode(phone, ['WORK', 'MOB'])! } : {}),
      ...(enumCode(email, ['WORK', 'PRIV']) ? { emailEnumCode: enumCode(email, ['WORK', 'PRIV'])! } : {}),
    };
    return { fields, problems, warnings, meta: { amo: meta } };
  });
}

function pipelineFact(p: AmoPipeline): PipelineFact {
  const statuses = p._embedded?.statuses ?? [];
  const first = [...statuses].sort((a, b) => a.sort - b.sort).find((st) => (st.type ?? 0) === 0 && !CLOSED_STATUS_IDS.includes(st.id));
  return { id: p.id, name: p.name, isMain: p.is_main === true, isUnsortedOn: p.is_unsorted_on === true, ...(first ? { firstStageId: first.id } : {}) };
}

/** A pipeline by id or by name (case-insensitive, trimmed). */
export function findPipeline(pipelines: readonly PipelineFact[], ref: string): PipelineFact | undefined {
  const r = ref.trim().toLowerCase();
  return pipelines.find((p) => String(p.id) === r) ?? pipelines.find((p) => p.name.trim().toLowerCase() === r);
}

/** Each field twice: by its code (when it has one) and by its numeric id, so a mapping may use either. */
function catalogue(entity: 'lead' | 'contact', fields: AmoCustomField[]): FieldCatalogueEntry[] {
  return fields.flatMap((f) => {
    const base = { entity, name: f.name, type: f.type, ...(f.enums ? { enums: f.enums.map((e) => ({ id: String(e.id), value: e.value })) } : {}) };
    const out: FieldCatalogueEntry[] = [{ key: String(f.id), ...base }];
    if (f.code) out.unshift({ key: f.code, ...base });
    return out;
  });
}

function enumCode(f: AmoCustomField | undefined, preferred: readonly string[]): string | undefined {
  const codes = (f?.enums ?? []).map((e) => e.code ?? e.value).filter((c): c is string => typeof c === 'string');
  return preferred.find((p) => codes.includes(p)) ?? codes[0];
}

export function findField(facts: AccountFacts, entity: 'lead' | 'contact', target: string): FieldCatalogueEntry | undefined {
  const t = target.trim();
  return facts.fields.find((f) => f.entity === entity && (f.key === t || f.key.toUpperCase() === t.toUpperCase()));
}

/** Mapping targets that the account does not have, each with the fix. */
export function checkMapping(facts: AccountFacts, targets: readonly { entity: 'lead' | 'contact'; target: string }[]): string[] {
  if (!facts.fields.length) return []; // facts could not be loaded: inspect already reported why
  const problems: string[] = [];
  for (const { entity, target } of targets) {
    if (findField(facts, entity, target)) continue;
    const known = facts.fields.filter((f) => f.entity === entity && !/^\d+$/.test(f.key)).map((f) => f.key);
    const what = (TRACKING_CODES as readonly string[]).includes(target.toUpperCase()) ? `the tracking field ${target}` : `a ${entity} field ${target} (or use its numeric id)`;
    problems.push(
      `${entity}.fields.${target}: amoCRM has no ${entity} field with code or id "${target}"${known.length ? ` (codes: ${known.slice(0, 25).join(', ')}${known.length > 25 ? ', …' : ''})` : ''}; create ${what} or remove ${entity}.fields.${target} from mappings/amocrm.yaml`,
    );
  }
  return problems;
}

/** `custom_fields_values` for one entity from mapped values: by `field_id` for numeric targets, else `field_code`. */
export function customFieldValues(facts: AccountFacts, fields: readonly MappedField[], entity: 'lead' | 'contact'): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const m of fields) {
    if (m.entity !== entity) continue;
    const f = findField(facts, entity, m.target);
    const value = valueFor(f, m.value);
    if (value === undefined) continue;
    const ref = /^\d+$/.test(m.target) ? { field_id: Number(m.target) } : { field_code: (f?.key ?? m.target).toUpperCase() };
    out.push({ ...ref, values: [value] });
  }
  // /leads/complex takes at most 40 values per entity (sheet §5.2).
  return out.slice(0, 40);
}

function valueFor(f: FieldCatalogueEntry | undefined, raw: string): Record<string, unknown> | undefined {
  switch (f?.type) {
    case 'select':
    case 'radiobutton':
    case 'multiselect': {
      const e = f.enums?.find((x) => x.value.trim().toLowerCase() === raw.trim().toLowerCase());
      return e ? { enum_id: Number(e.id) } : { value: raw };
    }
    case 'checkbox':
      return { value: !/^(0|false|no|нет|off|)$/i.test(raw.trim()) };
    case 'numeric':
    case 'price':
    case 'monetary': {
      const n = Number(raw.replace(/\s/g, '').replace(',', '.'));
      return Number.isFinite(n) ? { value: n } : undefined;
    }
    case 'date':
    case 'date_time':
    case 'birthday': {
      const t = /^\d+$/.test(raw) ? Number(raw) : Math.floor(Date.parse(raw) / 1000);
      return Number.isFinite(t) ? { value: t } : undefined;
    }
    default:
      return { value: raw };
  }
}
