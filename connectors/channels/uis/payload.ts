/**
 * UIS / CoMagic / CallGear / Novofon 2.0 HTTP notifications ("Уведомления").
 * Vendor doc: https://uiscom.ru/academiya/spravochnyj-centr/uvedomleniya/uvedomleniya-o-sobytiyakh ;
 * facts and doubts: shared/reference/telephony.md §3.
 *
 * There is no fixed payload: the admin pastes a body template with `{{variable}}` placeholders per event
 * type. We publish ours (README.md): JSON, placeholders unquoted as in integrators' working templates, plus a
 * literal `"leadgate_event"` naming the event, because the platform's `notification_mnemonic` strings are
 * unconfirmed. Whether UIS JSON-encodes substituted values is unconfirmed too, so the body is read leniently.
 */
import { z } from 'zod';
import { bodyKind, decodeAnyForm, InputError, type RawEvent } from '#sdk';

/** Our event names, written literally in each template as `"leadgate_event": "<name>"`. */
export const LEADGATE_EVENTS = ['incoming', 'ringing', 'talk_started', 'talk_finished', 'call_finished', 'lost_call', 'outbound', 'recording'] as const;
export type UisEventName = (typeof LEADGATE_EVENTS)[number];

/**
 * Fallback for templates without `leadgate_event`. Third-party guesses only (an integrator's constants
 * MNEMONIC_IN_CALL_SESSION, MNEMONIC_CALL_CONNECTED, MNEMONIC_CALL_SESSION_FINISHED); unknown mnemonics are
 * ignored with their name in the reason, so the admin sees what to fix.
 */
export const MNEMONIC_GUESSES: Readonly<Record<string, UisEventName>> = {
  in_call_session: 'incoming',
  call_connected: 'talk_started',
  call_session_finished: 'call_finished',
  lost_call: 'lost_call',
};

/** A scalar as text: UIS may send numbers, strings or booleans for the same variable. */
const Text = z.union([z.string(), z.number(), z.boolean()]).transform(String);
const TextList = z.union([z.array(z.union([z.string(), z.number()])).transform((a) => a.map(String)), Text.transform((s) => [s])]);

const ABSENT = new Set(['', 'null', 'none', 'undefined']);

/** Empty, `null` and unreplaced `{{placeholders}}` mean "no value". */
function dropAbsent(v: unknown): unknown {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
  return Object.fromEntries(
    Object.entries(v).filter(([, x]) => x !== null && x !== undefined && !(typeof x === 'string' && (ABSENT.has(x.trim().toLowerCase()) || /^\{\{.*\}\}$/.test(x.trim())))),
  );
}

export const UisNotificationSchema = z.preprocess(
  dropAbsent,
  z.object({
    call_session_id: Text.pipe(z.string().min(1)),
    leadgate_event: Text.optional(),
    notification_name: Text.optional(),
    notification_mnemonic: Text.optional(),
    notification_time: Text.optional(),
    notification_timestamp: Text.optional(),
    direction: Text.optional(),
    is_internal: Text.optional(),
    virtual_phone_number: Text.optional(),
    contact_phone_number: Text.optional(),
    communication_number: Text.optional(),
    calling_phone_number: Text.optional(),
    called_phone_number: Text.optional(),
    contact_full_name: Text.optional(),
    employee_id: Text.optional(),
    employee_full_name: Text.optional(),
    employee_phone_number: Text.optional(),
    employee_ids: TextList.optional(),
    leg_id: Text.optional(),
    leg_ids: TextList.optional(),
    start_time: Text.optional(),
    talk_time_duration: Text.optional(),
    total_time_duration: Text.optional(),
    wait_time_duration: Text.optional(),
    file_link: Text.optional(),
    file_duration: Text.optional(),
    scenario_name: Text.optional(),
  }),
);
export type UisNotification = z.infer<typeof UisNotificationSchema>;

/**
 * A template body that is not valid JSON (UIS pasted a name with quotes raw, or quoted an already quoted
 * value): read it line by line, one `"key": value` per line as our templates are laid out.
 */
export function parseTemplateLines(text: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const line of text.split(/\r?\n/)) {
    const m = /^\s*[{,]?\s*"([A-Za-z_][A-Za-z0-9_]*)"\s*:\s*(.*?)\s*,?\s*}?\s*$/.exec(line);
    if (!m) continue;
    let raw = m[2]!;
    try {
      out[m[1]!] = JSON.parse(raw);
      continue;
    } catch {
      /* not a JSON value on its own: strip the quotes around it */
    }
    while (raw.length >= 2 && raw.startsWith('"') && raw.endsWith('"')) raw = raw.slice(1, -1);
    out[m[1]!] = raw;
  }
  return out;
}

export async function decodeUis(e: RawEvent): Promise<Record<string, unknown>> {
  if (bodyKind(e) !== 'json') return decodeAnyForm(e);
  let text = e.body.toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  try {
    const v: unknown = JSON.parse(text);
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    /* lenient path below */
  }
  const fields = parseTemplateLines(text);
  if (Object.keys(fields).length === 0) {
    throw new InputError({ code: 'LG_ERR_BAD_BODY', field: 'body', expected: 'the JSON notification template from the Leadgate UIS guide', message: 'body is neither JSON nor our template layout' });
  }
  return fields;
}
