import { existsSync, readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { z } from 'zod';
import { ConfigError } from '../sdk/errors.ts';
import { parseLocatedYaml } from '../config/yaml-location.ts';
import { isKnownLeadPath, LEAD_PATHS } from './paths.ts';

/** Closed list of value formats a mapping may name. */
export const VALUE_FORMATS = ['ru-display', 'e164', 'digits', 'lower', 'upper', 'unix-seconds'] as const;

const ValueSchema = z.union([
  z.string(),
  z.number(),
  z.object({ from: z.string(), default: z.union([z.string(), z.number()]).optional(), format: z.enum(VALUE_FORMATS).optional() }).strict(),
  z.object({ env: z.string().regex(/^[A-Z][A-Z0-9_]*$/), default: z.union([z.string(), z.number()]).optional(), format: z.enum(VALUE_FORMATS).optional() }).strict(),
]);
export type MappingValue = z.infer<typeof ValueSchema>;

export const MappingSchema = z
  .object({
    /** Path or URL of the JSON Schema, for editors; ignored. */
    $schema: z.string().optional(),
    crm: z.string(),
    /** How phones are written into the CRM. @defaultValue ru-display (`+7 (912) 345-67-89`) */
    phoneFormat: z.enum(['ru-display', 'e164', 'international', 'digits']).default('ru-display'),
    lead: z.object({ fields: z.record(z.string(), ValueSchema).default({}) }).strict().default({ fields: {} }),
    contact: z.object({ fields: z.record(z.string(), ValueSchema).default({}) }).strict().default({ fields: {} }),
  })
  .strict();
export type Mapping = z.infer<typeof MappingSchema> & { file: string; lineOf(path: (string | number)[]): number | undefined };

/**
 * Loads a mapping file. Mappings are data only: a literal, `{ from: <Lead path> }` or `{ env: NAME }`, with
 * optional `default` and a `format` from a closed list. Every `from` is checked here against the Lead model;
 * targets are checked against the live CRM field catalogue when the worker starts.
 */
export function loadMapping(absFile: string, crmId: string, env: NodeJS.ProcessEnv = process.env): Mapping {
  const shown = relative(process.cwd(), absFile) || absFile;
  if (!existsSync(absFile)) {
    throw new ConfigError({ file: shown, key: '(file)', problem: 'mapping file not found', fix: `create it from mappings/${crmId}.yaml or point crm[].mapping at an existing file` });
  }
  const y = parseLocatedYaml(shown, readFileSync(absFile, 'utf8'));
  if ('error' in y) throw new ConfigError({ file: shown, key: '(yaml)', problem: y.error, fix: 'correct the YAML syntax', ...(y.line !== undefined ? { line: y.line } : {}) });
  const r = MappingSchema.safeParse(y.value);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const path = issue.path.map((p) => (typeof p === 'number' ? p : String(p)));
    const line = y.lineOf(path);
    throw new ConfigError({
      file: shown,
      key: path.join('.') || '(root)',
      problem: issue.message,
      fix: 'a value is a literal, { from: <lead path> }, or { env: NAME }, with optional default and format (' + VALUE_FORMATS.join(', ') + ')',
      ...(line !== undefined ? { line } : {}),
    });
  }
  if (r.data.crm !== crmId) {
    throw new ConfigError({ file: shown, key: 'crm', problem: `mapping is for "${r.data.crm}" but the account uses "${crmId}"`, fix: `set crm: ${crmId} or use the ${r.data.crm} account`, ...(y.lineOf(['crm']) !== undefined ? { line: y.lineOf(['crm'])! } : {}) });
  }
  for (const entity of ['lead', 'contact'] as const) {
    for (const [target, v] of Object.entries(r.data[entity].fields)) {
      const path = [entity, 'fields', target];
      const line = y.lineOf(path);
      if (typeof v === 'object' && 'from' in v && !isKnownLeadPath(v.from)) {
        const near = LEAD_PATHS.filter((p) => p.split('.')[0] === v.from.split('.')[0]);
        throw new ConfigError({ file: shown, key: `${path.join('.')}.from`, problem: `unknown lead path "${v.from}"`, fix: `use one of: ${(near.length ? near : LEAD_PATHS).join(', ')}, or fields.<form field key>`, ...(line !== undefined ? { line } : {}) });
      }
      if (typeof v === 'object' && 'env' in v && v.default === undefined && !env[v.env]) {
        throw new ConfigError({ file: shown, key: `${path.join('.')}.env`, problem: `${v.env} is empty`, fix: `set ${v.env} or add a default`, ...(line !== undefined ? { line } : {}) });
      }
    }
  }
  return { ...r.data, file: shown, lineOf: y.lineOf };
}
