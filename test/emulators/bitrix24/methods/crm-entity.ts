/**
 * Generic legacy CRM entity methods (`crm.{lead,deal,contact,company}.{add,get,list,update,delete,fields}`).
 * Docs: `api-reference/crm/leads/crm-lead-*.md` and siblings.
 * - parameter names are case-insensitive (`fields`/`FIELDS`, `id`/`ID`);
 * - unknown fields, unknown `UF_*` and read-only fields are silently ignored ("An incorrect field
 *   in `fields` will be ignored", `crm-lead-update.md`, `crm-contact-add.md`);
 * - IDs, money and flags come back as strings; multifields as `{ID, VALUE_TYPE, VALUE, TYPE_ID}`;
 *   `crm.*.get` shows only the multifields that hold values;
 * - `select: ["*"]` excludes multifields and `UF_*`; lists page by 50 (`start`, `-1` = no count).
 */
import { MULTIFIELD_CODES, standardFields, userFieldMeta, type FieldMeta, type MultiFieldCode } from '../catalog.ts';
import { asPhpArray, isRecord, listValues, param, toId, toInt, toStr } from '../params.ts';
import { formatPortalDate, formatPortalDay, parsePortalDateTime } from '../time.ts';
import { RestError, type CrmEntityKind, type CrmItem, type MethodOutput, type MultiFieldValue, type Params } from '../types.ts';
import { badId, legacyError, notFound, type MethodContext, type MethodTable } from './method.ts';

export const PAGE_SIZE = 50;

const EMAIL_LABELS: Record<string, string> = {
  WORK: 'Work e-mail',
  HOME: 'Personal e-mail',
  MAILING: 'Newsletter e-mail',
  OTHER: 'Other e-mail',
};
const EMAIL_RE = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const ID_TYPES = new Set(['integer', 'user', 'crm_company', 'crm_contact', 'crm_lead', 'crm_category', 'crm_quote']);
/** Bindings kept internally but not printed by `crm.*.get` (select them explicitly). */
const HIDDEN_ON_GET = new Set(['CONTACT_IDS', 'COMPANY_IDS']);

export function fieldCatalog(ctx: Pick<MethodContext, 'state'>, kind: CrmEntityKind): Map<string, FieldMeta> {
  const catalog = standardFields(kind);
  for (const uf of ctx.state.userFields[kind]) catalog.set(uf.code, userFieldMeta(uf));
  return catalog;
}

function isMultiCode(code: string): code is MultiFieldCode {
  return (MULTIFIELD_CODES as readonly string[]).includes(code);
}

function coerceScalar(meta: FieldMeta, raw: unknown, ctx: MethodContext): unknown {
  if (raw === null || raw === undefined) return null;
  if (ID_TYPES.has(meta.type)) {
    const n = toInt(raw);
    return n === undefined || n === 0 ? null : String(n);
  }
  switch (meta.type) {
    case 'double': {
      const n = Number(raw);
      return Number.isFinite(n) ? n.toFixed(2) : '0.00';
    }
    case 'char':
      return raw === true || raw === 1 || String(raw).toUpperCase() === 'Y' || raw === '1' ? 'Y' : 'N';
    case 'date': {
      const ms = parsePortalDateTime(raw, ctx.opts.utcOffsetMinutes);
      return ms === undefined ? '' : formatPortalDay(ms, ctx.opts.utcOffsetMinutes);
    }
    case 'datetime': {
      const ms = parsePortalDateTime(raw, ctx.opts.utcOffsetMinutes);
      return ms === undefined ? '' : formatPortalDate(ms, ctx.opts.utcOffsetMinutes);
    }
    default:
      return toStr(raw);
  }
}

function coerce(meta: FieldMeta, raw: unknown, ctx: MethodContext): unknown {
  if (meta.isMultiple) {
    const values = listValues(raw).map((v) => coerceScalar({ ...meta, isMultiple: false }, v, ctx));
    return ID_TYPES.has(meta.type) ? values.filter((v) => v !== null).map((v) => Number(v)) : values;
  }
  return coerceScalar(meta, raw, ctx);
}

