import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Constant-time string compare for secrets and signatures. Comparing digests keeps the time independent of
 * where the strings differ and of their lengths (timingSafeEqual alone throws on, and so reveals, a length mismatch).
 */
export function safeEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a, 'utf8').digest();
  const hb = createHash('sha256').update(b, 'utf8').digest();
  return timingSafeEqual(ha, hb) && a.length === b.length;
}
