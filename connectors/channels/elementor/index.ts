/**
 * `elementor`: Elementor Pro form "Webhook" action, Advanced Data on or off. See README.md.
 */
import { decodeAnyForm, defineChannel } from '#sdk';
import { normaliseElementor } from './normalise.ts';
import { ElementorPayloadSchema, ElementorSettingsSchema } from './payload.ts';

export const elementorChannel = defineChannel({
  id: 'elementor',
  kind: 'form',
  title: 'Elementor',
  settings: ElementorSettingsSchema,
  intake: { mode: 'webhook', methods: ['POST'] },
  decode: (e) => decodeAnyForm(e),
  payload: ElementorPayloadSchema,
  // Elementor sends no submission id; the gateway falls back to the body hash.
  eventId: () => undefined,
  normalise: normaliseElementor,
});
