/**
 * Thin typed wrappers over the hub's HTTP client for the amoCRM v4 endpoints Leadgate uses
 * (reference: /work/shared/reference/amocrm.md). Every answer is parsed with a schema; `204 No Content`
 * (empty list, search miss) becomes an empty result. Batch endpoints take a JSON array even for one item.
 */
import { z } from 'zod';
import { coalesced, CrmError, HttpError, type BatchItemOutcome, type BatchLane, type CrmIO, type HttpRequest } from '#sdk';
import { validationError, validationPerItem } from './classify.ts';
import { DEFAULTS, type AmoSettings } from './settings.ts';

const Id = z.number().int();
const CfValue = z.object({ value: z.unknown(), enum_id: z.number().int().nullish(), enum_code: z.string().nullish() });
const CfEntry = z.object({ field_id: Id, field_code: z.string().nullish(), values: z.array(CfValue) });
export type AmoCfEntry = z.infer<typeof CfEntry>;
const Cfv = z.array(CfEntry).nullish().transform((v) => v ?? []);
const IdRef = z.object({ id: Id });

export const ContactSchema = z.object({
  id: Id,
  name: z.string().nullish(),
  responsible_user_id: Id.nullish(),
  updated_at: z.number().nullish(),
  custom_fields_values: Cfv,
  _embedded: z
    .object({ leads: z.array(IdRef).nullish(), companies: z.array(IdRef).nullish() })
    .nullish(),
});
export type AmoContact = z.infer<typeof ContactSchema>;

export const LeadSchema = z.object({
  id: Id,
  name: z.string().nullish(),
  status_id: Id,
  pipeline_id: Id,
  responsible_user_id: Id.nullish(),
  created_at: z.number(),
  is_deleted: z.boolean().nullish(),
  _embedded: z.object({ contacts: z.array(IdRef).nullish() }).nullish(),
});
export type AmoLead = z.infer<typeof LeadSchema>;

const NoteSchema = z.object({ id: Id, entity_id: Id, note_type: z.string(), params: z.record(z.string(), z.unknown()).nullish(), created_at: z.number().nullish() });
export type AmoNote = z.infer<typeof NoteSchema>;

const TaskSchema = z.object({
  id: Id,
  text: z.string(),
  complete_till: z.number(),
  entity_id: Id.nullish(),
  entity_type: z.string().nullish(),
  task_type_id: Id.nullish(),
  responsible_user_id: Id.nullish(),
});
export type AmoTask = z.infer<typeof TaskSchema>;

const UnsortedItemSchema = z.object({
  uid: z.string(),
  source_uid: z.string().nullish(),
  category: z.string().nullish(),
  pipeline_id: Id.nullish(),
  created_at: z.number().nullish(),
  metadata: z.record(z.string(), z.unknown()).nullish(),
  request_id: z.union([z.string(), z.number()]).nullish(),
  _embedded: z.object({ leads: z.array(IdRef).nullish(), contacts: z.array(IdRef).nullish() }).nullish(),
});
export type AmoUnsortedItem = z.infer<typeof UnsortedItemSchema>;

const StatusSchema = z.object({ id: Id, name: z.string(), sort: z.number(), type: z.number().int().nullish() });
export const PipelineSchema = z.object({
  id: Id,
  name: z.string(),
  sort: z.number().nullish(),
  is_main: z.boolean().nullish(),
  is_unsorted_on: z.boolean().nullish(),
  is_archive: z.boolean().nullish(),
  _embedded: z.object({ statuses: z.array(StatusSchema).nullish() }).nullish(),
});
export type AmoPipeline = z.infer<typeof PipelineSchema>;

export const CustomFieldSchema = z.object({
  id: Id,
  name: z.string(),
  code: z.string().nullish(),
  type: z.string(),
  enums: z.array(z.object({ id: Id, value: z.string(), code: z.string().nullish() })).nullish(),
});
export type AmoCustomField = z.infer<typeof CustomFieldSchema>;

export const UserSchema = z.object({
  id: Id,
  name: z.string(),
  rights: z.object({ is_active: z.boolean().nullish(), is_admin: z.boolean().nullish() }).nullish(),
});
export type AmoUser = z.infer<typeof UserSchema>;

export const AccountSchema = z.object({
  id: Id,
  name: z.string().nullish(),
  subdomain: z.string().nullish(),
  current_user_id: Id.nullish(),
  _embedded: z.object({ task_types: z.array(z.object({ id: Id, name: z.string().nullish() })).nullish() }).nullish(),
});
export type AmoAccount = z.infer<typeof AccountSchema>;

