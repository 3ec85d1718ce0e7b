/**
 * `batch` (docs `settings/how-to-call-rest-api/batch.md`, `_includes/system-errors.md`).
 * - `cmd`: map or list of `"method?php-style-query"`; `halt` 0/1/true/false (default false);
 * - commands run in order; `$result[key]`, `$result[key][FIELD]`, `$result[key][0][ID]` (and
 *   `$result_error`, `$result_total`, `$result_next`, `$result_time`) are replaced by earlier output;
 *   a reference to something absent becomes an empty string;
 * - HTTP 200 even when commands fail; per-command errors in `result_error`; with `halt` the run
 *   stops at the first error and later keys are absent; `result_time` only for successes;
 *   `result_total`/`result_next` only for list commands (`next` only when there is a next page);
 * - empty maps serialise as `[]` (PHP);
 * - at most 50 commands: later ones get `ERROR_BATCH_LENGTH_EXCEEDED` (docs note; see
 *   `batchOverflow` for the HTTP 400 reading of the docs' error table);
 * - nested `batch` → `ERROR_BATCH_METHOD_NOT_ALLOWED`;
 * - the whole batch is one request for the rate limit; each command spends its own method's
 *   operating budget, the outer call spends none.
 */
import { asPhpArray, isRecord, param, parseQueryString, phpKeyed, toFlag, toStr } from '../params.ts';
import { RestError, type Params } from '../types.ts';
import type { MethodTable } from './method.ts';

export const MAX_BATCH_COMMANDS = 50;

const REFERENCE = /\$(result_error|result_total|result_next|result_time|result)((?:\[[^\]]*\])+)/g;

type Outputs = Record<'result' | 'result_error' | 'result_total' | 'result_next' | 'result_time', Record<string, unknown>>;

function lookup(outputs: Outputs, name: string, path: string): unknown {
  const segments = [...path.matchAll(/\[([^\]]*)\]/g)].map((m) => m[1] ?? '');
  let current: unknown = outputs[name as keyof Outputs];
  for (const segment of segments) {
    if (Array.isArray(current)) current = current[Number(segment)];
    else if (isRecord(current)) current = current[segment];
    else return undefined;
  }
  return current;
}

/** Replace references in every string leaf; a leaf that is exactly one reference takes the value as is. */
function substitute(value: unknown, outputs: Outputs): unknown {
  if (typeof value === 'string') {
    const whole = /^\$(result_error|result_total|result_next|result_time|result)((?:\[[^\]]*\])+)$/.exec(value);
    if (whole) {
      const found = lookup(outputs, whole[1]!, whole[2]!);
      return found === undefined || found === null ? '' : typeof found === 'object' ? structuredClone(found) : String(found);
    }
    return value.replace(REFERENCE, (_m, name: string, path: string) => {
      const found = lookup(outputs, name, path);
      return found === undefined || found === null ? '' : Array.isArray(found) ? found.map(toStr).join(',') : toStr(found);
    });
  }
  if (Array.isArray(value)) return value.map((v) => substitute(v, outputs));
  if (isRecord(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substitute(v, outputs)]));
  return value;
}

export const batchMethods: MethodTable = {
  batch: {
    scope: 'basic',
    handler: (ctx) => {
      const commands = Object.entries(asPhpArray(param(ctx.params, 'cmd')) ?? {});
      const halt = toFlag(param(ctx.params, 'halt'));
      if (commands.length > MAX_BATCH_COMMANDS && ctx.opts.batchOverflow === 'reject') {
        throw new RestError(400, 'ERROR_BATCH_LENGTH_EXCEEDED', 'Max batch length exceeded');
      }
      const out: Outputs = { result: {}, result_error: {}, result_total: {}, result_next: {}, result_time: {} };
      for (const [index, [key, raw]] of commands.entries()) {
        if (index >= MAX_BATCH_COMMANDS) {
          out.result_error[key] = { error: 'ERROR_BATCH_LENGTH_EXCEEDED', error_description: 'Max batch length exceeded' };
          if (halt) break;
          continue;
        }
        const text = toStr(raw).trim();
        const q = text.indexOf('?');
        const method = (q < 0 ? text : text.slice(0, q)).trim();
        const params = substitute(parseQueryString(q < 0 ? '' : text.slice(q + 1)), out) as Params;
        delete params.auth;
        const outcome = ctx.callNested(method, params);
        if (outcome.ok) {
          out.result[key] = outcome.output.result;
          if (outcome.output.total !== undefined) out.result_total[key] = outcome.output.total;
          if (outcome.output.next !== undefined) out.result_next[key] = outcome.output.next;
          // Sub-call timings in the docs' example carry no operating keys.
          const { operating: _operating, operating_reset_at: _resetAt, ...time } = outcome.time;
          out.result_time[key] = time;
        } else {
          out.result_error[key] = { error: outcome.error.code, error_description: outcome.error.description };
          if (halt) break;
        }
      }
      return {
        result: {
          result: phpKeyed(out.result),
          result_error: phpKeyed(out.result_error),
          result_total: phpKeyed(out.result_total),
          result_next: phpKeyed(out.result_next),
          result_time: phpKeyed(out.result_time),
        },
      };
    },
  },
};
