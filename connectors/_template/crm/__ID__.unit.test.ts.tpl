/**
 * Unit tests of the `__ID__` CRM connector: one test per vendor status in `classify`. Add nock tests for each
 * step as you write it (fake the wire, not the module), and an emulator adapter for the shared CRM contract suite.
 */
import { describe, expect, it } from 'vitest';
import { HttpError } from '#sdk';
import { classify__PASCAL__ } from './classify.ts';
import { __PASCAL__SettingsSchema } from './settings.ts';

const httpError = (status: number | undefined, headers: Record<string, string> = {}): HttpError =>
  new HttpError({ message: `HTTP ${status}`, ...(status !== undefined ? { status } : { code: 'ECONNRESET' }), headers, request: { method: 'POST', url: '/api/leads' } });

describe('__ID__: classify', () => {
  it.each([
    [429, 'retry'],
    [500, 'retry'],
    [undefined, 'retry'],
    [401, 'config'],
    [403, 'config'],
    [400, 'reject'],
  ] as const)('HTTP %s → %s', (status, kind) => {
    expect(classify__PASCAL__(httpError(status)).kind).toBe(kind);
  });

  it('honours Retry-After on 429', () => {
    const f = classify__PASCAL__(httpError(429, { 'retry-after': '7' }));
    expect(f.kind === 'retry' ? f.afterMs : 0).toBe(7_000);
  });
});

describe('__ID__: settings', () => {
  it('needs https and an env var name, never a token inline', () => {
    expect(__PASCAL__SettingsSchema.safeParse({ baseUrl: 'https://acme.example', tokenEnv: '__ENV___TOKEN' }).success).toBe(true);
    expect(__PASCAL__SettingsSchema.safeParse({ baseUrl: 'http://acme.example', tokenEnv: '__ENV___TOKEN' }).success).toBe(false);
    expect(__PASCAL__SettingsSchema.safeParse({ baseUrl: 'https://acme.example', tokenEnv: 'abc123secret' }).success).toBe(false);
  });
});
