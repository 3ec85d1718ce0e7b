import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfigFile } from '../../src/config/load.ts';
import { loadMapping } from '../../src/mapping/load.ts';
import { applyMapping } from '../../src/mapping/apply.ts';
import { registry } from '../../src/runtime/load-runtime-config.ts';
import { LeadSchema } from '../../src/sdk/lead.ts';

function tmp(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'lg-cfg-'));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

describe('a bad config stops start-up naming file, line, key and fix', () => {
  it('YAML syntax error → the line', () => {
    const dir = tmp({ 'leadgate.yaml': 'sources:\n  - id: a\n    name: [unclosed\n' });
    expect(() => loadConfigFile(join(dir, 'leadgate.yaml'), registry, {})).toThrow(/leadgate\.yaml:\d+ \(yaml\):.*Fix: correct the YAML syntax/);
  });
  it('a wrong value → its line and key', () => {
    const dir = tmp({ 'leadgate.yaml': 'gateway:\n  port: 3000\nsources:\n  - id: Bad_Id\n    connector: form\n    name: x\n' });
    expect(() => loadConfigFile(join(dir, 'leadgate.yaml'), registry, {})).toThrow(/leadgate\.yaml:4 sources\.0\.id: .*kebab-case/);
  });
  it('unknown connector settings key → strict schema names it', () => {
    const dir = tmp({ 'leadgate.yaml': 'sources:\n  - id: a\n    connector: form\n    name: x\n    settings:\n      honeypott: x\n' });
    expect(() => loadConfigFile(join(dir, 'leadgate.yaml'), registry, {})).toThrow(/leadgate\.yaml:\d+ sources\.0\.settings.*Fix: see connectors\/channels\/form\/README\.md/);
  });
  it('a signed channel without a secret is refused', () => {
    const dir = tmp({ 'leadgate.yaml': 'sources:\n  - id: pbx-main\n    connector: mango\n    name: Mango\n    settings: { apiKey: k }\n' });
    expect(() => loadConfigFile(join(dir, 'leadgate.yaml'), registry, {})).toThrow(/secretEnv/);
  });
});

describe('mappings are data, checked at load', () => {
  it('an unknown lead path names the file, line and the known paths', () => {
    const dir = tmp({ 'm.yaml': 'crm: amocrm\nlead:\n  fields:\n    UTM_SOURCE: { from: utm.sorce }\n' });
    expect(() => loadMapping(join(dir, 'm.yaml'), 'amocrm', {})).toThrow(/m\.yaml:4 lead\.fields\.UTM_SOURCE\.from: unknown lead path "utm\.sorce".*utm\.source/);
  });
  it('expressions are not allowed', () => {
    const dir = tmp({ 'm.yaml': 'crm: amocrm\nlead:\n  fields:\n    X: { from: title, expr: "a+b" }\n' });
    expect(() => loadMapping(join(dir, 'm.yaml'), 'amocrm', {})).toThrow(/m\.yaml:4/);
  });
  it('apply resolves literals, from, env, default and format; skips empties', () => {
    const dir = tmp({ 'm.yaml': 'crm: amocrm\nlead:\n  fields:\n    A: literal\n    B: { from: utm.source }\n    C: { from: utm.term, default: none }\n    D: { env: LG_T_ENV, format: upper }\n    E: { from: contact.phone, format: ru-display }\n    F: { from: tracking.gclid }\n' });
    const m = loadMapping(join(dir, 'm.yaml'), 'amocrm', { LG_T_ENV: 'x' });
    const lead = LeadSchema.parse({ source: { channel: 'form', sourceId: 's', name: 'S' }, externalId: 'e', contact: { phonesE164: ['+79123456789'] }, title: 't', utm: { source: 'yandex' }, occurredAt: '2026-01-01T00:00:00Z' });
    expect(applyMapping(m, lead, { LG_T_ENV: 'x' }).map((f) => `${f.target}=${f.value}`)).toEqual(['A=literal', 'B=yandex', 'C=none', 'D=X', 'E=+7 (912) 345-67-89']);
  });
});
