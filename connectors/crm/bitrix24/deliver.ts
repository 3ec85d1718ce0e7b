/**
 * One outcome into Bitrix24. Every write is a journal step, so a retry (or another worker after a crash) resumes
 * where the last attempt stopped; see steps/lead.ts, steps/call.ts and steps/message.ts for the steps and how
 * each is recovered when the portal's answer was lost.
 */
import type { AccountFacts, CrmIO, DeliveryReceipt, DeliveryTask, StepJournal } from '#sdk';
import { createBitrixClient } from './client.ts';
import { bitrixMeta } from './fields.ts';
import type { BitrixSettings } from './settings.ts';
import type { Ctx } from './steps/common.ts';
import { deliverLead } from './steps/lead.ts';
import { deliverCall } from './steps/call.ts';
import { deliverMessage } from './steps/message.ts';

export function contextFor(io: CrmIO, s: BitrixSettings, facts: AccountFacts): Ctx {
  return { io, s, client: createBitrixClient(io, s), meta: bitrixMeta(facts), facts };
}

export async function deliver(io: CrmIO, s: BitrixSettings, task: DeliveryTask, journal: StepJournal, facts: AccountFacts): Promise<DeliveryReceipt> {
  const ctx = contextFor(io, s, facts);
  switch (task.kind) {
    case 'lead':
      return deliverLead(ctx, task, journal);
    case 'message':
      return deliverMessage(ctx, task, journal);
    case 'call':
      return deliverCall(ctx, task, journal);
  }
}
