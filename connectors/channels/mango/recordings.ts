/**
 * Recording files through the Mango VPBX API (telephony.md §1.7): `POST <api>/queries/recording/post` with the
 * usual signed form (`vpbx_api_key`, `sign`, `json={"recording_id","action"}`) answers **302** to a file link on
 * `files.mango-office.ru` that dies after its first use — so it is never stored, only streamed at once.
 * Mango saves the file some time after hang-up: until then the query fails and is asked again later.
 */
import { HttpError, type RecordingIO, type RecordingLocation, type RecordingRef } from '#sdk';
import type { MangoSettings } from './settings.ts';
import { mangoSign } from './verify.ts';

export async function resolveMangoRecording(ref: RecordingRef, io: RecordingIO<MangoSettings>): Promise<RecordingLocation> {
  if (!io.secret) return { kind: 'gone', reason: 'no vpbx_api_salt configured for this source (secretEnv)' };
  const key = io.settings.apiKey;
  const json = JSON.stringify({ recording_id: ref.recordingId, action: 'download' });
  const url = `${io.settings.apiBaseUrl.replace(/\/+$/, '')}/queries/recording/post`;
  try {
    const res = await io.http.request({ method: 'POST', url, encoding: 'form', data: { vpbx_api_key: key, sign: mangoSign(key, json, io.secret), json } });
    return { kind: 'pending', retryAfterMs: 30_000, reason: `answered HTTP ${res.status} instead of a redirect to the file` };
  } catch (err) {
    if (!(err instanceof HttpError) || err.status === undefined) throw err;
    const location = err.headers.location;
    if ((err.status === 302 || err.status === 301 || err.status === 303 || err.status === 307) && location) {
      return { kind: 'ready', url: new URL(location, url).toString(), oneShot: true };
    }
    const code = err.data && typeof err.data === 'object' ? (err.data as { code?: unknown }).code : undefined;
    // 3102 bad sign, 3105 bad key (§1.8): asking again will not help.
    if (code === 3102 || code === 3105 || err.status === 401 || err.status === 403) throw err;
    // Not saved yet (or saved only to e-mail): the doc advises asking again about every minute.
    return { kind: 'pending', retryAfterMs: 30_000, reason: `HTTP ${err.status}${code !== undefined ? ` code ${String(code)}` : ''}` };
  }
}