export const TokenPairSchema = z.object({
  token_type: z.string().optional(),
  expires_in: z.number(),
  access_token: z.string().min(1),
  refresh_token: z.string().min(1),
});
export type TokenPair = z.infer<typeof TokenPairSchema>;

const HalList = z.object({ _embedded: z.record(z.string(), z.unknown()), _links: z.object({ next: z.object({ href: z.string() }).nullish() }).nullish() });

/** `_embedded[key]` of a HAL list answer, each item parsed; `hasNext` from `_links.next`. */
function embedded<T extends z.ZodType>(data: unknown, key: string, item: T, what: string): { items: z.infer<T>[]; hasNext: boolean } {
  const body = parse(HalList, data, what);
  return { items: parse(z.array(item), body._embedded[key], `${what} _embedded.${key}`), hasNext: Boolean(body._links?.next) };
}

/** The answer had a shape we do not understand: safe to retry (every write is journaled and recoverable). */
export class AmoResponseError extends Error {
  constructor(what: string, detail: string) {
    super(`amoCRM answered ${what} with an unexpected body: ${detail}`);
    this.name = 'AmoResponseError';
  }
}

function parse<T extends z.ZodType>(schema: T, data: unknown, what: string): z.infer<T> {
  const r = schema.safeParse(data);
  if (!r.success) {
    const i = r.error.issues[0];
    throw new AmoResponseError(what, `${i?.path.join('.') || '(root)'}: ${i?.message ?? 'invalid'}`);
  }
  return r.data;
}

/** Several ids as PHP-style array params: `filter[id][0]=1&filter[id][1]=2`. */
function arrayParam(name: string, values: readonly (string | number)[]): Record<string, string | number> {
  const out: Record<string, string | number> = {};
  values.forEach((v, i) => (out[`${name}[${i}]`] = v));
  return out;
}

export type NoteEntity = 'leads' | 'contacts' | 'companies';

export interface AmoClient {
  account(): Promise<AmoAccount>;
  users(): Promise<AmoUser[]>;
  user(id: number): Promise<AmoUser | null>;
  pipelines(): Promise<AmoPipeline[]>;
  customFields(entity: 'leads' | 'contacts'): Promise<AmoCustomField[]>;
  searchContacts(query: string): Promise<AmoContact[]>;
  contact(id: number): Promise<AmoContact | null>;
  lead(id: number): Promise<AmoLead | null>;
  leadsByIds(ids: readonly number[]): Promise<AmoLead[]>;
  patchContact(id: number, body: Record<string, unknown>): Promise<void>;
  addUnsorted(category: 'forms' | 'sip', item: Record<string, unknown>): Promise<{ uid: string; leadId: number | undefined; contactId: number | undefined }>;
  listUnsorted(category: 'forms' | 'sip', page: number, pipelineId?: number): Promise<AmoUnsortedItem[]>;
  addComplex(item: Record<string, unknown>): Promise<{ leadId: number; contactId: number | undefined; merged: boolean }>;
  addNote(entity: NoteEntity, entityId: number, note: Record<string, unknown>): Promise<number>;
  notes(entity: NoteEntity, entityId: number, noteTypes: readonly string[], page: number): Promise<AmoNote[]>;
  addTask(task: Record<string, unknown>): Promise<number>;
  tasks(entityType: NoteEntity, entityId: number, taskTypeId?: number): Promise<AmoTask[]>;
  token(body: Record<string, unknown>): Promise<TokenPair>;
}

