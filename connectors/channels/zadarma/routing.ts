/**
 * The reply Zadarma accepts to NOTIFY_START / NOTIFY_IVR (telephony.md §2.6): `redirect` to an extension or
 * scenario, `return_timeout`, `caller_name`. Not wired into `decide` yet (see settings.ts `routing`); kept
 * here, pure and tested, for the caller-lookup step that will use it.
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