/** Apply multifield input to `current` (add: append; update: ID to change, ID+DELETE/empty VALUE to drop). */
function applyMulti(ctx: MethodContext, code: MultiFieldCode, input: unknown, current: MultiFieldValue[]): MultiFieldValue[] {
  const result = current.map((v) => ({ ...v }));
  for (const rawItem of listValues(input)) {
    if (!isRecord(rawItem)) continue;
    const id = toId(rawItem.ID);
    const value = toStr(rawItem.VALUE).trim();
    const valueType = toStr(rawItem.VALUE_TYPE).trim().toUpperCase() || 'WORK';
    if (id !== undefined) {
      const idx = result.findIndex((v) => v.ID === String(id));
      if (idx < 0) continue;
      if (toStr(rawItem.DELETE).toUpperCase() === 'Y' || value === '') result.splice(idx, 1);
      else result[idx] = { ...result[idx]!, VALUE: value, VALUE_TYPE: valueType };
      continue;
    }
    if (value === '') continue;
    if (code === 'EMAIL' && !EMAIL_RE.test(value)) {
      throw new RestError(400, 'ERROR_CORE', `The field "${EMAIL_LABELS[valueType] ?? 'E-mail'}" contains an invalid address`);
    }
    result.push({ ID: String(ctx.state.nextId('multifield', 11_000)), VALUE_TYPE: valueType, VALUE: value, TYPE_ID: code });
  }
  return result;
}

export interface WriteResult {
  changed: string[];
}

/**
 * Write client `fields` into `item`: known writable fields only, multifields with their add/update
 * semantics, `SOURCE_ID` checked per `unknownSourceId`. Mutates `item`.
 */
export function writeFields(ctx: MethodContext, kind: CrmEntityKind, item: CrmItem, fields: Record<string, unknown>, isAdd: boolean): WriteResult {
  const catalog = fieldCatalog(ctx, kind);
  const changed: string[] = [];
  for (const [rawKey, raw] of Object.entries(fields)) {
    const code = rawKey.toUpperCase();
    const meta = catalog.get(code);
    if (!meta || meta.isReadOnly || (!isAdd && meta.isImmutable)) continue;
    if (isMultiCode(code)) {
      const current = Array.isArray(item[code]) ? (item[code] as MultiFieldValue[]) : [];
      item[code] = applyMulti(ctx, code, raw, isAdd ? [] : current);
      changed.push(code);
      continue;
    }
    if (code === 'SOURCE_ID' && ctx.opts.unknownSourceId === 'reject' && raw !== '' && raw !== null && !ctx.state.hasStatus('SOURCE', toStr(raw))) {
      throw new RestError(400, 'ERROR_CORE', `Invalid value "${toStr(raw)}" for the field "Source"`);
    }
    item[code] = coerce(meta, raw, ctx);
    changed.push(code);
  }
  for (const uf of ctx.state.userFields[kind]) {
    if (!uf.isRequired) continue;
    const v = item[uf.code];
    const empty = v === undefined || v === null || v === '' || (Array.isArray(v) && v.length === 0);
    if (empty && (isAdd || changed.includes(uf.code))) {
      throw new RestError(400, 'ERROR_CORE', `The "${uf.label}" field is required.`);
    }
  }
  refreshFlags(item);
  return { changed };
}

/** `HAS_PHONE`/`HAS_EMAIL`/`HAS_IMOL` follow the multifields. */
function refreshFlags(item: CrmItem): void {
  if (!('HAS_PHONE' in item)) return;
  const has = (code: string, pred: (v: MultiFieldValue) => boolean = () => true): 'Y' | 'N' =>
    Array.isArray(item[code]) && (item[code] as MultiFieldValue[]).some(pred) ? 'Y' : 'N';
  item.HAS_PHONE = has('PHONE');
  item.HAS_EMAIL = has('EMAIL');
  item.HAS_IMOL = has('IM', (v) => v.VALUE_TYPE === 'IMOL' || v.VALUE_TYPE === 'OPENLINE');
}

/** A blank record: every catalogue field null, then defaults. */
export function blankItem(ctx: MethodContext, kind: CrmEntityKind, id: number): CrmItem {
  const item: CrmItem = {};
  for (const [code, meta] of fieldCatalog(ctx, kind)) {
    if (meta.type === 'crm_multifield') continue;
    item[code] = meta.isMultiple ? [] : null;
  }
  const now = formatPortalDate(ctx.nowMs, ctx.opts.utcOffsetMinutes);
  const user = String(ctx.auth.userId);
  Object.assign(item, {
    ID: String(id),
    ASSIGNED_BY_ID: user,
    CREATED_BY_ID: user,
    MODIFY_BY_ID: user,
    DATE_CREATE: now,
    DATE_MODIFY: now,
    LAST_ACTIVITY_TIME: now,
    LAST_ACTIVITY_BY: user,
    OPENED: 'Y',
  });
  if ('HAS_PHONE' in item) Object.assign(item, { HAS_PHONE: 'N', HAS_EMAIL: 'N', HAS_IMOL: 'N' });
  return item;
}

export function requireFields(params: Params): Record<string, unknown> {
  const fields = asPhpArray(param(params, 'fields'));
  if (!fields) throw legacyError("Parameter 'fields' must be array.");
  const extra = param(params, 'params');
  if (extra !== undefined && extra !== '' && !asPhpArray(extra)) throw legacyError("Parameter 'params' must be array.");
  return fields;
}

