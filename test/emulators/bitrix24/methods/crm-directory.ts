/**
 * CRM settings and directories.
 * Docs: `crm-settings-mode-get.md` (1 classic, 2 simple), `crm-enum-settings-mode.md`,
 * `status/crm-status-{list,entity-items,add}.md`, `universal/category/crm-category-list.md`
 * (current) and `outdated/category-old/crm-deal-category-list.md` (deprecated, still answered).
 */
import { asPhpArray, param, toId, toInt, toStr } from '../params.ts';
import { RestError } from '../types.ts';
import { matchesFilter, sortRows } from './crm-entity.ts';
import { legacyError, type MethodTable } from './method.ts';

const ENTITY_TYPE_NAMES: Record<number, string> = { 1: 'LEAD', 2: 'DEAL', 3: 'CONTACT', 4: 'COMPANY' };

export const crmDirectoryMethods: MethodTable = {
  'crm.settings.mode.get': {
    scope: 'crm',
    handler: (ctx) => ({ result: ctx.state.crmMode === 'simple' ? 2 : 1 }),
  },
  'crm.enum.settings.mode': {
    scope: 'crm',
    handler: () => ({
      result: [
        { ID: 1, NAME: 'Classic CRM' },
        { ID: 2, NAME: 'Simple CRM' },
      ],
    }),
  },
  'crm.status.list': {
    scope: 'crm',
    handler: (ctx) => {
      const filterRaw = param(ctx.params, 'filter');
      const filter = asPhpArray(filterRaw);
      if (filterRaw !== undefined && filterRaw !== '' && !filter) throw new RestError(400, 'Invalid parameters.', 'Incorrect parameters passed.');
      const rows = sortRows(
        ctx.state.statuses.filter((s) => matchesFilter(s, filter ?? {})),
        param(ctx.params, 'order'),
        'SORT',
      );
      return { result: structuredClone(rows), total: rows.length };
    },
  },
  'crm.status.entity.items': {
    scope: 'crm',
    handler: (ctx) => {
      const entityId = toStr(param(ctx.params, 'entityId'));
      if (!entityId) throw new RestError(400, '', 'Parameter entityId is not defined');
      return {
        result: ctx.state.statusesOf(entityId).map((s) => {
          const row: Record<string, unknown> = { NAME: s.NAME, SORT: Number(s.SORT), STATUS_ID: s.STATUS_ID };
          if (s.COLOR) row.COLOR = s.COLOR;
          if (s.SEMANTICS) row.SEMANTICS = s.SEMANTICS;
          return row;
        }),
      };
    },
  },
  'crm.status.add': {
    scope: 'crm',
    handler: (ctx) => {
      const fields = asPhpArray(param(ctx.params, 'fields'));
      if (!fields) throw legacyError("Parameter 'fields' must be array.");
      const entityId = toStr(fields.ENTITY_ID);
      const statusId = toStr(fields.STATUS_ID);
      const name = toStr(fields.NAME);
      if (!entityId || !statusId || !name) throw legacyError('Required fields are not specified.');
      if (ctx.state.hasStatus(entityId, statusId)) throw legacyError(`The status ID "${statusId}" is already in use.`);
      const item = ctx.state.addStatus({ ENTITY_ID: entityId, STATUS_ID: statusId, NAME: name, SORT: toInt(fields.SORT) ?? 10, SYSTEM: 'N' });
      return { result: Number(item.ID) };
    },
  },
  'crm.category.list': {
    scope: 'crm',
    handler: (ctx) => {
      const entityTypeId = toId(param(ctx.params, 'entityTypeId', false));
      if (entityTypeId === 1) throw new RestError(400, 'ENTITY_TYPE_NOT_SUPPORTED', 'Entity type `LEAD` is not supported');
      if (entityTypeId === undefined || !(entityTypeId in ENTITY_TYPE_NAMES)) throw new RestError(400, 'NOT_FOUND', 'Smart process not found');
      const categories =
        entityTypeId === 2
          ? ctx.state.dealCategories.map((c) => {
              const row: Record<string, unknown> = { id: c.id, name: c.name, sort: c.sort, entityTypeId, isDefault: c.isDefault };
              if (c.id !== 0) Object.assign(row, { originId: '', originatorId: '' });
              return row;
            })
          : [{ id: 0, name: 'General', sort: 500, entityTypeId, isDefault: 'Y' }];
      return { result: { categories }, total: categories.length };
    },
  },
  'crm.dealcategory.list': {
    scope: 'crm',
    handler: (ctx) => {
      const rows = ctx.state.dealCategories
        .filter((c) => c.id !== 0)
        .map((c) => ({ ID: String(c.id), CREATED_DATE: c.createdDate, NAME: c.name, IS_LOCKED: 'N', SORT: String(c.sort) }));
      const filter = asPhpArray(param(ctx.params, 'filter')) ?? {};
      const filtered = sortRows(rows.filter((r) => matchesFilter(r, filter)), param(ctx.params, 'order'), 'SORT');
      return { result: filtered, total: filtered.length };
    },
  },
  'crm.dealcategory.stage.list': {
    scope: 'crm',
    handler: (ctx) => {
      const raw = param(ctx.params, 'id');
      const id = raw === undefined || raw === '' || raw === 0 || raw === '0' ? 0 : toId(raw);
      if (id === undefined || !ctx.state.dealCategories.some((c) => c.id === id)) throw legacyError('Not found');
      return {
        result: ctx.state.statusesOf(ctx.state.dealStageEntity(id)).map((s) => ({ NAME: s.NAME, SORT: s.SORT, STATUS_ID: s.STATUS_ID })),
      };
    },
  },
};
