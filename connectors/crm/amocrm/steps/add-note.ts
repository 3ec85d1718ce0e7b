/**
 * addNote: a `common` note with the inquiry text and a last line `Leadgate: <delivery key>`. amoCRM has no
 * dedupe key for notes (sheet §8), so that line is how a crashed write is found again: recovery reads the
 * card's common notes and looks for it.
 */
import type { NoteEntity } from '../client.ts';
import { marker, type StepCtx } from './context.ts';

export interface NoteResult {
  noteId: number;
  entity: NoteEntity;
  entityId: number;
}

/** amoCRM notes are plain text; very long texts are cut rather than refused. */
const MAX_NOTE_CHARS = 60_000;

export function noteText(text: string, key: string): string {
  const tail = `\n\n${marker(key)}`;
  const body = text.length + tail.length > MAX_NOTE_CHARS ? `${text.slice(0, MAX_NOTE_CHARS - tail.length - 1)}…` : text;
  return `${body}${tail}`;
}

export function addNote(ctx: StepCtx, stepName: string, entity: NoteEntity, entityId: number, text: string, key: string): Promise<NoteResult> {
  const full = noteText(text, key);
  return ctx.journal.step<NoteResult>(
    stepName,
    async () => ({ noteId: await ctx.c.addNote(entity, entityId, { note_type: 'common', params: { text: full } }), entity, entityId }),
    {
      recover: async () => {
        const id = await findNote(ctx, entity, entityId, ['common'], (p) => typeof p.text === 'string' && p.text.includes(marker(key)));
        return id === undefined ? undefined : { noteId: id, entity, entityId };
      },
    },
  );
}

/** A note of these types on the card whose params match; pages through at most 1 000 notes. */
export async function findNote(ctx: Pick<StepCtx, 'c'>, entity: NoteEntity, entityId: number, types: readonly string[], match: (params: Record<string, unknown>) => boolean): Promise<number | undefined> {
  for (let page = 1; page <= 4; page++) {
    const notes = await ctx.c.notes(entity, entityId, types, page);
    const hit = notes.find((n) => match(n.params ?? {}));
    if (hit) return hit.id;
    if (notes.length < 250) break;
  }
  return undefined;
}
