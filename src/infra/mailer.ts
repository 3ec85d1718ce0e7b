/**
 * Outgoing mail (nodemailer over SMTP): the optional acknowledgement to an e-mail sender once their lead exists,
 * and alerts to the admin. Everything we send carries `Auto-Submitted` (RFC 3834) and `X-Leadgate-Loop`, so our own
 * mail reaching a monitored mailbox is recognised as ours (src/domain/robot-mail.ts rules 2 and 9) and another
 * robot does not answer it (`X-Auto-Response-Suppress`).
 *
 * Both are best effort: a failed send is logged and never fails the delivery it follows.
 */
import { createHash } from 'node:crypto';
import nodemailer, { type Transporter } from 'nodemailer';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { MailConfig } from '../config/schema.ts';
import { classifyRobotMail } from '../domain/robot-mail.ts';
import type { Keys } from './keys.ts';

/** Our loop-protection header; any `X-Leadgate-*` header marks mail as ours (robot-mail rule 9). */
export const LOOP_HEADER = 'X-Leadgate-Loop';

/** How long an acknowledgement is remembered as sent (a replayed delivery sends none). @defaultValue 30 days */
const ACK_MARKER_TTL_SEC = 30 * 24 * 3600;

export interface AutoAck {
  /** Stable per delivery: the acknowledgement is sent at most once per key. */
  key: string;
  to: string;
  /** The lead number shown to the customer (the CRM's lead id). */
  leadNumber: string;
  /** The customer's subject, quoted in the text and answered as `Re: …`. */
  subject: string;
  /** The customer's Message-ID, so a reply to our acknowledgement threads onto the same lead. */
  inReplyTo?: string;
}

export interface Mailer {
  autoAckEnabled: boolean;
  /** `sent`, or `skipped` with why (already sent, robot address), or `failed` (logged). Never throws. */
  autoAck(a: AutoAck): Promise<{ result: 'sent' | 'skipped' | 'failed'; reason?: string }>;
  /** Mails the admin at most once per `kind` per `alertEveryMinutes`. Never throws; no-op without `adminTo`. */
  alert(a: { kind: string; subject: string; text: string }): Promise<void>;
  close(): void;
}

export function createMailer(o: { config: MailConfig; env: Readonly<Record<string, string | undefined>>; redis: Redis; keys: Keys; log: Logger; transport?: Transporter }): Mailer {
  const cfg = o.config;
  const log = o.log.child({ component: 'mailer' });
  const transport =
    o.transport ??
    nodemailer.createTransport({
      host: cfg.smtp.host,
      port: cfg.smtp.port,
      secure: cfg.smtp.secure,
      ...(cfg.smtp.user ? { auth: { user: cfg.smtp.user, pass: cfg.smtp.passwordEnv ? (o.env[cfg.smtp.passwordEnv] ?? '') : '' } } : {}),
      connectionTimeout: 10_000,
      greetingTimeout: 10_000,
      socketTimeout: 20_000,
    });
  const marker = (kind: string, key: string): string => `${o.keys.prefix}:mail:${kind}:${createHash('sha256').update(key).digest('base64url').slice(0, 22)}`;
  const domain = /@([^>\s]+)/.exec(cfg.from)?.[1] ?? 'leadgate.invalid';

  return {
    autoAckEnabled: cfg.autoAck,
    async autoAck(a) {
      if (!cfg.autoAck) return { result: 'skipped', reason: 'mail.autoAck is off' };
      const to = a.to.trim().toLowerCase();
      // The normaliser already dropped robot mail; this guards the address itself (noreply@, mailer-daemon@…).
      const robot = classifyRobotMail({ headers: new Map(), from: { value: [{ address: to }] } });
      if (robot.robot || !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(to)) return { result: 'skipped', reason: robot.robot ? robot.code : 'not an address' };
      const key = marker('ack', a.key);
      if ((await o.redis.set(key, String(Date.now()), 'EX', ACK_MARKER_TTL_SEC, 'NX')) !== 'OK') return { result: 'skipped', reason: 'already sent' };
      const subject = a.subject.replace(/^\s*(re|fwd?|ответ)\s*:\s*/i, '').trim() || '(без темы)';
      const fill = (t: string): string => t.replaceAll('{lead}', a.leadNumber).replaceAll('{subject}', subject);
      const messageId = `<leadgate-ack.${key.slice(-22)}@${domain}>`;
      try {
        await transport.sendMail({
          from: cfg.from,
          to,
          subject: fill(cfg.autoAckSubject),
          text: fill(cfg.autoAckText),
          messageId,
          ...(a.inReplyTo ? { inReplyTo: a.inReplyTo, references: [a.inReplyTo] } : {}),
          headers: { 'Auto-Submitted': 'auto-replied', [LOOP_HEADER]: 'auto-ack', 'X-Auto-Response-Suppress': 'All' },
        });
        log.info({ lead: a.leadNumber }, 'auto-acknowledgement sent');
        return { result: 'sent' };
      } catch (err) {
        // Let a later replay try again; this delivery does not wait for SMTP.
        await o.redis.del(key).catch(() => undefined);
        log.warn({ err: (err as Error).message, lead: a.leadNumber }, 'auto-acknowledgement not sent');
        return { result: 'failed', reason: (err as Error).message };
      }
    },
    async alert(a) {
      if (!cfg.adminTo) return;
      try {
        const key = marker('alert', `${a.kind}\n${a.subject}`);
        if ((await o.redis.set(key, String(Date.now()), 'EX', cfg.alertEveryMinutes * 60, 'NX')) !== 'OK') return;
        try {
          await transport.sendMail({
            from: cfg.from,
            to: cfg.adminTo,
            subject: `[Leadgate] ${a.subject}`,
            text: `${a.text}\n\n(The same alert is sent at most once every ${cfg.alertEveryMinutes} minutes.)`,
            headers: { 'Auto-Submitted': 'auto-generated', [LOOP_HEADER]: 'alert', 'X-Auto-Response-Suppress': 'All' },
          });
          log.info({ kind: a.kind }, 'alert mailed');
        } catch (err) {
          await o.redis.del(key).catch(() => undefined);
          throw err;
        }
      } catch (err) {
        log.warn({ err: (err as Error).message, kind: a.kind }, 'alert not mailed');
      }
    },
    close() {
      transport.close();
    },
  };
}
