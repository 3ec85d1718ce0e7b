/**
 * Start-up facts about the portal (reference: bitrix24.md §4.4 sources, §4.6 custom fields, §4.7 CRM mode,
 * §5 deal pipelines): one `batch` for mode, sources, field catalogues, pipelines and users, one for the
 * pipelines' stages. Everything the admin must fix comes back as a problem naming the fix.
 */
import { z } from 'zod';
import type { AccountFacts, CrmIO, FieldCatalogueEntry } from '#sdk';
import { createBitrixClient, isRecord, type BitrixApiError, type BitrixClient } from './client.ts';
import { classifyBitrix } from './classify.ts';
import { DEFAULTS, type BitrixSettings } from './settings.ts';

const CategorySchema = z.object({ id: z.number().int(), name: z.string(), firstStageId: z.string().optional() });

export const BitrixMetaSchema = z.object({
  /** The mode deliveries use (settings override, else the portal's). */
  mode: z.enum(['classic', 'simple']),
  /** What `crm.settings.mode.get` said. */
  portalMode: z.enum(['classic', 'simple']).optional(),
  /** `https://acme.bitrix24.ru`, for links in receipts. */
  origin: z.string(),
  /** `STATUS_ID`s of the SOURCE directory. */
  sourceIds: z.array(z.string()),
  sourceId: z.string(),
  callSourceId: z.string(),
  dealCategoryId: z.number().int(),
  categories: z.array(CategorySchema),
  /** The webhook's/app's own user: default for calls without a known extension. */
  currentUserId: z.string().optional(),
  /** Extension number (`UF_PHONE_INNER`) → user id, active users only. */
  usersByInner: z.record(z.string(), z.string()),
  /** Required writable fields per entity (the portal refuses adds without them). */
  required: z.record(z.string(), z.array(z.object({ code: z.string(), label: z.string() }))),
});
export type BitrixMeta = z.infer<typeof BitrixMetaSchema>;

/** Typed view of the facts this connector produced; facts from anywhere else are a bug worth a clear message. */
export function bitrixMeta(facts: AccountFacts): BitrixMeta {
  const r = BitrixMetaSchema.safeParse(facts.meta.bitrix24);
  if (!r.success) throw new Error(`bitrix24: account facts were not produced by inspect() (${r.error.issues[0]?.message ?? 'invalid'})`);
  return r.data;
}

const FieldMetaSchema = z.object({
  type: z.string(),
  isRequired: z.boolean().optional(),
  isReadOnly: z.boolean().optional(),
  isMultiple: z.boolean().optional(),
  title: z.string().optional(),
  listLabel: z.string().optional(),
  formLabel: z.string().optional(),
  items: z.array(z.object({ ID: z.union([z.string(), z.number()]), VALUE: z.string() })).optional(),
});
const StatusRowSchema = z.object({ STATUS_ID: z.string(), NAME: z.string().optional(), SORT: z.union([z.string(), z.number()]).optional() });
const UserRowSchema = z.object({ ID: z.union([z.string(), z.number()]), UF_PHONE_INNER: z.union([z.string(), z.number()]).nullish(), ACTIVE: z.unknown().optional() });

type Entity = 'lead' | 'deal' | 'contact';
const ENTITIES: Entity[] = ['lead', 'deal', 'contact'];

/** Fields the connector writes itself; a mapping must not set them. */
const RESERVED = new Set(['PHONE', 'EMAIL', 'IM', 'CONTACT_ID', 'CONTACT_IDS', 'ORIGINATOR_ID', 'ORIGIN_ID']);
/** Fields the connector fills, so a "required" flag on them needs no mapping. */
const FILLED = new Set(['TITLE', 'NAME', 'PHONE', 'EMAIL', 'SOURCE_ID', 'SOURCE_DESCRIPTION', 'ASSIGNED_BY_ID', 'CONTACT_ID', 'CONTACT_IDS', 'COMPANY_ID', 'STATUS_ID', 'STAGE_ID', 'CATEGORY_ID', 'OPENED', 'CURRENCY_ID', 'TYPE_ID']);

