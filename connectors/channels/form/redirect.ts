/**
 * A plain HTML form posts by navigating the visitor's browser to our URL; answering JSON would leave them on a
 * page of `{"ok":true}`. For such a post (urlencoded/multipart, the browser asks for HTML) we answer
 * 303 See Other to the site's thank-you page, once the event is stored. `fetch()` and server senders keep JSON.
 *
 * Where to go: a hidden field named in `settings.redirectField` (default `_redirect`) when its origin is in
 * `settings.redirectOrigins` (never an open redirect), else `settings.thankYouUrl`, else the usual JSON answer.
 */
import type { IntakeReply, RawEvent } from '#sdk';
import type { FormPayload, FormSettings } from './payload.ts';

/** True when the request is a top-level browser navigation posting a form (not `fetch`, not a server). */
export function isBrowserFormPost(e: RawEvent): boolean {
  const type = (e.headers['content-type'] ?? '').toLowerCase();
  if (!type.startsWith('application/x-www-form-urlencoded') && !type.startsWith('multipart/form-data')) return false;
  const mode = e.headers['sec-fetch-mode'];
  if (mode !== undefined) return mode === 'navigate';
  // Older browsers send no Fetch Metadata; a navigation always accepts HTML, fetch() defaults to */*.
  return (e.headers['accept'] ?? '').toLowerCase().includes('text/html');
}

function firstString(v: unknown): string | undefined {
  const x = Array.isArray(v) ? v[0] : v;
  return typeof x === 'string' && x.trim() ? x.trim() : undefined;
}

function originOf(url: string): string | undefined {
  try {
    const u = new URL(url);
    return u.protocol === 'https:' || u.protocol === 'http:' ? u.origin : undefined;
  } catch {
    return undefined;
  }
}

/** The thank-you URL for this post, or undefined when the sender should get the usual JSON answer. */
export function thankYouTarget(p: FormPayload, e: RawEvent, s: Pick<FormSettings, 'thankYouUrl' | 'redirectField' | 'redirectOrigins'>): string | undefined {
  if (!isBrowserFormPost(e)) return undefined;
  const asked = firstString((p as Record<string, unknown>)[s.redirectField ?? '_redirect']);
  if (asked) {
    const origin = originOf(asked);
    const allowed = new Set((s.redirectOrigins ?? []).map((o) => originOf(o)).filter(Boolean));
    if (s.thankYouUrl) allowed.add(originOf(s.thankYouUrl));
    if (origin && allowed.has(origin)) return asked;
  }
  return s.thankYouUrl;
}

export function thankYouReply(location: string): IntakeReply {
  // A tiny body for clients that do not follow redirects; the URL is one we configured or allowed.
  const safe = location.replace(/[<>"&]/g, (c) => `&#${c.charCodeAt(0)};`);
  return { status: 303, contentType: 'text/html; charset=utf-8', headers: { location }, body: `<!doctype html><meta http-equiv="refresh" content="0;url=${safe}"><a href="${safe}">Спасибо! Заявка принята.</a>` };
}
