/** Small builders every channel normaliser uses, so an outcome is shaped (and validated) one way everywhere. */
import { CallEventSchema, type CallEventInput, type Outcome } from './lead.ts';

/** An event that is counted but delivers nothing (test ping, robot mail, internal call), with why. */
export function ignoredOutcome(code: string, detail: string): Outcome {
  return { kind: 'ignored', reason: { code, detail } };
}

/** A call event; absent (undefined) properties are dropped before validation so optional fields stay absent. */
export function callOutcome(input: CallEventInput): Outcome {
  const clean = Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined));
  return { kind: 'call', call: CallEventSchema.parse(clean) };
}
