import pino, { type Logger, type LoggerOptions } from 'pino';
import { maskPhone } from '../domain/phone.ts';

export type { Logger };

/** Header and key names whose values are secrets: always replaced, wherever they appear. */
const SECRET_KEYS = /^(authorization|cookie|set-cookie|x-leadgate-secret|x-telegram-bot-api-secret-token|signature|sign|x-leadgate-signature|vpbx_api_key|access_token|refresh_token|client_secret|token|secret|password|pass|auth|api_key|apikey)$/i;

const EMAIL = /([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})/g;
// Runs of 10+ digits possibly with separators: phone-like. Ids we log are prefixed (job ids) or short.
const PHONE = /(?<![\w/.:-])\+?\d[\d\s().-]{8,}\d(?![\w/])/g;

/** Masks e-mails and phone numbers inside free text. */
export function maskText(s: string): string {
  return s.replace(EMAIL, (_m, first: string, domain: string) => `${first}***@${domain}`).replace(PHONE, (m) => (m.replace(/\D/g, '').length >= 10 ? maskPhone(m) : m));
}

/** Deep copy of a log object with secrets removed and personal data masked. */
export function scrub(value: unknown, depth = 0): unknown {
  if (depth > 8) return '[deep]';
  if (typeof value === 'string') return maskText(value);
  if (Array.isArray(value)) return value.map((v) => scrub(v, depth + 1));
  if (value instanceof Error) return { type: value.name, message: maskText(value.message), code: (value as { code?: unknown }).code };
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      out[k] = SECRET_KEYS.test(k) ? '[redacted]' : scrub(v, depth + 1);
    }
    return out;
  }
  return value;
}

export function createLogger(opts: { level?: string; name?: string; destination?: pino.DestinationStream } = {}): Logger {
  const options: LoggerOptions = {
    level: opts.level ?? process.env.LOG_LEVEL ?? 'info',
    ...(opts.name ? { name: opts.name } : {}),
    formatters: {
      log: (obj) => scrub(obj) as Record<string, unknown>,
    },
    hooks: {
      // The message string is masked too: a careless `log.info(\`got ${phone}\`)` must not leak.
      logMethod(args, method) {
        const masked = args.map((a) => (typeof a === 'string' ? maskText(a) : a)) as Parameters<typeof method>;
        method.apply(this, masked);
      },
    },
    serializers: { err: (e: unknown) => scrub(e) },
  };
  return opts.destination ? pino(options, opts.destination) : pino(options);
}
