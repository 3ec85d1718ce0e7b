/** Contract between the dispatcher and the method modules. */
import type { ResolvedOptions } from '../options.ts';
import type { BitrixState } from '../state.ts';
import type { TimeBlock } from '../time.ts';
import { RestError, type AuthInfo, type MethodOutput, type Params } from '../types.ts';

export type CallOutcome =
  | { ok: true; output: MethodOutput; time: TimeBlock }
  | { ok: false; error: RestError; time?: TimeBlock };

export interface MethodContext {
  params: Params;
  auth: AuthInfo;
  state: BitrixState;
  opts: ResolvedOptions;
  /** Emulator clock, epoch ms, at the start of the call. */
  nowMs: number;
  inBatch: boolean;
  /** Run another method with the same auth, as one `batch` command. */
  callNested(method: string, params: Params): CallOutcome;
}

export interface MethodDef {
  /** Scope the webhook or app needs; `basic` is always granted. */
  scope: string;
  handler(ctx: MethodContext): MethodOutput;
  /** Docs: works only in application context (`WRONG_AUTH_TYPE` for webhooks). */
  appOnly?: boolean;
}

export type MethodTable = Record<string, MethodDef>;

/** Legacy `crm.*` errors carry an empty `error` and the text in `error_description`. */
export function legacyError(description: string, status = 400): RestError {
  return new RestError(status, '', description);
}

export const notFound = (): RestError => legacyError('Not found');
export const badId = (): RestError => legacyError('ID is not defined or invalid.');
