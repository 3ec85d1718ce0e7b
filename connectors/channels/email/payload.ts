/**
 * The part of mailparser's `ParsedMail` the e-mail connector keeps: a plain, JSON-safe object (no Buffers,
 * no Maps), so it validates with zod and can sit in a job.
 *
 * Shapes: mailparser 3.x `simpleParser` (https://nodemailer.com/extras/mailparser/), forms-telegram-email.md §C2.
 */
import { z } from 'zod';

export const MailAddressSchema = z.object({
  /** As written; the normaliser lower-cases it. Empty for `<>` and undisclosed groups. */
  address: z.string().optional(),
  name: z.string().optional(),
});
export type MailAddress = z.infer<typeof MailAddressSchema>;

export const MailAttachmentSchema = z.object({
  filename: z.string().optional(),
  contentType: z.string(),
  sizeBytes: z.number().int().nonnegative(),
  /** `attachment` or `inline`. */
  disposition: z.string().optional(),
  /** Content-ID, angle brackets included. */
  cid: z.string().optional(),
  /** An inline image referenced from the HTML (signature logos and the like). */
  related: z.boolean().default(false),
});
export type MailAttachment = z.infer<typeof MailAttachmentSchema>;

export const MailPayloadSchema = z.object({
  /** `<id@host>`, angle brackets kept. */
  messageId: z.string().optional(),
  inReplyTo: z.string().optional(),
  /** mailparser's shape, unchanged: a string for one id, an array for several. */
  references: z.union([z.string(), z.array(z.string())]).optional(),
  subject: z.string().optional(),
  /** ISO 8601 from the `Date` header. */
  date: z.string().optional(),
  from: MailAddressSchema.optional(),
  replyTo: z.array(MailAddressSchema).default([]),
  to: z.array(MailAddressSchema).default([]),
  /** Plain text; for HTML-only mail mailparser derives it with html-to-text (quotes become `> ` lines). */
  text: z.string().default(''),
  attachments: z.array(MailAttachmentSchema).default([]),
  /**
   * The headers the robot classifier reads (src/domain/robot-mail.ts `ROBOT_MAIL_HEADERS` and any
   * `x-leadgate-*`), as mailparser parsed them, made JSON-safe (dates as ISO strings, no HTML renderings).
   */
  headers: z.record(z.string(), z.unknown()),
  /** sha256 (hex) of the raw RFC 822 bytes: the event id when there is no Message-ID. */
  rawSha256: z.string().regex(/^[0-9a-f]{64}$/, 'a sha256 hex digest'),
});
export type MailPayload = z.infer<typeof MailPayloadSchema>;
