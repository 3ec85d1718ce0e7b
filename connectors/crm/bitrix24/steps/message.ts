/**
 * A later message of a conversation whose lead exists (Telegram chat, mail thread): one timeline comment on that
 * lead or deal (recover: list its comments since the attempt). Reference: bitrix24.md §7.
 */
import type { DeliveryReceipt, DeliveryTask, StepJournal } from '#sdk';
import { parseRef, recordUrl, refString, type Ctx } from './common.ts';
import { commentStep } from './lead.ts';

type MessageTask = Extract<DeliveryTask, { kind: 'message' }>;

export async function deliverMessage(ctx: Ctx, task: MessageTask, journal: StepJournal): Promise<DeliveryReceipt> {
  const ref = parseRef(task.threadLeadId);
  const noteId = await commentStep(ctx, journal, 'comment', ref, task.noteText);
  return { leadId: refString(ref), createdLead: false, noteId, url: recordUrl(ctx, ref) };
}