export async function inspect(io: CrmIO, s: BitrixSettings): Promise<AccountFacts> {
  const facts: AccountFacts = { fields: [], problems: [], warnings: [], meta: {} };
  try {
    const client = createBitrixClient(io, s);
    await load(client, s, facts);
    if (s.auth === 'oauth') {
      // The token server names the portal's current address: a renamed portal shows up here before a 302 does.
      const endpointNow = (await io.credentials.get())?.extra?.clientEndpoint;
      const origin = endpointNow ? safeOrigin(endpointNow) : undefined;
      if (origin && s.portalUrl && origin !== s.portalUrl) facts.warnings.push(`the OAuth server says the portal is at ${origin}, but crm[].settings.portalUrl is ${s.portalUrl}; set portalUrl to ${origin}`);
    }
  } catch (err) {
    const f = classifyBitrix(err);
    if (f.kind === 'config') {
      facts.problems.push(`${f.cause}. Fix: ${f.fix}`);
      return facts;
    }
    throw err; // the portal is down or busy: the worker asks again on the first delivery
  }
  return facts;
}

async function load(client: BitrixClient, s: BitrixSettings, facts: AccountFacts): Promise<void> {
  const first = await client.batch({
    mode: { method: 'crm.settings.mode.get' },
    sources: { method: 'crm.status.list', params: { filter: { ENTITY_ID: 'SOURCE' }, order: { SORT: 'ASC' } } },
    lead: { method: 'crm.lead.fields' },
    deal: { method: 'crm.deal.fields' },
    contact: { method: 'crm.contact.fields' },
    categories: { method: 'crm.category.list', params: { entityTypeId: 2 } },
    me: { method: 'user.current' },
    users: { method: 'user.get', params: { FILTER: { ACTIVE: 'true' } } },
  });
  const hard = (key: string): void => {
    const e = first.errors[key];
    if (!e) return;
    const f = classifyBitrix(e);
    if (f.kind === 'retry') throw e;
    facts.problems.push(f.kind === 'config' ? `${f.cause}. Fix: ${f.fix}` : f.cause);
  };
  for (const k of ['mode', 'sources', 'lead', 'deal', 'contact']) hard(k);

  // Mode
  const rawMode = first.results.mode;
  const portalMode = rawMode === 2 || rawMode === '2' ? 'simple' : rawMode === 1 || rawMode === '1' ? 'classic' : undefined;
  const mode = s.mode && s.mode !== 'auto' ? s.mode : (portalMode ?? 'classic');
  if (s.mode && s.mode !== 'auto' && portalMode && s.mode !== portalMode) {
    facts.warnings.push(`crm[].settings.mode is ${s.mode} but the portal runs in ${portalMode} mode; Leadgate creates ${s.mode === 'simple' ? 'deals' : 'leads'} as configured`);
  }

  // Sources
  const sourceIds = z.array(StatusRowSchema).catch([]).parse(first.results.sources).map((r) => r.STATUS_ID);
  const sourceId = s.sourceId ?? DEFAULTS.sourceId;
  const callSourceId = s.callSourceId ?? DEFAULTS.callSourceId;
  if (!first.errors.sources) {
    for (const [key, value] of [['sourceId', sourceId], ['callSourceId', callSourceId]] as const) {
      if (!sourceIds.includes(value)) {
        facts.problems.push(`crm[].settings.${key}: "${value}" is not a source (SOURCE_ID) on the portal; valid: ${sourceIds.join(', ') || '(none)'}. Fix: use one of them, or add it in Bitrix24 (CRM → Settings → CRM directories → Sources)`);
      }
    }
  }

  // Field catalogues
  const required: BitrixMeta['required'] = { lead: [], deal: [], contact: [] };
  for (const entity of ENTITIES) {
    const raw = first.results[entity];
    if (!isRecord(raw)) continue;
    for (const [code, metaRaw] of Object.entries(raw)) {
      const m = FieldMetaSchema.safeParse(metaRaw);
      if (!m.success || m.data.isReadOnly || m.data.type === 'crm_multifield') continue;
      const label = m.data.formLabel || m.data.listLabel || m.data.title || code;
      const entry: FieldCatalogueEntry = { key: code, entity, name: label, type: m.data.type };
      if (m.data.items?.length) entry.enums = m.data.items.map((i) => ({ id: String(i.ID), value: i.VALUE }));
      facts.fields.push(entry);
      if (m.data.isRequired && !FILLED.has(code)) required[entity]!.push({ code, label });
    }
  }

  // Pipelines and their first stages (simple mode puts deals there)
  const cats = z
    .object({ categories: z.array(z.object({ id: z.union([z.number(), z.string()]).transform(Number), name: z.string() })) })
    .catch({ categories: [] })
    .parse(first.results.categories).categories;
  if (!cats.some((c) => c.id === 0)) cats.unshift({ id: 0, name: 'General' });
  const stages = await client.batch(
    Object.fromEntries(cats.slice(0, 50).map((c) => [`c${c.id}`, { method: 'crm.status.list', params: { filter: { ENTITY_ID: c.id === 0 ? 'DEAL_STAGE' : `DEAL_STAGE_${c.id}` }, order: { SORT: 'ASC' } } }])),
  );
  const categories = cats.map((c) => {
    const rows = z.array(StatusRowSchema).catch([]).parse(stages.results[`c${c.id}`]);
    const sorted = [...rows].sort((a, b) => Number(a.SORT ?? 0) - Number(b.SORT ?? 0));
    return { id: c.id, name: c.name, ...(sorted[0] ? { firstStageId: sorted[0].STATUS_ID } : {}) };
  });
  const dealCategoryId = s.dealCategoryId ?? 0;
  if (mode === 'simple' && !categories.some((c) => c.id === dealCategoryId)) {
    facts.problems.push(`crm[].settings.dealCategoryId: pipeline ${dealCategoryId} does not exist; valid: ${categories.map((c) => `${c.id} (${c.name})`).join(', ')}. Fix: use one of these ids`);
  }

  // Users: extension numbers for calls
  const usersByInner: Record<string, string> = {};
  let currentUserId: string | undefined;
  const me = UserRowSchema.safeParse(first.results.me);
  if (me.success) currentUserId = String(me.data.ID);
  if (first.errors.users) {
    facts.warnings.push(`cannot read users (${describe(first.errors.users)}): calls are assigned to responsibleUserId; tick the "user" scope to map extension numbers`);
  } else {
    for (const u of z.array(UserRowSchema).catch([]).parse(first.results.users)) {
      const inner = u.UF_PHONE_INNER === null || u.UF_PHONE_INNER === undefined ? '' : String(u.UF_PHONE_INNER).trim();
      if (inner) usersByInner[inner] = String(u.ID);
    }
    const total = first.totals.users ?? 0;
    if (total > 50) {
      const pages = await client.batch(Object.fromEntries(Array.from({ length: Math.min(49, Math.ceil(total / 50) - 1) }, (_, i) => [`p${i}`, { method: 'user.get', params: { FILTER: { ACTIVE: 'true' }, start: (i + 1) * 50 } }])));
      for (const rows of Object.values(pages.results)) {
        for (const u of z.array(UserRowSchema).catch([]).parse(rows)) {
          const inner = u.UF_PHONE_INNER === null || u.UF_PHONE_INNER === undefined ? '' : String(u.UF_PHONE_INNER).trim();
          if (inner) usersByInner[inner] = String(u.ID);
        }
      }
    }
  }
  if (s.auth === 'webhook') {
    facts.warnings.push('telephony.externalcall.register/finish are documented as app-only (WRONG_AUTH_TYPE for webhooks); if calls fail with it, switch to auth: oauth');
  }

  const meta: BitrixMeta = {
    mode,
    ...(portalMode ? { portalMode } : {}),
    origin: client.endpoint().origin,
    sourceIds,
    sourceId,
    callSourceId,
    dealCategoryId,
    categories,
    ...(currentUserId ? { currentUserId } : {}),
    usersByInner,
    required,
  };
  facts.meta.bitrix24 = meta;
}

