/**
 * One coded error catalogue (like Fastify's FST_ERR_*). Every message names the field or option,
 * what was received, and the fix.
 */

export type ErrorCode =
  | 'LG_ERR_BAD_CONTENT_TYPE'
  | 'LG_ERR_BAD_BODY'
  | 'LG_ERR_FIELD'
  | 'LG_ERR_BODY_TOO_LARGE'
  | 'LG_ERR_UNKNOWN_SOURCE'
  | 'LG_ERR_SECRET_MISSING'
  | 'LG_ERR_SECRET_MISMATCH'
  | 'LG_ERR_SIGNATURE'
  | 'LG_ERR_STALE'
  | 'LG_ERR_REDIS_UNAVAILABLE'
  | 'LG_ERR_CONFIG'
  | 'LG_ERR_CRM_RETRY'
  | 'LG_ERR_CRM_CONFIG'
  | 'LG_ERR_CRM_REJECT';

export abstract class LeadgateError extends Error {
  abstract readonly code: ErrorCode;
}

/** Bad input from a sender: becomes a 4xx JSON answer naming the field and what was expected. */
export class InputError extends LeadgateError {
  readonly code: ErrorCode;
  readonly statusCode: number;
  readonly field: string | undefined;
  readonly expected: string | undefined;
  constructor(opts: { code?: ErrorCode; status?: number; field?: string; expected?: string; message: string }) {
    super(opts.message);
    this.name = 'InputError';
    this.code = opts.code ?? 'LG_ERR_FIELD';
    this.statusCode = opts.status ?? 400;
    this.field = opts.field;
    this.expected = opts.expected;
  }
  toJSON(): { error: { code: string; message: string; field?: string; expected?: string } } {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(this.field !== undefined ? { field: this.field } : {}),
        ...(this.expected !== undefined ? { expected: this.expected } : {}),
      },
    };
  }
}

/** A sender that failed authentication: 401/403, never a hint at the secret. */
export class AuthError extends InputError {
  constructor(code: 'LG_ERR_SECRET_MISSING' | 'LG_ERR_SECRET_MISMATCH' | 'LG_ERR_SIGNATURE' | 'LG_ERR_STALE', message: string) {
    super({ code, status: code === 'LG_ERR_SECRET_MISSING' ? 401 : 403, message });
    this.name = 'AuthError';
  }
}

/** A configuration mistake: stops start-up with the file, the key and the fix. */
export class ConfigError extends LeadgateError {
  readonly code = 'LG_ERR_CONFIG' as const;
  readonly file: string;
  readonly key: string;
  readonly fix: string;
  constructor(opts: { file: string; key: string; problem: string; fix: string; line?: number }) {
    const where = opts.line !== undefined ? `${opts.file}:${opts.line}` : opts.file;
    super(`${where} ${opts.key}: ${opts.problem}. Fix: ${opts.fix}`);
    this.name = 'ConfigError';
    this.file = opts.file;
    this.key = opts.key;
    this.fix = opts.fix;
  }
}

/** How a CRM failure is handled: wait and retry, stop for an admin, or drop just this lead into the failed set. */
export type CrmFailure =
  | { kind: 'retry'; afterMs: number; cause: string; pauseAccount?: boolean }
  | { kind: 'config'; fix: string; cause: string }
  | { kind: 'reject'; cause: string };

/** Thrown by CRM steps once classified, so the worker can act on it. */
export class CrmError extends LeadgateError {
  readonly code: ErrorCode;
  readonly failure: CrmFailure;
  constructor(failure: CrmFailure) {
    super(failure.kind === 'config' ? `${failure.cause}. Fix: ${failure.fix}` : failure.cause);
    this.name = 'CrmError';
    this.failure = failure;
    this.code = failure.kind === 'retry' ? 'LG_ERR_CRM_RETRY' : failure.kind === 'config' ? 'LG_ERR_CRM_CONFIG' : 'LG_ERR_CRM_REJECT';
  }
}

/** Redis did not take the event in time: the gateway answers 503 + Retry-After. */
export class IntakeUnavailableError extends LeadgateError {
  readonly code = 'LG_ERR_REDIS_UNAVAILABLE' as const;
  constructor(cause: string) {
    super(`event store unavailable: ${cause}`);
    this.name = 'IntakeUnavailableError';
  }
}
