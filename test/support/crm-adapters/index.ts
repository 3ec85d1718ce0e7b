/**
 * How the shared CRM contract suite drives each CRM's emulator. A new CRM connector adds one adapter here;
 * the suite fails for a registered CRM without one.
 */
import { startAmoEmulator } from '../../emulators/amocrm/start.ts';
import { startBitrixEmulator } from '../../emulators/bitrix24/start.ts';

export interface CrmCounts {
  contacts: number;
  leads: number;
  /** Notes (amoCRM common notes) or timeline comments (Bitrix24). */
  notes: number;
  /** Tasks (amoCRM) or to-do activities (Bitrix24). */
  tasks: number;
}

export interface EmulatedCrm {
  /** The account entry of leadgate.yaml (settings point at the emulator). */
  account: Record<string, unknown>;
  env: Record<string, string>;
  counts(): CrmCounts;
  /** Utm source value found on the single lead, for assertions. */
  leadText(): string;
  /** Next n requests answered with the vendor's rate-limit error. */
  rateLimitNext(n: number): void;
  /** Next n requests answered with a 5xx. */
  failNext(n: number): void;
  setLatency(ms: number): void;
  /** True if the emulator ever counted more requests than the vendor allows. */
  limitExceeded(): boolean;
  /** Vendor rate-limit errors the emulator had to send on its own (not injected). */
  ownLimitErrors(): number;
  close(): Promise<void>;
}

export const crmAdapters: Record<string, () => Promise<EmulatedCrm>> = {
  async amocrm() {
    const emu = await startAmoEmulator();
    const injected = { n: 0 };
    return {
      account: { id: 'crm', connector: 'amocrm', settings: { baseUrl: emu.url, auth: 'long-lived', tokenEnv: 'CONTRACT_AMO_TOKEN' } },
      env: { CONTRACT_AMO_TOKEN: emu.token },
      counts: () => {
        const c = emu.state.counts();
        return { contacts: c.contacts, leads: c.leads, notes: [...emu.state.notes.values()].filter((n) => n.note_type === 'common').length, tasks: c.tasks };
      },
      leadText: () => JSON.stringify([...emu.state.leads.values()].map((l) => l.custom_fields_values)),
      rateLimitNext: (n) => {
        injected.n += n;
        emu.faults.rateLimitNext(n);
      },
      failNext: (n) => emu.faults.failNext(n, { status: 503 }),
      setLatency: (ms) => emu.faults.setLatency(ms),
      limitExceeded: () => emu.stats.limitExceeded,
      ownLimitErrors: () => emu.stats.requests.filter((r) => r.status === 429 && !r.fault).length,
      close: () => emu.close(),
    };
  },
  async bitrix24() {
    const emu = await startBitrixEmulator();
    return {
      account: { id: 'crm', connector: 'bitrix24', settings: { auth: 'webhook', webhookUrlEnv: 'CONTRACT_B24_WEBHOOK' } },
      env: { CONTRACT_B24_WEBHOOK: emu.webhookUrl },
      counts: () => ({
        contacts: emu.state.contacts.size,
        leads: emu.state.leads.size + emu.state.deals.size,
        notes: emu.state.comments.size,
        tasks: [...emu.state.activities.values()].filter((a) => a.kind === 'todo').length,
      }),
      leadText: () => JSON.stringify([...emu.state.leads.values(), ...emu.state.deals.values()]),
      rateLimitNext: (n) => emu.faults.queryLimitNext(n),
      failNext: (n) => emu.faults.failNext(n, 503),
      setLatency: (ms) => emu.faults.setLatency(ms),
      limitExceeded: () => emu.stats.limitErrors > 0,
      ownLimitErrors: () => emu.stats.limitErrors,
      close: () => emu.close(),
    };
  },
};