export function requireItem(ctx: MethodContext, kind: CrmEntityKind): { id: number; item: CrmItem } {
  const id = toId(param(ctx.params, 'id'));
  if (id === undefined) throw badId();
  const item = ctx.state.entities(kind).get(id);
  if (!item) throw notFound();
  return { id, item };
}

/** `crm.*.get` view: every scalar field, custom fields, and only the multifields holding values. */
export function presentForGet(item: CrmItem): CrmItem {
  const out: CrmItem = {};
  for (const [k, v] of Object.entries(item)) {
    if (HIDDEN_ON_GET.has(k)) continue;
    if (isMultiCode(k)) {
      if (Array.isArray(v) && v.length > 0) out[k] = structuredClone(v);
      continue;
    }
    out[k] = structuredClone(v);
  }
  return out;
}

function presentForList(item: CrmItem, select: string[], catalog: Map<string, FieldMeta>): CrmItem {
  const wanted = new Set<string>(['ID']);
  const all = select.length === 0 || select.includes('*');
  for (const [code, meta] of catalog) {
    const isUf = code.startsWith('UF_');
    if (all && !isUf && meta.type !== 'crm_multifield' && !meta.isMultiple) wanted.add(code);
    if (select.includes('UF_*') && isUf) wanted.add(code);
  }
  for (const s of select) if (catalog.has(s)) wanted.add(s);
  const out: CrmItem = {};
  for (const code of wanted) {
    const v = item[code];
    if (isMultiCode(code)) {
      if (Array.isArray(v) && v.length > 0) out[code] = structuredClone(v);
      continue;
    }
    out[code] = v === undefined ? null : structuredClone(v);
  }
  return out;
}

// ---- filters -------------------------------------------------------------------------

const FILTER_KEY = /^(>=|<=|!=|!@|!%=|!=%|!%|=%|%=|>|<|@|%|=|!)?(.+)$/;

function fieldValues(item: object, field: string): unknown[] {
  const v = (item as Record<string, unknown>)[field];
  if (isMultiCode(field)) return Array.isArray(v) ? (v as MultiFieldValue[]).map((m) => m.VALUE) : [];
  return Array.isArray(v) ? v : [v];
}

const norm = (v: unknown): string => toStr(v).toLowerCase();

function compare(a: unknown, b: unknown): number {
  const na = Number(a);
  const nb = Number(b);
  if (toStr(a) !== '' && toStr(b) !== '' && Number.isFinite(na) && Number.isFinite(nb)) return na - nb;
  const da = Date.parse(toStr(a));
  const db = Date.parse(toStr(b));
  if (!Number.isNaN(da) && !Number.isNaN(db)) return da - db;
  return norm(a) < norm(b) ? -1 : norm(a) > norm(b) ? 1 : 0;
}

function like(value: unknown, pattern: string): boolean {
  const re = new RegExp(`^${pattern.split('%').map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`, 'i');
  return re.test(toStr(value));
}

function eq(value: unknown, expected: unknown): boolean {
  if ((value === null || value === undefined || value === '') && (expected === '' || expected === null || expected === false)) return true;
  return norm(value) === norm(expected);
}

export function matchesFilter(item: object, filter: Record<string, unknown>): boolean {
  return Object.entries(filter).every(([rawKey, expected]) => {
    const m = FILTER_KEY.exec(rawKey);
    if (!m) return true;
    const op = m[1] ?? '=';
    const field = (m[2] ?? '').toUpperCase();
    const values = fieldValues(item, field);
    const expectedList = listValues(expected);
    switch (op) {
      case '=':
        return Array.isArray(expected) || isRecord(expected)
          ? values.some((v) => expectedList.some((e) => eq(v, e)))
          : values.some((v) => eq(v, expected));
      case '!':
      case '!=':
        return !values.some((v) => expectedList.some((e) => eq(v, e)));
      case '@':
        return values.some((v) => expectedList.some((e) => eq(v, e)));
      case '!@':
        return !values.some((v) => expectedList.some((e) => eq(v, e)));
      case '%':
        return values.some((v) => norm(v).includes(norm(expected)));
      case '!%':
        return !values.some((v) => norm(v).includes(norm(expected)));
      case '=%':
      case '%=':
        return values.some((v) => like(v, toStr(expected)));
      case '!=%':
      case '!%=':
        return !values.some((v) => like(v, toStr(expected)));
      case '>':
        return values.some((v) => v !== null && compare(v, expected) > 0);
      case '>=':
        return values.some((v) => v !== null && compare(v, expected) >= 0);
      case '<':
        return values.some((v) => v !== null && compare(v, expected) < 0);
      case '<=':
        return values.some((v) => v !== null && compare(v, expected) <= 0);
      default:
        return true;
    }
  });
}

