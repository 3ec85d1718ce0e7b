import { z } from 'zod';

/**
 * The canonical models every channel produces and every CRM consumes.
 * One source of truth: the TS types below are inferred from these schemas.
 */

/** E.164 phone, e.g. `+79123456789`. */
export const E164Schema = z.string().regex(/^\+[1-9]\d{6,14}$/, 'an E.164 phone like +79123456789');
export type E164 = z.infer<typeof E164Schema>;

/** Where an event came from: the connector, the configured source and its human name. */
export const SourceRefSchema = z.object({
  /** Connector id (kebab-case), e.g. `tilda`, `mango`, `telegram`. */
  channel: z.string().min(1),
  /** Configured source id, the `:sourceId` URL segment, e.g. `site-main`. */
  sourceId: z.string().min(1),
  /** Human name shown in the CRM, e.g. `Сайт acme.ru (Tilda)`. */
  name: z.string().min(1),
});
export type SourceRef = z.infer<typeof SourceRefSchema>;

export const ContactSchema = z.object({
  name: z.string().optional(),
  /** Normalised phones, E.164. */
  phonesE164: z.array(E164Schema).default([]),
  /** Phones we could not parse, kept verbatim so nothing the customer typed is lost. */
  phonesUnparsed: z.array(z.string()).default([]),
  /** Lower-cased e-mail addresses. */
  emails: z.array(z.string()).default([]),
  /** Messenger identity when there is no phone (Telegram user id / username). */
  messenger: z
    .object({ kind: z.string(), userId: z.string(), username: z.string().optional() })
    .optional(),
  company: z.string().optional(),
});
export type Contact = z.infer<typeof ContactSchema>;

export const UtmSchema = z.object({
  source: z.string().optional(),
  medium: z.string().optional(),
  campaign: z.string().optional(),
  content: z.string().optional(),
  term: z.string().optional(),
});
export type Utm = z.infer<typeof UtmSchema>;

/** Click ids and analytics ids; each maps to a CRM tracking field (amoCRM field codes, Bitrix24 UTM_*). */
export const TrackingSchema = z.object({
  referrer: z.string().optional(),
  pageUrl: z.string().optional(),
  landingUrl: z.string().optional(),
  roistat: z.string().optional(),
  gclid: z.string().optional(),
  yclid: z.string().optional(),
  fbclid: z.string().optional(),
  ymUid: z.string().optional(),
  ymCounter: z.string().optional(),
  gaClientId: z.string().optional(),
  openstat: z.string().optional(),
  ip: z.string().optional(),
  userAgent: z.string().optional(),
});
export type Tracking = z.infer<typeof TrackingSchema>;

/** A form field or any other sender value we carry into the note as "label: value". */
export const ExtraFieldSchema = z.object({ key: z.string(), label: z.string(), value: z.string() });
export type ExtraField = z.infer<typeof ExtraFieldSchema>;

export const AttachmentSchema = z.object({
  name: z.string().optional(),
  url: z.string().optional(),
  contentType: z.string().optional(),
  sizeBytes: z.number().int().nonnegative().optional(),
  /** Vendor file id (Telegram file_id, IMAP part) when there is no URL. */
  ref: z.string().optional(),
});
export type Attachment = z.infer<typeof AttachmentSchema>;

export const OrderSchema = z.object({
  id: z.string().optional(),
  amount: z.number().optional(),
  currency: z.string().optional(),
  paymentSystem: z.string().optional(),
  items: z
    .array(z.object({ name: z.string(), quantity: z.number().optional(), price: z.number().optional(), amount: z.number().optional(), sku: z.string().optional() }))
    .default([]),
  summary: z.string().optional(),
});
export type Order = z.infer<typeof OrderSchema>;

