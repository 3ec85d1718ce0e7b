/**
 * What a failed __TITLE__ call means for the delivery: retry later, stop for an admin (with the fix), or fail
 * this lead only. TODO: check each status against the vendor's documented error bodies; one unit test per status.
 */
import { CrmError, HttpError, type CrmFailure } from '#sdk';

export function classify__PASCAL__(err: unknown): CrmFailure {
  if (err instanceof CrmError) return err.failure;
  if (!(err instanceof HttpError)) return { kind: 'retry', afterMs: 30_000, cause: err instanceof Error ? err.message : String(err) };
  const where = `${err.request.method} ${err.request.url}`;
  if (err.status === undefined) return { kind: 'retry', afterMs: 5_000, cause: `${where}: ${err.code ?? 'network error'}` };
  if (err.status === 429) {
    const retryAfterSec = Number(err.headers['retry-after']);
    return { kind: 'retry', afterMs: Number.isFinite(retryAfterSec) && retryAfterSec > 0 ? retryAfterSec * 1_000 : 2_000, cause: `${where}: 429 too many requests` };
  }
  if (err.status >= 500) return { kind: 'retry', afterMs: 15_000, cause: `${where}: HTTP ${err.status}` };
  if (err.status === 401 || err.status === 403) {
    return { kind: 'config', cause: `${where}: HTTP ${err.status}, the token was refused`, fix: 'put a valid API token into the env var named by crm[].settings.tokenEnv and restart' };
  }
  return { kind: 'reject', cause: `${where}: HTTP ${err.status}` };
}
