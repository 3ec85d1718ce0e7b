import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A `ledger` config section writing to a fresh SQLite file under the OS temp dir, so tests never add their leads
 * to the working copy's var/ledger.sqlite (which a developer's demo report reads).
 */
export function tempLedger(): { file: string } {
  return { file: join(tmpdir(), `lg-ledger-${process.pid}-${randomBytes(4).toString('hex')}.sqlite`) };
}