export function amoClient(io: CrmIO, s: AmoSettings): AmoClient {
  const timeoutMs = s.timeoutMs ?? DEFAULTS.timeoutMs;
  const call = async (req: HttpRequest): Promise<unknown> => (await io.http.request({ timeoutMs, ...req })).data;
  /** A GET of one entity: amoCRM answers a missing id with 204 or 404 (unconfirmed which): both mean "none". */
  const getOne = async (url: string, params?: HttpRequest['params']): Promise<unknown> => {
    try {
      return await call({ method: 'GET', url, ...(params ? { params } : {}) });
    } catch (err) {
      if (err instanceof HttpError && err.status === 404 && typeof err.data === 'object') return null;
      throw err;
    }
  };
  /** Every page of a list: stop on 204, a short page or when `_links.next` is absent. */
  const allPages = async <T extends z.ZodType>(url: string, key: string, item: T, limit: number, params: Record<string, string | number> = {}): Promise<z.infer<T>[]> => {
    const out: z.infer<T>[] = [];
    for (let page = 1; page <= 40; page++) {
      const data = await call({ method: 'GET', url, params: { ...params, page, limit } });
      if (data === null || data === '') break;
      const { items, hasNext } = embedded(data, key, item, `GET ${url}`);
      out.push(...items);
      if (!hasNext || items.length < limit) break;
    }
    return out;
  };

  /**
   * One array endpoint as a batch lane: concurrent deliveries' items go out in one request (`io.coalesce`), each
   * with `request_id` = its index, and each answer row is matched back by it. A 400 naming some items fails those
   * deliveries only; amoCRM refused the whole array (sheet §3), so the others retry, their journal's `recover`
   * first checking that nothing was written after all.
   */
  const arrayLane = <R>(url: string, maxWeight: number, answer: (data: unknown) => { ids: string[]; value: R }[], method: 'POST' | 'PATCH' = 'POST'): BatchLane<Record<string, unknown>, R> => ({
    maxWeight,
    async send(items) {
      const body = items.map((it, i) => ({ ...it, request_id: String(i) }));
      let data: unknown;
      try {
        data = await call({ method, url, data: body });
      } catch (err) {
        const perItem = body.length > 1 ? validationPerItem(err, body) : undefined;
        if (!perItem) throw validationError(err, body) ?? err;
        return perItem.map((f): BatchItemOutcome<R> =>
          f ? { ok: false, error: new CrmError(f) } : { ok: false, error: new CrmError({ kind: 'retry', afterMs: 1_000, cause: `${method} ${url}: amoCRM refused the whole batch because of another item in it; sending this one again` }) },
        );
      }
      const rows = answer(data);
      // request_id echoed (every endpoint we use does); positional only when the vendor echoed none at all.
      const positional = rows.every((r) => r.ids.length === 0) && rows.length === items.length;
      return items.map((_, i): BatchItemOutcome<R> => {
        const row = positional ? rows[i] : rows.find((r) => r.ids.includes(String(i)));
        return row ? { ok: true, value: row.value } : { ok: false, error: new AmoResponseError(`${method} ${url}`, `no answer for request_id ${i}`) };
      });
    },
  });
  const rid = (v: string | number | null | undefined): string[] => (v === null || v === undefined ? [] : [String(v)]);
  const IdRow = z.object({ id: Id, request_id: z.union([z.string(), z.number()]).nullish() });
  /** `/leads/complex` ≤ 50 (sheet §5.2); other array writes ≤ 250, recommended ≤ 50 (sheet §2). */
  const MAX_ITEMS = 50;
  const unsortedLane = (category: 'forms' | 'sip') =>
    arrayLane(`/api/v4/leads/unsorted/${category}`, MAX_ITEMS, (data) =>
      embedded(data, 'unsorted', UnsortedItemSchema, `POST /api/v4/leads/unsorted/${category}`).items.map((u) => ({
        ids: rid(u.request_id),
        value: { uid: u.uid, leadId: u._embedded?.leads?.[0]?.id, contactId: u._embedded?.contacts?.[0]?.id },
      })),
    );
  // Unlike the HAL endpoints, /leads/complex answers a bare array; a row merged by duplicate control lists every request it took.
  const complexLane = arrayLane('/api/v4/leads/complex', MAX_ITEMS, (data) =>
    parse(z.array(z.object({ id: Id, contact_id: Id.nullish(), merged: z.boolean().nullish(), request_id: z.array(z.union([z.string(), z.number()])).nullish() })), data, 'POST /api/v4/leads/complex').map((row) => ({
      ids: (row.request_id ?? []).map(String),
      value: { leadId: row.id, contactId: row.contact_id ?? undefined, merged: row.merged === true },
    })),
  );
  const notesLane = (entity: NoteEntity) =>
    arrayLane(`/api/v4/${entity}/notes`, MAX_ITEMS, (data) => embedded(data, 'notes', IdRow, `POST /api/v4/${entity}/notes`).items.map((n) => ({ ids: rid(n.request_id), value: n.id })));
  // New phones/e-mails of found contacts (saveContact): `PATCH /api/v4/contacts` takes an array with `id` (sheet §4).
  // A contact is never twice in one request: deliveries of one client hold its contact lock (deliver.processor).
  const contactsPatchLane = arrayLane('/api/v4/contacts', MAX_ITEMS, (data) => embedded(data, 'contacts', IdRow, 'PATCH /api/v4/contacts').items.map((c) => ({ ids: rid(c.request_id), value: c.id })), 'PATCH');
  const tasksLane = arrayLane('/api/v4/tasks', MAX_ITEMS, (data) => embedded(data, 'tasks', IdRow, 'POST /api/v4/tasks').items.map((t) => ({ ids: rid(t.request_id), value: t.id })));
  const lane = (name: string) => `amocrm:${s.baseUrl}:${name}`;

  return {
    async account() {
      return parse(AccountSchema, await call({ method: 'GET', url: '/api/v4/account', params: { with: 'task_types' } }), 'GET /api/v4/account');
    },
    users: () => allPages('/api/v4/users', 'users', UserSchema, 250),
    async user(id) {
      const data = await getOne(`/api/v4/users/${id}`);
      return data ? parse(UserSchema, data, 'GET /api/v4/users/{id}') : null;
    },
    async pipelines() {
      const data = await call({ method: 'GET', url: '/api/v4/leads/pipelines' });
      if (!data) return [];
      return parse(z.object({ _embedded: z.object({ pipelines: z.array(PipelineSchema) }) }), data, 'GET /api/v4/leads/pipelines')._embedded.pipelines;
    },
    // RU docs: custom-field lists return at most 50 per page whatever `limit` says (sheet §2).
    customFields: (entity) => allPages(`/api/v4/${entity}/custom_fields`, 'custom_fields', CustomFieldSchema, 50),
    async searchContacts(query) {
      const data = await call({ method: 'GET', url: '/api/v4/contacts', params: { query, with: 'leads', limit: 50 } });
      if (!data) return [];
      return embedded(data, 'contacts', ContactSchema, 'GET /api/v4/contacts?query').items;
    },
    async contact(id) {
      const data = await getOne(`/api/v4/contacts/${id}`, { with: 'leads' });
      return data ? parse(ContactSchema, data, 'GET /api/v4/contacts/{id}') : null;
    },
    async lead(id) {
      const data = await getOne(`/api/v4/leads/${id}`, { with: 'contacts' });
      if (!data) return null;
      const lead = parse(LeadSchema, data, 'GET /api/v4/leads/{id}');
      return lead.is_deleted ? null : lead;
    },
    async leadsByIds(ids) {
      const out: AmoLead[] = [];
      for (let i = 0; i < ids.length; i += 50) {
        const chunk = ids.slice(i, i + 50);
        const data = await call({ method: 'GET', url: '/api/v4/leads', params: { ...arrayParam('filter[id]', chunk), limit: 250 } });
        if (data) out.push(...embedded(data, 'leads', LeadSchema, 'GET /api/v4/leads?filter[id]').items);
      }
      return out.filter((l) => !l.is_deleted);
    },
    async patchContact(id, body) {
      await coalesced(io, lane('contacts/patch'), contactsPatchLane, { ...body, id });
    },
    addUnsorted: (category, item) => coalesced(io, lane(`unsorted/${category}`), unsortedLane(category), item),
    async listUnsorted(category, page, pipelineId) {
      const params: Record<string, string | number> = { 'filter[category][0]': category, 'order[created_at]': 'desc', page, limit: 50 };
      if (pipelineId !== undefined) params['filter[pipeline_id]'] = pipelineId;
      const data = await call({ method: 'GET', url: '/api/v4/leads/unsorted', params });
      if (!data) return [];
      return embedded(data, 'unsorted', UnsortedItemSchema, 'GET /api/v4/leads/unsorted').items;
    },
    addComplex: (item) => coalesced(io, lane('complex'), complexLane, item),
    // `POST /api/v4/{entity}/notes` with `entity_id` per item (sheet §8): notes of different cards share a request.
    addNote: (entity, entityId, note) => coalesced(io, lane(`notes/${entity}`), notesLane(entity), { ...note, entity_id: entityId }),
    async notes(entity, entityId, noteTypes, page) {
      const data = await getOne(`/api/v4/${entity}/${entityId}/notes`, { ...arrayParam('filter[note_type]', noteTypes), page, limit: 250 });
      if (!data) return [];
      return embedded(data, 'notes', NoteSchema, `GET /api/v4/${entity}/{id}/notes`).items;
    },
    addTask: (task) => coalesced(io, lane('tasks'), tasksLane, task),
    async tasks(entityType, entityId, taskTypeId) {
      const params: Record<string, string | number> = { 'filter[entity_type]': entityType, 'filter[entity_id][0]': entityId, limit: 250 };
      if (taskTypeId !== undefined) params['filter[task_type][0]'] = taskTypeId;
      const data = await call({ method: 'GET', url: '/api/v4/tasks', params });
      if (!data) return [];
      return embedded(data, 'tasks', TaskSchema, 'GET /api/v4/tasks').items;
    },
    async token(body) {
      return parse(TokenPairSchema, await call({ method: 'POST', url: '/oauth2/access_token', data: body }), 'POST /oauth2/access_token');
    },
  };
}
