/** Every method the emulator answers, keyed by lower-case name. */
import { batchMethods } from './batch.ts';
import { crmDirectoryMethods } from './crm-directory.ts';
import { crmDuplicateMethods } from './crm-duplicate.ts';
import { crmItemMethods } from './crm-items.ts';
import { crmTimelineMethods } from './crm-timeline.ts';
import { crmActivityUpdateMethods } from './crm-activity-update.ts';
import type { MethodDef, MethodTable } from './method.ts';
import { taskMethods } from './tasks.ts';
import { telephonyMethods } from './telephony.ts';
import { userMethods } from './user.ts';

const tables: MethodTable[] = [
  crmDirectoryMethods,
  crmItemMethods,
  crmDuplicateMethods,
  crmTimelineMethods,
  crmActivityUpdateMethods,
  taskMethods,
  telephonyMethods,
  userMethods,
  batchMethods,
];

export const METHODS: ReadonlyMap<string, MethodDef> = new Map(
  tables.flatMap((t) => Object.entries(t)).map(([name, def]) => [name.toLowerCase(), def] as const),
);
