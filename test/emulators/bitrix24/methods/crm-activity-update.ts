/**
 * `crm.activity.get` and `crm.activity.update` (docs `timeline/activities/activity-base/crm-activity-{get,update}.md`,
 * legacy but working). Reassignment reads `COMPLETED` and moves a to-do with `RESPONSIBLE_ID`; a test completes
 * one with `COMPLETED: 'Y'`. Legacy errors: empty `error`, the text in `error_description` ("Not found").
 */
import { asPhpArray, param, toId, toStr } from '../params.ts';
import type { Activity } from '../state.ts';
import { badId, legacyError, notFound, type MethodContext, type MethodTable } from './method.ts';
import { presentActivity } from './crm-timeline.ts';

/** The activity named by `id`, or the legacy errors. */
function activityOf(ctx: MethodContext): Activity {
  const id = toId(param(ctx.params, 'id'));
  if (id === undefined) throw badId();
  const a = ctx.state.activities.get(id);
  if (!a) throw notFound();
  return a;
}

export const crmActivityUpdateMethods: MethodTable = {
  'crm.activity.get': {
    scope: 'crm',
    handler: (ctx) => ({ result: presentActivity(activityOf(ctx)) }),
  },
  'crm.activity.update': {
    scope: 'crm',
    handler: (ctx) => {
      const a = activityOf(ctx);
      const fields = asPhpArray(param(ctx.params, 'fields'));
      if (!fields) throw legacyError("Parameter 'fields' must be array.");
      const f = Object.fromEntries(Object.entries(fields).map(([k, v]) => [k.toUpperCase(), v]));
      if (f.RESPONSIBLE_ID !== undefined) {
        const user = toId(f.RESPONSIBLE_ID);
        if (user === undefined || !ctx.state.users.get(user)?.ACTIVE) throw legacyError('The field RESPONSIBLE_ID is not defined or invalid.');
        a.RESPONSIBLE_ID = user;
      }
      if (f.COMPLETED !== undefined) a.COMPLETED = toStr(f.COMPLETED).toUpperCase() === 'Y' ? 'Y' : 'N';
      if (f.SUBJECT !== undefined) a.SUBJECT = toStr(f.SUBJECT);
      return { result: true };
    },
  },
};
