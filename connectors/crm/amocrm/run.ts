import { CrmError, HttpError } from '#sdk';
import { withAuthContext } from './auth.ts';
import { classifyAmo } from './classify.ts';
import type { AmoSettings } from './settings.ts';

/**
 * Runs a write path in the account's auth context. HttpErrors become classified CrmErrors here, where the settings
 * are known: fixes name this account's env vars, pauses use its values.
 */
export function runClassified<T>(s: AmoSettings, fn: () => Promise<T>): Promise<T> {
  return withAuthContext(async () => {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof HttpError) throw new CrmError(classifyAmo(err, { settings: s }));
      throw err;
    }
  });
}
