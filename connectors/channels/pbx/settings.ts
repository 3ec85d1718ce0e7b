import { z } from 'zod';

/** Per-source settings. The source secret (`secretEnv`) is the HMAC key shared with the PBX-side agent. */
export const PbxSettingsSchema = z.object({
  /** Label of the PBX in call records (`asterisk`, `freepbx`, `3cx`…). @defaultValue asterisk */
  provider: z.string().regex(/^[a-z0-9][a-z0-9-]{0,31}$/, 'a short kebab-case name like asterisk').default('asterisk'),
  /**
   * Largest accepted difference between `X-Leadgate-Timestamp` and our clock, in seconds. A captured request
   * cannot be replayed after this. The sender re-signs every retry with a fresh timestamp.
   * @defaultValue 300
   */
  maxSkewSec: z.number().int().min(30).max(3600).default(300),
  /**
   * How long `POST …/lookup` may wait for the CRM before answering `{}` (the PBX's default route), in ms from receipt.
   * Keep it under the agent's own timeout so the caller never hears silence. @defaultValue 1000
   */
  lookupDeadlineMs: z.number().int().min(100).max(10_000).default(1000),
});
export type PbxSettings = z.infer<typeof PbxSettingsSchema>;
