/**
 * A process writing the ledger, for the multi-process SQLite test: `tsx ledger-writer.ts <file> <name> <count>`.
 * Opens (and so migrates) the ledger, then upserts `count` outcomes as fast as it can, each twice (a job run again).
 * Prints `done <errors>`.
 */
import { LedgerSchema } from '../../../src/config/schema.ts';
import { openLedger } from '../../../src/ledger/open.ts';

const [file, name, count] = process.argv.slice(2);
const store = await openLedger(LedgerSchema.parse({ file }), {});
let errors = 0;
for (let i = 0; i < Number(count); i++) {
  for (let pass = 0; pass < 2; pass++) {
    try {
      await store.repo.upsertOutcome({ delivery_key: `${name}.${i}.0`, status: pass ? 'delivered' : 'queued', source_id: name!, kind: 'lead', received_at: Date.now(), ...(pass ? { crm_lead_id: String(i), delivered_at: Date.now() } : {}) });
    } catch (err) {
      errors++;
      process.stderr.write(`${(err as Error).message}\n`);
    }
  }
}
await store.close();
process.stdout.write(`done ${errors}\n`);
