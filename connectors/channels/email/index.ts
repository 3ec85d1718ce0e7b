/**
 * E-mail inquiries from an IMAP mailbox. The poller (src/pipeline, not here) fetches each message and
 * hands its RFC 822 bytes over as a RawEvent with `content-type: message/rfc822`; this connector
 * parses, classifies robots, threads replies and builds leads. See README.md.
 */
import { defineChannel } from '#sdk';
import { decodeMail } from './decode.ts';
import { mailEventId, normaliseMail } from './normalise.ts';
import { MailPayloadSchema, type MailPayload } from './payload.ts';
import { EmailSettingsSchema, type EmailSettings } from './settings.ts';
import { imapLeaseKey, runImapPoller } from './poller.ts';

export const email = defineChannel<MailPayload, EmailSettings>({
  id: 'email',
  kind: 'email',
  title: 'E-mail',
  settings: EmailSettingsSchema,
  intake: { mode: 'poll' },
  decode: decodeMail,
  payload: MailPayloadSchema,
  eventId: (p) => mailEventId(p),
  normalise: normaliseMail,
  // Run by the worker's poll runner, one process per mailbox (a Redis lease on the lease key).
  poller: { leaseKey: imapLeaseKey, run: (s, io) => runImapPoller(s, io) },
});

export default email;