export const LeadSchema = z.object({
  source: SourceRefSchema,
  /** The sender's stable event id (Tilda tranid, Telegram update id, Message-ID…). */
  externalId: z.string().min(1),
  /**
   * A conversation key: later messages with the same key become notes on this lead
   * (Telegram chat, e-mail thread). Absent for one-shot forms.
   */
  threadKey: z.string().optional(),
  /** Form id / form name / bot name: which form on the site it came from. */
  formName: z.string().optional(),
  contact: ContactSchema,
  title: z.string().min(1),
  message: z.string().optional(),
  utm: UtmSchema.default({}),
  tracking: TrackingSchema.default({}),
  fields: z.array(ExtraFieldSchema).default([]),
  attachments: z.array(AttachmentSchema).default([]),
  order: OrderSchema.optional(),
  /** ISO 8601 time the customer acted (falls back to the receive time). */
  occurredAt: z.string(),
});
export type Lead = z.infer<typeof LeadSchema>;
export type LeadInput = z.input<typeof LeadSchema>;

/** A later message in a conversation that already has (or may have) a lead: becomes a note. */
export const FollowUpSchema = z.object({
  source: SourceRefSchema,
  externalId: z.string().min(1),
  threadKey: z.string().min(1),
  /**
   * Other keys of the same conversation (e-mail: every id in References ∪ In-Reply-To besides the root). The
   * pipeline tries `threadKey`, then each of these, and binds all of them to the lead it finds or opens.
   */
  relatedThreadKeys: z.array(z.string().min(1)).default([]),
  contact: ContactSchema,
  text: z.string(),
  attachments: z.array(AttachmentSchema).default([]),
  occurredAt: z.string(),
  /** When no lead exists for the thread yet, open one with this title. */
  fallbackTitle: z.string().min(1),
  /**
   * The sender handed over their own details on purpose (Telegram: their own number via the request_contact button):
   * the CRM connector adds them to the lead's contact. Absent → details found in passing (a mail signature, a
   * colleague in reply-all) are only noted, never written onto the client's contact.
   */
  sharedOwnDetails: z.literal(true).optional(),
});
export type FollowUp = z.infer<typeof FollowUpSchema>;

export const CallKindSchema = z.enum(['started', 'ringing', 'answered', 'ended', 'recording', 'summary']);
export const CallStatusSchema = z.enum(['answered', 'missed', 'busy', 'failed', 'cancelled', 'unknown']);

/** One provider notification about one call, see telephony.md §10.1. Merged downstream by `providerCallId`. */
export const CallEventSchema = z.object({
  source: SourceRefSchema,
  externalId: z.string().min(1),
  provider: z.string(),
  providerCallId: z.string().min(1),
  providerLegId: z.string().optional(),
  /** Order of this event within its leg/call when the provider gives one (Mango `seq`). */
  seq: z.number().int().optional(),
  kind: CallKindSchema,
  direction: z.enum(['inbound', 'outbound', 'internal', 'unknown']).default('unknown'),
  from: z.string().optional(),
  to: z.string().optional(),
  fromE164: E164Schema.optional(),
  toE164: E164Schema.optional(),
  /** The company number the client dialled (DID, virtual number): which ad brought the call. */
  line: z.string().optional(),
  extension: z.string().optional(),
  employeeName: z.string().optional(),
  startedAt: z.string().optional(),
  answeredAt: z.string().optional(),
  endedAt: z.string().optional(),
  durationSec: z.number().nonnegative().optional(),
  talkSec: z.number().nonnegative().optional(),
  status: CallStatusSchema.optional(),
  recording: z
    .object({ url: z.string().optional(), providerRecordingId: z.string().optional(), expiresAt: z.string().optional() })
    .optional(),
  occurredAt: z.string(),
});
export type CallEvent = z.infer<typeof CallEventSchema>;
export type CallEventInput = z.input<typeof CallEventSchema>;

export const IgnoreReasonSchema = z.object({
  /** Stable machine code, e.g. `tilda-test-ping`, `robot-mail:auto-submitted`, `telegram:group-chat`. */
  code: z.string().min(1),
  detail: z.string().optional(),
});
export type IgnoreReason = z.infer<typeof IgnoreReasonSchema>;

export const OutcomeSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('lead'), lead: LeadSchema }),
  z.object({ kind: z.literal('call'), call: CallEventSchema }),
  z.object({ kind: z.literal('message'), message: FollowUpSchema }),
  z.object({ kind: z.literal('ignored'), reason: IgnoreReasonSchema }),
]);
export type Outcome = z.infer<typeof OutcomeSchema>;
