/**
 * `tilda`: Tilda site forms and shop cart via the "Webhook" receiver (urlencoded or JSON, same keys).
 * The `test=test` check request is answered `ok` and never enqueued. See README.md.
 */
import { decodeAnyForm, defineChannel, type IntakeReply } from '#sdk';
import { isTildaTestPing, normaliseTilda, tildaEventId } from './normalise.ts';
import { TildaPayloadSchema, TildaSettingsSchema } from './payload.ts';

/** Tilda treats anything but a quick 200 as "Webhook URL not available"; all its examples answer `ok`. */
const OK: IntakeReply = { status: 200, contentType: 'text/plain; charset=utf-8', body: 'ok' };

export const tildaChannel = defineChannel({
  id: 'tilda',
  kind: 'form',
  title: 'Tilda',
  settings: TildaSettingsSchema,
  intake: { mode: 'webhook', methods: ['POST'] },
  decode: (e) => decodeAnyForm(e),
  payload: TildaPayloadSchema,
  eventId: (p) => tildaEventId(p),
  decide: (p) => (isTildaTestPing(p) ? { kind: 'handshake', reply: OK } : { kind: 'event', reply: OK }),
  normalise: normaliseTilda,
});
