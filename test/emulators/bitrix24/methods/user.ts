/**
 * `user.current` and `user.get` (docs `api-reference/user/user-{current,get}.md`).
 * `user.get` filters by `FILTER` or by top-level field names (`ID`, `UF_PHONE_INNER`, `ACTIVE`, …),
 * pages by 50 and returns `total`. `ACTIVE` comes back as a boolean, `ID` as a string.
 */
import { asPhpArray, param, toStr } from '../params.ts';
import type { PortalUser } from '../state.ts';
import { legacyError, type MethodTable } from './method.ts';
import { matchesFilter, paginate, sortRows } from './crm-entity.ts';

const NOT_FILTERS = new Set(['sort', 'order', 'filter', 'admin_mode', 'select', 'image_resize', 'start']);

function present(u: PortalUser): Record<string, unknown> {
  return {
    ID: String(u.ID),
    ACTIVE: u.ACTIVE,
    NAME: u.NAME,
    LAST_NAME: u.LAST_NAME,
    SECOND_NAME: '',
    EMAIL: u.EMAIL,
    PERSONAL_GENDER: '',
    PERSONAL_BIRTHDAY: '',
    PERSONAL_MOBILE: '',
    WORK_PHONE: '',
    WORK_POSITION: '',
    UF_PHONE_INNER: u.UF_PHONE_INNER,
    UF_DEPARTMENT: [1],
    USER_TYPE: 'employee',
  };
}

export const userMethods: MethodTable = {
  'user.current': {
    scope: 'basic',
    handler: (ctx) => {
      const u = ctx.state.users.get(ctx.auth.userId);
      if (!u) throw legacyError('User not found', 404);
      return { result: present(u) };
    },
  },
  'user.get': {
    scope: 'user',
    handler: (ctx) => {
      const explicit = asPhpArray(param(ctx.params, 'FILTER')) ?? {};
      const topLevel = Object.fromEntries(Object.entries(ctx.params).filter(([k]) => !NOT_FILTERS.has(k.toLowerCase())));
      const filter: Record<string, unknown> = { ...topLevel, ...explicit };
      if ('ACTIVE' in filter) filter.ACTIVE = ['true', 'y', '1'].includes(toStr(filter.ACTIVE).toLowerCase());
      const sortField = toStr(param(ctx.params, 'sort')) || 'ID';
      const rows = sortRows(
        [...ctx.state.users.values()].map(present).filter((u) => matchesFilter(u, filter)),
        { [sortField]: toStr(param(ctx.params, 'order')) || 'ASC' },
        'ID',
      );
      const { page, total, next } = paginate(rows, param(ctx.params, 'start'));
      return { result: page, ...(total !== undefined ? { total } : {}), ...(next !== undefined ? { next } : {}) };
    },
  },
};
