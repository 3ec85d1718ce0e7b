/**
 * `custom_fields_values` validation against the account's fields (sheet §4.2, §7, §11):
 * addressed by `field_id` or `field_code`; enums by `enum_id` or `enum_code`; select
 * values by enum id or text. Paths follow the vendor's dotted style, e.g.
 * `custom_fields_values.0.field_id`, `custom_fields_values.6.values.0.value` (issue #115).
 */
import { isInt, isRecord, type ItemErrors } from './http.ts';
import type { CfEntry, CfValue, EnumDef, FieldDef } from './types.ts';

/** One field's new values; `null` clears the field (SDK `NullCustomFieldValueCollection`). */
export interface CfPatch {
  field: FieldDef;
  values: CfValue[] | null;
}

function findEnum(field: FieldDef, v: Record<string, unknown>, path: string, errs: ItemErrors): EnumDef | null | undefined {
  const enums = field.enums ?? [];
  if (v.enum_id !== undefined && v.enum_id !== null) {
    if (!isInt(v.enum_id)) {
      errs.type(`${path}.enum_id`, 'int');
      return undefined;
    }
    const e = enums.find((x) => x.id === v.enum_id);
    if (!e) errs.choice(`${path}.enum_id`);
    return e;
  }
  if (v.enum_code !== undefined && v.enum_code !== null) {
    const code = typeof v.enum_code === 'string' ? v.enum_code.toUpperCase() : undefined;
    const e = code === undefined ? undefined : enums.find((x) => x.code !== null && x.code === code);
    if (!e) errs.choice(`${path}.enum_code`);
    return e;
  }
  return null;
}

function scalar(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return undefined;
}

function parseValue(field: FieldDef, raw: unknown, path: string, errs: ItemErrors): CfValue | undefined {
  if (!isRecord(raw)) {
    errs.type(path, 'object');
    return undefined;
  }
  switch (field.type) {
    case 'multitext': {
      const value = scalar(raw.value);
      if (raw.value === undefined || raw.value === null) errs.missing(`${path}.value`);
      else if (value === undefined) errs.type(`${path}.value`, 'string');
      const e = findEnum(field, raw, path, errs);
      // No enum given → the field's first enum (WORK), as the UI does.
      const chosen = e === null ? field.enums?.[0] : e;
      if (value === undefined || chosen === undefined) return undefined;
      return { value, enum_id: chosen.id, enum_code: chosen.code };
    }
    case 'select':
    case 'radiobutton':
    case 'multiselect': {
      const e = findEnum(field, raw, path, errs);
      if (e === undefined) return undefined;
      if (e) return { value: e.value, enum_id: e.id };
      const byText = (field.enums ?? []).find((x) => x.value === raw.value);
      if (!byText) {
        errs.choice(`${path}.value`);
        return undefined;
      }
      return { value: byText.value, enum_id: byText.id };
    }
    case 'checkbox':
      if (typeof raw.value !== 'boolean') {
        errs.type(`${path}.value`, 'bool');
        return undefined;
      }
      return { value: raw.value };
    case 'numeric': {
      const s = scalar(raw.value);
      if (s === undefined || s.trim() === '' || !Number.isFinite(Number(s))) {
        errs.type(`${path}.value`, 'numeric');
        return undefined;
      }
      return { value: s };
    }
    case 'date':
    case 'date_time':
    case 'birthday': {
      if (isInt(raw.value)) return { value: raw.value };
      const ms = typeof raw.value === 'string' ? Date.parse(raw.value) : NaN;
      if (Number.isNaN(ms)) {
        errs.type(`${path}.value`, 'int');
        return undefined;
      }
      return { value: Math.floor(ms / 1000) };
    }
    default: {
      const s = scalar(raw.value);
      if (raw.value === undefined || raw.value === null) errs.missing(`${path}.value`);
      else if (s === undefined) errs.type(`${path}.value`, 'string');
      return s === undefined ? undefined : { value: s };
    }
  }
}

/**
 * Validates `custom_fields_values` of one item against `fields` (the entity's fields).
 * Records errors under `prefix` and returns the patches (possibly partial when errors were found).
 */
export function parseCustomFields(raw: unknown, fields: FieldDef[], errs: ItemErrors, prefix = ''): CfPatch[] {
  const base = `${prefix}custom_fields_values`;
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) {
    errs.type(base, 'array');
    return [];
  }
  const patches: CfPatch[] = [];
  raw.forEach((entry, i) => {
    const path = `${base}.${i}`;
    if (!isRecord(entry)) {
      errs.type(path, 'object');
      return;
    }
    let field: FieldDef | undefined;
    if (entry.field_id !== undefined && entry.field_id !== null) {
      if (!isInt(entry.field_id)) {
        errs.type(`${path}.field_id`, 'int');
        return;
      }
      field = fields.find((f) => f.id === entry.field_id);
      if (!field) return errs.choice(`${path}.field_id`);
    } else if (entry.field_code !== undefined && entry.field_code !== null) {
      const code = typeof entry.field_code === 'string' ? entry.field_code.toUpperCase() : undefined;
      field = fields.find((f) => f.code !== null && f.code === code);
      if (!field) return errs.choice(`${path}.field_code`);
    } else {
      return errs.missing(`${path}.field_id`);
    }
    if (entry.values === null) {
      patches.push({ field, values: null });
      return;
    }
    if (entry.values === undefined) return errs.missing(`${path}.values`);
    if (!Array.isArray(entry.values)) return errs.type(`${path}.values`, 'array');
    const single = field.type !== 'multitext' && field.type !== 'multiselect';
    if (single && entry.values.length > 1) errs.tooMany(`${path}.values`, 1);
    const values: CfValue[] = [];
    entry.values.forEach((v, j) => {
      const parsed = parseValue(field, v, `${path}.values.${j}`, errs);
      if (parsed) values.push(parsed);
    });
    patches.push({ field, values });
  });
  return patches;
}

/** Applies patches: a field's values are replaced as a whole; `null` or `[]` removes it. */
export function applyCustomFields(current: CfEntry[], patches: CfPatch[]): CfEntry[] {
  const out = current.map((e) => ({ ...e, values: [...e.values] }));
  for (const p of patches) {
    const idx = out.findIndex((e) => e.field_id === p.field.id);
    if (idx >= 0) out.splice(idx, 1);
    if (p.values && p.values.length > 0) {
      out.push({
        field_id: p.field.id,
        field_name: p.field.name,
        field_code: p.field.code,
        field_type: p.field.type,
        values: p.values,
      });
    }
  }
  return out;
}

/** All values of the field with `code` (e.g. every PHONE of a contact). */
export function valuesByCode(entries: CfEntry[], code: string): string[] {
  return entries.filter((e) => e.field_code === code).flatMap((e) => e.values.map((v) => String(v.value)));
}
