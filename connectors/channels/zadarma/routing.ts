import type { CallerLookup, IntakeReply } from '#sdk';
import type { ZadarmaSettings } from './settings.ts';

/**
 * The reply Zadarma accepts to NOTIFY_START / NOTIFY_IVR (telephony.md §2.6): `redirect` to an extension or
 * scenario, `return_timeout`, `caller_name`. An empty 200 means "run the default scenario".
 */
export interface RoutingDecision {
  /** Extension ("101"), scenario ("0-1") or menu ("0-main") to send the call to. */
  redirect?: string;
  /** Seconds the target rings before the call returns to the menu; 0 = never. */
  returnTimeoutSec?: number;
  /** Name shown on the manager's phone, e.g. the CRM contact "ООО Ромашка / Иванов". */
  callerName?: string;
}

/** JSON body for the reply; `''` (empty 200, the default scenario) when there is nothing to say. */
export function routingReplyBody(d: RoutingDecision): string {
  const out: Record<string, string | number> = {};
  if (d.redirect && /^[0-9a-z-]{1,32}$/i.test(d.redirect)) {
    out.redirect = d.redirect;
    if (d.returnTimeoutSec !== undefined) out.return_timeout = d.returnTimeoutSec === 0 ? 0 : Math.max(3, Math.round(d.returnTimeoutSec));
  }
  if (d.callerName) out.caller_name = d.callerName.replace(/[\r\n]+/g, ' ').slice(0, 64);
  return Object.keys(out).length ? JSON.stringify(out) : '';
}

/** The default scenario: an empty 200 (also the answer to every other notification). */
export const DEFAULT_REPLY: IntakeReply = { status: 200, contentType: 'text/plain; charset=utf-8', body: '' };

/**
 * What to tell Zadarma about a caller: the responsible manager's extension (when the config maps one) and the
 * CRM name; nothing for an unknown caller. Pure.
 */
export function routingFor(info: CallerLookup | null, routing: ZadarmaSettings['routing']): RoutingDecision {
  if (!info) return {};
  const name = [info.company, info.name].map((s) => s?.trim()).filter(Boolean).join(' / ');
  return {
    ...(info.extension ? { redirect: info.extension, returnTimeoutSec: routing.returnTimeoutSec } : {}),
    ...(routing.callerName && name ? { callerName: name } : {}),
  };
}

/** The HTTP reply for a routing decision: JSON when there is something to say, else the default scenario. */
export function routingReply(d: RoutingDecision): IntakeReply {
  const body = routingReplyBody(d);
  return body ? { status: 200, contentType: 'application/json; charset=utf-8', body } : DEFAULT_REPLY;
}
