/**
 * The committed JSON Schemas (schemas/config.schema.json, mappings/mapping.schema.json) are generated from the
 * live zod schemas: this fails when they are stale. It also checks that the files people edit validate against
 * them (what an editor will show) and that the loaders accept a `$schema` key.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync, cpSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, describe, expect, it } from 'vitest';
import { renderSchemaFiles, SCHEMA_FILES } from '../../src/config/json-schema.ts';
import { loadConfigFile } from '../../src/config/load.ts';
import { registry } from '../../src/runtime/load-runtime-config.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const read = (f: string): string => readFileSync(join(ROOT, f), 'utf8');
const tmp = mkdtempSync(join(tmpdir(), 'leadgate-jsonschema-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function validator(file: string) {
  const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
  return ajv.compile(JSON.parse(read(file)) as object);
}

describe('JSON Schemas of the config and mapping files', () => {
  it('are up to date with the zod schemas (else run `npx leadgate schema` and commit)', () => {
    for (const [file, text] of Object.entries(renderSchemaFiles(registry))) {
      expect(read(file), `${file} is stale: run \`npx leadgate schema\``).toBe(text);
    }
  });

  it('carry the TSDoc of each key as its description (editor hover)', () => {
    const cfg = JSON.parse(read(SCHEMA_FILES.config)) as { properties: Record<string, { items?: { properties: Record<string, { description?: string }> } }> };
    expect(cfg.properties.sources?.items?.properties.secretEnv?.description).toMatch(/Env var holding this source's secret/);
  });

  it('the example config and the shipped mappings name their schema and validate against it', () => {
    expect(read('leadgate.example.yaml')).toMatch(/^# yaml-language-server: \$schema=\.\/schemas\/config\.schema\.json$/m);
    const config = validator(SCHEMA_FILES.config);
    expect(config(parse(read('leadgate.example.yaml'))), JSON.stringify(config.errors)).toBe(true);
    const mapping = validator(SCHEMA_FILES.mapping);
    for (const f of ['mappings/amocrm.yaml', 'mappings/bitrix24.yaml']) {
      expect(read(f)).toMatch(/^# yaml-language-server: \$schema=\.\/mapping\.schema\.json$/m);
      expect(mapping(parse(read(f))), `${f}: ${JSON.stringify(mapping.errors)}`).toBe(true);
    }
  });

  it('flag the mistakes the loader stops on', () => {
    const config = validator(SCHEMA_FILES.config);
    expect(config({ sources: [{ id: 'Site Main', connector: 'tilda', name: 'x' }] })).toBe(false);
    expect(config({ sources: [{ id: 'site', connector: 'tilda', name: 'x', secretEnv: 'my secret' }] })).toBe(false);
    expect(config({ gateway: { port: 'eighty' } })).toBe(false);
    // Each connector's own settings schema applies to its sources and accounts.
    expect(config({ sources: [{ id: 'site', connector: 'tilda', name: 'x', settings: { currency: 'RUB' } }] })).toBe(true);
    expect(config({ sources: [{ id: 'site', connector: 'tilda', name: 'x', settings: { curency: 'RUB' } }] })).toBe(false);
    expect(config({ sources: [{ id: 'site', connector: 'tildaa', name: 'x' }] })).toBe(false);
    expect(config({ crm: [{ id: 'main', connector: 'amocrm', settings: { baseUrl: 'https://acme.amocrm.ru', auth: 'token' } }] })).toBe(false);
    const mapping = validator(SCHEMA_FILES.mapping);
    expect(mapping({ crm: 'amocrm', lead: { fields: { UTM_SOURCE: { from: 'utm.source', format: 'camel' } } } })).toBe(false);
    expect(mapping({ crm: 'amocrm', lead: { felds: {} } })).toBe(false);
  });

  it('a `$schema` key is accepted by the config and mapping loaders', () => {
    mkdirSync(join(tmp, 'mappings'));
    cpSync(join(ROOT, 'mappings/amocrm.yaml'), join(tmp, 'mappings/amocrm.yaml'));
    writeFileSync(join(tmp, 'mappings/amocrm.yaml'), `$schema: ./mapping.schema.json\n${read('mappings/amocrm.yaml')}`);
    writeFileSync(
      join(tmp, 'leadgate.yaml'),
      `$schema: ./schemas/config.schema.json\ncrm:\n  - id: main\n    connector: amocrm\n    settings: { baseUrl: https://acme.amocrm.ru, auth: long-lived, tokenEnv: AMO_TOKEN }\nsources:\n  - { id: site, connector: tilda, name: Сайт }\n`,
    );
    const cfg = loadConfigFile(join(tmp, 'leadgate.yaml'), registry, { AMO_TOKEN: 'x'.repeat(20) });
    expect([...cfg.sources.keys()]).toEqual(['site']);
    expect(cfg.crm.get('main')?.mapping.lead.fields).toHaveProperty('UTM_SOURCE');
  });

  it('with a `$schema` key, start-up errors still name file, line, key and fix', () => {
    writeFileSync(join(tmp, 'bad.yaml'), `$schema: ./schemas/config.schema.json\nsources:\n  - id: site\n    connector: tilda\n    name: Сайт\n    secretEnv: TILDA_SECRET\n`);
    expect(() => loadConfigFile(join(tmp, 'bad.yaml'), registry, {})).toThrow(/bad\.yaml:6 sources\.0\.secretEnv: TILDA_SECRET is empty\. Fix: set TILDA_SECRET/);
    writeFileSync(join(tmp, 'mappings/amocrm.yaml'), `$schema: ./mapping.schema.json\ncrm: amocrm\nlead:\n  fields:\n    UTM_SOURCE: { from: utm.sorce }\n`);
    expect(() => loadConfigFile(join(tmp, 'leadgate.yaml'), registry, { AMO_TOKEN: 'x'.repeat(20) })).toThrow(/amocrm\.yaml:5 lead\.fields\.UTM_SOURCE\.from: unknown lead path "utm\.sorce"\. Fix: use one of: utm\.source/);
  });
});
