/**
 * JSON Schemas of the config file and the mapping files, generated from the live zod schemas, so editors
 * (VS Code YAML, JetBrains) complete keys and flag mistakes while typing. `npx leadgate schema` writes them;
 * `test/docs/json-schema.test.ts` fails when the committed files are stale.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { ConfigSchema } from './schema.ts';
import type { Registry } from './load.ts';
import { MappingSchema } from '../mapping/load.ts';
import { addDescriptions, readSchemaDocs, type DocTree } from './schema-docs.ts';

const CONNECTORS_DIR = fileURLToPath(new URL('../../connectors/', import.meta.url));

const SOURCES = {
  config: { file: new URL('./schema.ts', import.meta.url), root: 'ConfigSchema' },
  mapping: { file: new URL('../mapping/load.ts', import.meta.url), root: 'MappingSchema' },
};

/** Where the generated files live, relative to the project root. */
export const SCHEMA_FILES = {
  config: 'schemas/config.schema.json',
  mapping: 'mappings/mapping.schema.json',
} as const;

type JsonObject = Record<string, unknown>;

/**
 * The file a person writes, not the value after defaults: `io: 'input'`, so keys with a default are optional.
 * A `$schema` key is allowed at the root (the loaders ignore it) so a file may name its schema itself.
 */
function fileSchema(schema: z.ZodType, docs: { file: URL; root: string }, meta: { title: string; description: string }): JsonObject {
  const js = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as JsonObject;
  addDescriptions(js, readSchemaDocs([docs.file.pathname]).get(docs.root));
  const properties = (js.properties ?? {}) as JsonObject;
  return {
    $schema: js.$schema,
    title: meta.title,
    description: meta.description,
    ...js,
    properties: { $schema: { type: 'string', description: 'Path or URL of this JSON Schema (for editors); ignored by Leadgate.' }, ...properties },
  };
}

export function configJsonSchema(registry: Registry): JsonObject {
  const js = fileSchema(ConfigSchema, SOURCES.config, {
    title: 'Leadgate configuration (leadgate.yaml)',
    description:
      'Sources (senders), CRM accounts, gateway, workers, telephony and mail. Secrets are never written here: *Env keys name environment variables. Each connector\'s settings are described by its own schema below and in connectors/<kind>/<id>/README.md.',
  });
  const props = js.properties as Record<string, JsonObject>;
  withConnectorSettings(props.sources, 'channels', registry.channels);
  withConnectorSettings(props.crm, 'crm', registry.crms);
  return js;
}

/**
 * `sources[]` / `crm[]` items: `connector` completes to the registered ids, and `settings` is checked against
 * that connector's own schema (`if connector is X then settings is X's`), with the connector's TSDoc as hover text.
 */
function withConnectorSettings(array: JsonObject | undefined, kind: 'channels' | 'crm', connectors: readonly { id: string; settings: z.ZodType }[]): void {
  const item = array?.items as JsonObject | undefined;
  const props = item?.properties as Record<string, JsonObject> | undefined;
  if (!item || !props?.connector) return;
  props.connector = { ...props.connector, enum: connectors.map((c) => c.id) };
  item.allOf = connectors.map((c) => {
    const settings = z.toJSONSchema(c.settings, { io: 'input', unrepresentable: 'any' }) as JsonObject;
    delete settings.$schema;
    addDescriptions(settings, connectorDocs(kind, c.id, settings));
    return { if: { properties: { connector: { const: c.id } }, required: ['connector'] }, then: { properties: { settings } } };
  });
}

/** The TSDoc of a connector's settings schema: the schema const in its folder whose keys are the settings' keys. */
function connectorDocs(kind: 'channels' | 'crm', id: string, settings: JsonObject): DocTree | undefined {
  const dir = join(CONNECTORS_DIR, kind, id);
  if (!existsSync(dir)) return undefined;
  const files = readdirSync(dir).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts')).map((f) => join(dir, f));
  const keys = Object.keys((settings.properties ?? {}) as JsonObject).sort().join(',');
  for (const tree of readSchemaDocs(files).values()) if (Object.keys(tree).sort().join(',') === keys) return tree;
  return undefined;
}

export function mappingJsonSchema(): JsonObject {
  return fileSchema(MappingSchema, SOURCES.mapping, {
    title: 'Leadgate CRM mapping (mappings/<crm>.yaml)',
    description:
      'Which Lead value goes into which CRM field. A value is a literal, { from: <lead path> } or { env: NAME }, with optional default and format. Targets are checked against the live CRM account at start-up.',
  });
}

/** File path (relative to the root) → its exact contents, with a trailing newline. */
export function renderSchemaFiles(registry: Registry): Record<string, string> {
  return {
    [SCHEMA_FILES.config]: JSON.stringify(configJsonSchema(registry), null, 2) + '\n',
    [SCHEMA_FILES.mapping]: JSON.stringify(mappingJsonSchema(), null, 2) + '\n',
  };
}
