/**
 * Runs one REST method (top-level or a `batch` command): existence, scope, auth type, operating
 * budget, then the handler. Order of checks follows what a portal does before executing a method.
 */
import { normaliseMethodName, type FaultController } from './faults.ts';
import type { OperatingBudget } from './limits.ts';
import { METHODS } from './methods/index.ts';
import type { CallOutcome, MethodContext } from './methods/method.ts';
import type { ResolvedOptions } from './options.ts';
import type { BitrixState } from './state.ts';
import type { EmulatorStats } from './stats.ts';
import { timeBlock } from './time.ts';
import { RestError, type AuthInfo, type Params } from './types.ts';

export interface DispatcherDeps {
  state: BitrixState;
  opts: ResolvedOptions;
  faults: FaultController;
  stats: EmulatorStats;
  operating: OperatingBudget;
}

export class Dispatcher {
  constructor(private readonly deps: DispatcherDeps) {}

  call(methodName: string, params: Params, auth: AuthInfo, inBatch: boolean): CallOutcome {
    const { state, opts, faults, stats, operating } = this.deps;
    const name = normaliseMethodName(methodName);
    const def = METHODS.get(name);
    const fail = (error: RestError): CallOutcome => ({ ok: false, error });
    if (!def) return fail(new RestError(404, 'ERROR_METHOD_NOT_FOUND', 'Method not found!'));
    if (inBatch && name === 'batch') return fail(new RestError(405, 'ERROR_BATCH_METHOD_NOT_ALLOWED', 'Method is not allowed for batch usage'));
    if (def.scope !== 'basic' && !auth.scopes.includes(def.scope)) {
      return fail(new RestError(403, 'insufficient_scope', 'The request requires higher privileges than provided by the webhook token'));
    }
    if (def.appOnly && auth.kind === 'webhook' && opts.telephonyWebhookAuth === 'deny') {
      return fail(new RestError(403, 'WRONG_AUTH_TYPE', 'Current authorization type is denied for this method'));
    }
    const isBatch = name === 'batch';
    const budgetKey = `${auth.key}|${name}`;
    const startMs = opts.now();
    if (!isBatch && (faults.isOperatingForced(name) || operating.isBlocked(budgetKey, startMs))) {
      stats.operationLimitErrors += 1;
      return fail(new RestError(429, 'OPERATION_TIME_LIMIT', 'Method is blocked due to operation time limit.'));
    }
    stats.countCall(name);
    const ctx: MethodContext = {
      params,
      auth,
      state,
      opts,
      nowMs: startMs,
      inBatch,
      callNested: (nested, nestedParams) => this.call(nested, nestedParams, auth, true),
    };
    const t0 = performance.now();
    let outcome: CallOutcome;
    try {
      outcome = { ok: true, output: def.handler(ctx), time: timeBlock(startMs, startMs, opts.utcOffsetMinutes) };
    } catch (e) {
      if (!(e instanceof RestError)) stats.internalErrors.push(e);
      outcome = fail(e instanceof RestError ? e : new RestError(500, 'INTERNAL_SERVER_ERROR', 'Internal server error'));
    }
    const finishMs = Math.max(opts.now(), startMs);
    if (!isBatch) operating.add(budgetKey, startMs, faults.costSec(name) ?? (performance.now() - t0) / 1000);
    if (outcome.ok) {
      outcome.time = timeBlock(startMs, finishMs, opts.utcOffsetMinutes, isBatch ? undefined : operating.snapshot(budgetKey, finishMs));
    }
    return outcome;
  }
}
