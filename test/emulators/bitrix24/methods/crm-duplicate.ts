/**
 * `crm.duplicate.findbycomm` (docs `crm/duplicates/crm-duplicate-find-by-comm.md`).
 * - `type` PHONE | EMAIL, `values` ≤ 20, `entity_type` LEAD | CONTACT | COMPANY (omitted: all three);
 * - result `{LEAD:[ids], CONTACT:[ids], COMPANY:[ids]}` with only the types that matched, `[]` if none;
 * - types are searched LEAD → CONTACT → COMPANY; once one type yields 20 matches the rest are not
 *   returned (and a type returns at most 20 ids);
 * - phones compared per `phoneMatch` (see `phone.ts`), e-mails trimmed and lower-cased.
 * What the portal answers to more than 20 values is not documented; the emulator refuses them so a
 * client that does not chunk is caught.
 */
import { listValues, param, toStr } from '../params.ts';
import { emailKey, phoneKey } from '../phone.ts';
import { RestError, type CrmEntityKind, type MultiFieldValue } from '../types.ts';
import type { MethodTable } from './method.ts';

const MAX_VALUES = 20;
const MAX_MATCHES = 20;
const ORDER: [string, CrmEntityKind][] = [
  ['LEAD', 'lead'],
  ['CONTACT', 'contact'],
  ['COMPANY', 'company'],
];

export const crmDuplicateMethods: MethodTable = {
  'crm.duplicate.findbycomm': {
    scope: 'crm',
    handler: (ctx) => {
      const type = toStr(param(ctx.params, 'type')).toUpperCase();
      if (!type) throw new RestError(400, 'Communication type is not defined', "Parameter 'type' is required.");
      if (type !== 'PHONE' && type !== 'EMAIL') {
        throw new RestError(400, `Communication type '${type}' is not supported in current context`, "Parameter 'type' is invalid.");
      }
      const values = listValues(param(ctx.params, 'values')).map(toStr).filter((v) => v.trim() !== '');
      if (values.length === 0) throw new RestError(400, 'Communication values is not defined', "Parameter 'values' is required.");
      if (values.length > MAX_VALUES) {
        throw new RestError(400, 'Too many communication values', `Parameter 'values' may hold at most ${MAX_VALUES} values, got ${values.length}.`);
      }
      const entityType = toStr(param(ctx.params, 'entity_type')).toUpperCase();
      const kinds = entityType ? ORDER.filter(([name]) => name === entityType) : ORDER;
      if (entityType && kinds.length === 0) {
        throw new RestError(400, `Entity type '${entityType}' is not supported in current context`, "Parameter 'entity_type' is invalid.");
      }
      const key = (v: string): string => (type === 'PHONE' ? phoneKey(v, ctx.opts.phoneMatch) : emailKey(v));
      const wanted = new Set(values.map(key).filter((k) => k !== '' && k !== '+'));
      const result: Record<string, number[]> = {};
      for (const [name, kind] of kinds) {
        const ids: number[] = [];
        for (const [id, item] of ctx.state.entities(kind)) {
          const comms = Array.isArray(item[type]) ? (item[type] as MultiFieldValue[]) : [];
          if (comms.some((c) => wanted.has(key(c.VALUE)))) ids.push(id);
          if (ids.length >= MAX_MATCHES) break;
        }
        if (ids.length > 0) result[name] = ids;
        if (ids.length >= MAX_MATCHES) break;
      }
      return { result: Object.keys(result).length === 0 ? [] : result };
    },
  },
};
