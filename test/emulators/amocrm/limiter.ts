/**
 * Per-account sliding-window limiter (sheet §2: 7 requests/s → 429) with escalation to a
 * block (repeated violations → 403 HTML for every request).
 * Only admitted requests occupy the window; rejected ones count as violations.
 */
import type { ResolvedOptions } from './options.ts';

export type Admission = 'ok' | 'limited' | 'blocked';

export class RateLimiter {
  private admitted: number[] = [];
  private violations: number[] = [];
  /** Unix ms until which every request gets 403; 0 = not blocked. */
  blockedUntil = 0;

  constructor(private readonly cfg: ResolvedOptions['rateLimit']) {}

  isBlocked(now: number): boolean {
    return now < this.blockedUntil;
  }

  admit(now: number): Admission {
    if (this.isBlocked(now)) return 'blocked';
    const cfg = this.cfg;
    if (cfg === false) return 'ok';
    while (this.admitted.length > 0 && (this.admitted[0] ?? 0) <= now - cfg.windowMs) this.admitted.shift();
    if (this.admitted.length < cfg.perWindow) {
      this.admitted.push(now);
      return 'ok';
    }
    if (cfg.block !== false) {
      const b = cfg.block;
      this.violations.push(now);
      while (this.violations.length > 0 && (this.violations[0] ?? 0) <= now - b.withinMs) this.violations.shift();
      if (this.violations.length >= b.after429s) {
        this.blockedUntil = now + b.durationMs;
        this.violations = [];
      }
    }
    return 'limited';
  }

  block(now: number, durationMs: number): void {
    this.blockedUntil = now + durationMs;
  }

  unblock(): void {
    this.blockedUntil = 0;
    this.violations = [];
  }

  reset(): void {
    this.admitted = [];
    this.unblock();
  }
}