/** Shared paging of list methods: 50 a page, `start=-1` skips the count and `next`. */
export function paginate<T>(rows: T[], startParam: unknown): { page: T[]; total?: number; next?: number } {
  const start = toInt(startParam) ?? 0;
  if (start < 0) return { page: rows.slice(0, PAGE_SIZE) };
  const page = rows.slice(start, start + PAGE_SIZE);
  const out: { page: T[]; total?: number; next?: number } = { page, total: rows.length };
  if (start + PAGE_SIZE < rows.length) out.next = start + PAGE_SIZE;
  return out;
}

export function sortRows<T extends object>(rows: T[], order: unknown, fallback: string): T[] {
  const spec = asPhpArray(order);
  const entries = spec && Object.keys(spec).length > 0 ? Object.entries(spec) : [[fallback, 'ASC'] as [string, unknown]];
  const get = (row: T, field: string): unknown => {
    const r = row as Record<string, unknown>;
    return r[field.toUpperCase()] ?? r[field];
  };
  return [...rows].sort((a, b) => {
    for (const [field, dir] of entries) {
      const c = compare(get(a, field), get(b, field));
      if (c !== 0) return toStr(dir).toUpperCase() === 'DESC' ? -c : c;
    }
    return 0;
  });
}

export function listItems(ctx: MethodContext, kind: CrmEntityKind): MethodOutput {
  const filter = asPhpArray(param(ctx.params, 'filter')) ?? {};
  const select = listValues(param(ctx.params, 'select')).map((s) => toStr(s).toUpperCase());
  const catalog = fieldCatalog(ctx, kind);
  const rows = sortRows([...ctx.state.entities(kind).values()].filter((item) => matchesFilter(item, filter)), param(ctx.params, 'order'), 'ID');
  const { page, total, next } = paginate(rows, param(ctx.params, 'start'));
  const out: MethodOutput = { result: page.map((item) => presentForList(item, select, catalog)) };
  if (total !== undefined) out.total = total;
  if (next !== undefined) out.next = next;
  return out;
}

export interface EntityHooks {
  /** Defaults for a new record after `blankItem` and before client fields. */
  defaults(ctx: MethodContext, item: CrmItem, id: number): void;
  /** Derived fields after client fields were written (semantics, titles, bindings). */
  finalize(ctx: MethodContext, item: CrmItem, isAdd: boolean, changed: string[]): void;
  /** After the record is stored (lead conversion in simple mode). */
  afterAdd?(ctx: MethodContext, id: number, item: CrmItem): void;
}

/** Create a record the way `crm.<kind>.add` does; returns the new id. */
export function createItem(ctx: MethodContext, kind: CrmEntityKind, fields: Record<string, unknown>, hooks: EntityHooks): number {
  const item = blankItem(ctx, kind, 0);
  const id = ctx.state.nextId(kind);
  item.ID = String(id);
  hooks.defaults(ctx, item, id);
  const { changed } = writeFields(ctx, kind, item, fields, true);
  hooks.finalize(ctx, item, true, changed);
  ctx.state.entities(kind).set(id, item);
  hooks.afterAdd?.(ctx, id, item);
  return id;
}

export function entityMethods(kind: CrmEntityKind, hooks: EntityHooks): MethodTable {
  const scope = 'crm';
  return {
    [`crm.${kind}.fields`]: {
      scope,
      handler: (ctx) => ({ result: Object.fromEntries(fieldCatalog(ctx, kind)) }),
    },
    [`crm.${kind}.add`]: {
      scope,
      handler: (ctx) => ({ result: createItem(ctx, kind, requireFields(ctx.params), hooks) }),
    },
    [`crm.${kind}.get`]: {
      scope,
      handler: (ctx) => ({ result: presentForGet(requireItem(ctx, kind).item) }),
    },
    [`crm.${kind}.list`]: { scope, handler: (ctx) => listItems(ctx, kind) },
    [`crm.${kind}.update`]: {
      scope,
      handler: (ctx) => {
        const { item } = requireItem(ctx, kind);
        const fields = requireFields(ctx.params);
        const draft = structuredClone(item);
        const { changed } = writeFields(ctx, kind, draft, fields, false);
        hooks.finalize(ctx, draft, false, changed);
        draft.DATE_MODIFY = formatPortalDate(ctx.nowMs, ctx.opts.utcOffsetMinutes);
        draft.MODIFY_BY_ID = String(ctx.auth.userId);
        Object.assign(item, draft);
        return { result: true };
      },
    },
    [`crm.${kind}.delete`]: {
      scope,
      handler: (ctx) => {
        const { id } = requireItem(ctx, kind);
        ctx.state.entities(kind).delete(id);
        return { result: true };
      },
    },
  };
}
