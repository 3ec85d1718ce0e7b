import { z } from 'zod';

const EnvName = z.string().regex(/^[A-Z][A-Z0-9_]*$/, 'an environment variable name like MAIL_PASSWORD');

/** Where the poller reads mail. The poller (not the connector) connects; secrets are named by env var. */
export const ImapSettingsSchema = z.object({
  host: z.string().min(1),
  /** @defaultValue 993 */
  port: z.number().int().min(1).max(65535).default(993),
  /** TLS from the first byte (993). `false` → STARTTLS when the server offers it (143). @defaultValue true */
  secure: z.boolean().default(true),
  user: z.string().min(1),
  /** Env var holding the password or app password. */
  passwordEnv: EnvName,
  /** @defaultValue INBOX */
  mailbox: z.string().min(1).default('INBOX'),
  /**
   * Where handled mail is moved once it is stored; empty → it stays and gets `\Seen` plus {@link processedKeyword}.
   * Created when missing. @defaultValue Processed
   */
  processedMailbox: z.string().default('Processed'),
  /** Where robot mail (bounces, auto-replies, lists) is moved once stored; empty → treated like any other mail. @defaultValue "" */
  junkMailbox: z.string().default(''),
  /** IMAP keyword set on every handled message (skipped on a rescan after a UIDVALIDITY change). @defaultValue $LeadgateProcessed */
  processedKeyword: z.string().regex(/^\$?[A-Za-z][A-Za-z0-9_-]{0,63}$/, 'an IMAP keyword like $LeadgateProcessed').default('$LeadgateProcessed'),
  /**
   * What the very first poll of a mailbox reads (no checkpoint yet): `unseen` mail, `all` of it, or `none` (only
   * mail arriving from now on). @defaultValue unseen
   */
  initialScan: z.enum(['unseen', 'all', 'none']).default('unseen'),
  /** Messages stored per round; the rest follow at once. @defaultValue 50 */
  batchSize: z.number().int().min(1).max(1000).default(50),
  /** IDLE is re-issued this often (some servers drop a long IDLE silently). @defaultValue 300 000 ms */
  maxIdleTimeMs: z.number().int().min(10_000).max(29 * 60_000).default(300_000),
});
export type ImapSettings = z.infer<typeof ImapSettingsSchema>;

export const EmailSettingsSchema = z.object({
  /** The monitored mailbox's address: mail From it is our own and is ignored (loop protection). */
  address: z.email().optional(),
  /** Other addresses we send from (CRM mailer, managers' shared box): never treated as a customer. */
  ownAddresses: z.array(z.email()).default([]),
  /** Company numbers that appear in quoted signatures; never taken as the customer's phone. */
  ownPhones: z.array(z.string()).default([]),
  /** Required by the IMAP poller; optional here so fixtures and replays need no mailbox. */
  imap: ImapSettingsSchema.optional(),
  /** Poll interval when IDLE is unavailable or as a safety net. @defaultValue 60 000 ms */
  pollEveryMs: z.number().int().min(5_000).default(60_000),
});
export type EmailSettings = z.infer<typeof EmailSettingsSchema>;
