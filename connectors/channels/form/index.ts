/**
 * `form`: a generic site form (plain HTML post, `fetch` from the page, WordPress/CF7 webhook plugins).
 * JSON, urlencoded (bracket keys too) and multipart; field names mapped per source. See README.md.
 */
import { decodeAnyForm, defineChannel } from '#sdk';
import { formEventId, normaliseForm } from './normalise.ts';
import { FormPayloadSchema, FormSettingsSchema } from './payload.ts';
import { thankYouReply, thankYouTarget } from './redirect.ts';

export const formChannel = defineChannel({
  id: 'form',
  kind: 'form',
  title: 'Site form',
  settings: FormSettingsSchema,
  intake: { mode: 'webhook', methods: ['POST'] },
  decode: (e) => decodeAnyForm(e),
  payload: FormPayloadSchema,
  eventId: (p) => formEventId(p),
  decide: (p, e, ctx) => {
    const target = ctx ? thankYouTarget(p, e, ctx.settings) : undefined;
    return target ? { kind: 'event', reply: thankYouReply(target) } : { kind: 'event' };
  },
  normalise: normaliseForm,
});