function safeOrigin(url: string): string | undefined {
  try {
    return new URL(url).origin;
  } catch {
    return undefined;
  }
}

function describe(e: BitrixApiError): string {
  return `${e.error || 'error'}${e.description ? `: ${e.description}` : ''}`;
}

/**
 * Mapping targets against the live catalogue. In simple mode the mapping's `lead` fields go to the deal, so
 * they are checked against the deal's fields (custom field codes differ between leads and deals).
 */
export function checkMapping(facts: AccountFacts, targets: { entity: 'lead' | 'contact'; target: string; value?: string }[]): string[] {
  const parsed = BitrixMetaSchema.safeParse(facts.meta.bitrix24);
  if (!parsed.success) return []; // inspect already reported why the portal could not be read
  const meta = parsed.data;
  const problems: string[] = [];
  const mapped = new Set(targets.map((t) => `${t.entity}:${t.target}`));
  for (const t of targets) {
    const entity: Entity = t.entity === 'lead' && meta.mode === 'simple' ? 'deal' : t.entity;
    const where = `${t.entity}.fields.${t.target}`;
    if (RESERVED.has(t.target)) {
      problems.push(`${where}: set by the connector itself (phones, e-mails, bindings, idempotency marks); remove it from the mapping`);
      continue;
    }
    if (t.target === 'SOURCE_ID' && t.value !== undefined) {
      // The directory is the portal's live one; an unknown id would be stored silently or refused per lead.
      if (!meta.sourceIds.includes(t.value)) problems.push(`${where}: "${t.value}" is not a source (SOURCE_ID) on the portal; valid: ${meta.sourceIds.join(', ') || '(none)'}. Fix: use one of them, or add it in Bitrix24 (CRM → Settings → CRM directories → Sources)`);
      continue;
    }
    const known = facts.fields.filter((f) => f.entity === entity);
    const field = known.find((f) => f.key === t.target);
    if (field) {
      const items = field.enums;
      if (t.value !== undefined && items?.length && !items.some((e) => e.id === t.value || e.value.toLowerCase() === t.value!.toLowerCase())) {
        problems.push(`${where}: "${t.value}" is not an item of this list field; valid: ${items.map((e) => `${e.id} (${e.value})`).join(', ')}`);
      }
      continue;
    }
    problems.push(`${where}: unknown Bitrix24 ${entity} field${entity !== t.entity ? ' (simple CRM mode writes lead fields into the deal)' : ''}; known: ${closest(t.target, known.map((f) => f.key)).join(', ')}`);
  }
  for (const [entity, list] of [['lead', meta.required[meta.mode === 'simple' ? 'deal' : 'lead'] ?? []], ['contact', meta.required.contact ?? []]] as const) {
    for (const r of list) {
      if (!mapped.has(`${entity}:${r.code}`)) problems.push(`${entity}.fields.${r.code}: the portal requires "${r.label}" on every new ${entity === 'lead' && meta.mode === 'simple' ? 'deal' : entity}; map it or make it optional in Bitrix24 (CRM → Settings → Fields)`);
    }
  }
  return problems;
}

/** Up to 8 known keys, the most similar first (shared prefix, then edit distance). */
function closest(target: string, keys: string[]): string[] {
  const score = (k: string): number => {
    let p = 0;
    while (p < k.length && p < target.length && k[p] === target[p]) p++;
    return levenshtein(k, target) - p;
  };
  return [...keys].sort((a, b) => score(a) - score(b) || a.localeCompare(b)).slice(0, 8);
}

function levenshtein(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length]!;
}
