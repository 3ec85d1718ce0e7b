/**
 * The lead an inquiry joins instead of opening a new one: the contact's newest lead that is not won (142) or
 * lost (143). A lead still in "Неразобранное" counts as open: the manager has not even looked at it yet.
 * Reads only; the pipeline journals the decision so a retry makes the same one.
 */
import type { AmoLead } from '../client.ts';
import { CLOSED_STATUS_IDS } from '../fields.ts';
import type { StepCtx } from './context.ts';

export interface TargetLead {
  leadId: number;
  responsibleUserId?: number;
}

export function isOpen(l: AmoLead): boolean {
  return !CLOSED_STATUS_IDS.includes(l.status_id) && l.is_deleted !== true;
}

export async function openLeadOf(ctx: Pick<StepCtx, 'c'>, leadIds: readonly number[]): Promise<TargetLead | null> {
  if (!leadIds.length) return null;
  const open = (await ctx.c.leadsByIds(leadIds)).filter(isOpen).sort((a, b) => b.created_at - a.created_at || b.id - a.id)[0];
  return open ? target(open) : null;
}

/** The conversation's lead, if it still exists and is open. */
export async function openThreadLead(ctx: Pick<StepCtx, 'c'>, leadId: number): Promise<TargetLead | null> {
  const l = await ctx.c.lead(leadId);
  return l && isOpen(l) ? target(l) : null;
}

function target(l: AmoLead): TargetLead {
  return { leadId: l.id, ...(l.responsible_user_id ? { responsibleUserId: l.responsible_user_id } : {}) };
}
