/**
 * `leadgate schema [--check] [--root <dir>]`: writes the JSON Schemas of the config and mapping files from the
 * live zod schemas (schemas/config.schema.json, mappings/mapping.schema.json). `--check` writes nothing and
 * exits 1 when a committed file differs (CI).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { renderSchemaFiles } from '../config/json-schema.ts';
import { registry } from '../runtime/load-runtime-config.ts';

export async function schemaCommand(args: string[]): Promise<number> {
  let root = '.';
  let check = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--check') check = true;
    else if (a === '--root') root = args[++i] ?? '';
    else if (a === '--help' || a === '-h') {
      process.stdout.write('usage: leadgate schema [--check] [--root <dir>]\n  writes schemas/config.schema.json and mappings/mapping.schema.json from the zod schemas\n');
      return 0;
    } else {
      process.stderr.write(`unknown option "${a}"; usage: leadgate schema [--check] [--root <dir>]\n`);
      return 2;
    }
  }
  const base = resolve(root);
  let stale = 0;
  for (const [file, text] of Object.entries(renderSchemaFiles(registry))) {
    const abs = join(base, file);
    const current = existsSync(abs) ? readFileSync(abs, 'utf8') : undefined;
    if (current === text) {
      process.stdout.write(`${file}: up to date\n`);
      continue;
    }
    if (check) {
      stale++;
      process.stderr.write(`${file}: ${current === undefined ? 'missing' : 'stale'}; run \`npx leadgate schema\` and commit it\n`);
      continue;
    }
    mkdirSync(dirname(abs), { recursive: true });
    writeFileSync(abs, text);
    process.stdout.write(`${file}: written\n`);
  }
  return stale ? 1 : 0;
}
