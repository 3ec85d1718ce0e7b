import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';

const run = (args: string[], input?: string) =>
  spawnSync(process.execPath, ['bin/leadgate.mjs', 'normalise', ...args], { encoding: 'utf8', input, env: { ...process.env, LOG_LEVEL: 'silent' }, timeout: 30_000 });

describe('npx leadgate normalise', () => {
  it('prints the lead of a Tilda request file as JSON, without Redis or a CRM', () => {
    const r = run(['tilda', 'connectors/channels/tilda/fixtures/lead-urlencoded.http']);
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout) as { outcomes: { kind: string; lead: { contact: { phonesE164: string[] } } }[] };
    expect(out.outcomes[0]!.kind).toBe('lead');
    expect(out.outcomes[0]!.lead.contact.phonesE164[0]).toMatch(/^\+7\d{10}$/);
  });
  it('reads a bare body from stdin', () => {
    const r = run(['form', '-'], JSON.stringify({ name: 'Анна', phone: '8 (912) 000-11-22' }));
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('+79120001122');
  });
  it('exits non-zero naming the problem on bad input', () => {
    const r = run(['form', '-'], '{"name": ');
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/JSON/);
  });
  it('names the known connectors for an unknown one', () => {
    const r = run(['tildaa', '-'], '{}');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/known: .*tilda/);
  });
});
