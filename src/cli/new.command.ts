/**
 * `leadgate new channel|crm <id> [--root <dir>] [--title "Human name"]`: copies `connectors/_template/<kind>/`
 * into `connectors/<channels|crm>/<id>/` with the names filled in, and registers the connector in
 * `connectors/index.ts` (one import, one array entry). The generated channel passes the shared contract suite
 * as it is; the CRM skeleton type-checks and names what is left to write. `--root` generates into another
 * checkout (tests use a temp copy).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export type ConnectorKind = 'channel' | 'crm';

const KEBAB = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;
/** The templates shipped with this installation, when the target root has none of its own. */
const SHIPPED_TEMPLATES = fileURLToPath(new URL('../../connectors/_template/', import.meta.url));

export class ScaffoldError extends Error {}

export interface ConnectorNames {
  id: string;
  /** `yandex-forms` → `yandexForms` */
  camel: string;
  /** `yandex-forms` → `YandexForms` */
  pascal: string;
  /** `yandex-forms` → `YANDEX_FORMS` (env var prefix) */
  env: string;
  title: string;
  /** The registry export: `yandexFormsChannel` / `yandexFormsCrm`. */
  exportName: string;
}

export function connectorNames(kind: ConnectorKind, id: string, title?: string): ConnectorNames {
  if (!KEBAB.test(id)) {
    throw new ScaffoldError(`"${id}" is not a kebab-case id: use lower-case latin letters and digits, words joined by single dashes, starting with a letter (e.g. yandex-forms)`);
  }
  if (title !== undefined && /["\\`$\n]/.test(title)) throw new ScaffoldError(`--title "${title}": use plain words (no quotes, backslashes, backticks or $)`);
  const words = id.split('-');
  const pascal = words.map((w) => w[0]!.toUpperCase() + w.slice(1)).join('');
  const camel = pascal[0]!.toLowerCase() + pascal.slice(1);
  return {
    id,
    camel,
    pascal,
    env: words.join('_').toUpperCase(),
    title: title?.trim() || words.map((w) => w[0]!.toUpperCase() + w.slice(1)).join(' '),
    exportName: `${camel}${kind === 'channel' ? 'Channel' : 'Crm'}`,
  };
}

/** Fills `__ID__`, `__CAMEL__`, `__PASCAL__`, `__ENV__`, `__TITLE__` in a template text or file name. */
export function fillTemplate(text: string, n: ConnectorNames): string {
  return text
    .replaceAll('__ID__', n.id)
    .replaceAll('__CAMEL__', n.camel)
    .replaceAll('__PASCAL__', n.pascal)
    .replaceAll('__ENV__', n.env)
    .replaceAll('__TITLE__', n.title.replaceAll("'", '’'));
}

/**
 * The registry with the connector added: its import after the last one below `// channel imports` (or
 * `// crm imports`), its export at the end of the `channels` (or `crms`) array. Pure; throws naming what is wrong.
 */
export function registerInIndex(text: string, kind: ConnectorKind, n: ConnectorNames): string {
  const folder = kind === 'channel' ? 'channels' : 'crm';
  const importPath = `./${folder}/${n.id}/index.ts`;
  if (text.includes(`'${importPath}'`)) throw new ScaffoldError(`connectors/index.ts already imports ${importPath}: the id "${n.id}" is taken`);
  if (new RegExp(`\\b${n.exportName}\\b`).test(text)) throw new ScaffoldError(`connectors/index.ts already has a name ${n.exportName}: choose another id`);
  const lines = text.split('\n');
  const marker = kind === 'channel' ? '// channel imports' : '// crm imports';
  const arrayStart = kind === 'channel' ? 'export const channels' : 'export const crms';
  const m = lines.findIndex((l) => l.trim() === marker);
  const a = lines.findIndex((l) => l.startsWith(arrayStart));
  const end = a < 0 ? -1 : lines.findIndex((l, i) => i > a && l.trim() === '];');
  if (m < 0 || a < 0 || end < 0) {
    throw new ScaffoldError(
      `connectors/index.ts: cannot find the "${marker}" comment and the "${arrayStart}" array; register by hand: import { ${n.exportName} } from '${importPath}'; and add ${n.exportName} to the array`,
    );
  }
  let at = m + 1;
  while (at < lines.length && lines[at]!.startsWith('import ')) at++;
  const entry = `  ${n.exportName},`;
  // Insert the array entry first: it lies below the import block, so the import's index stays valid.
  lines.splice(end, 0, entry);
  lines.splice(at, 0, `import { ${n.exportName} } from '${importPath}';`);
  return lines.join('\n');
}

interface Planned {
  file: string;
  text: string;
}

function listFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...listFiles(p).map((f) => join(name, f)));
    else out.push(name);
  }
  return out;
}

/** Generates the connector under `root`; returns the files written (relative to root). Throws ScaffoldError. */
export function scaffoldConnector(o: { root: string; kind: ConnectorKind; id: string; title?: string }): string[] {
  const n = connectorNames(o.kind, o.id, o.title);
  const root = resolve(o.root);
  const indexFile = join(root, 'connectors', 'index.ts');
  if (!existsSync(indexFile)) throw new ScaffoldError(`${indexFile} not found: run in the Leadgate checkout or pass --root <checkout>`);
  const own = join(root, 'connectors', '_template', o.kind);
  const templateDir = existsSync(own) ? own : join(SHIPPED_TEMPLATES, o.kind);
  if (!existsSync(templateDir)) throw new ScaffoldError(`no template at ${own}`);
  const target = join(root, 'connectors', o.kind === 'channel' ? 'channels' : 'crm', n.id);
  if (existsSync(target)) throw new ScaffoldError(`${relative(root, target)} already exists: the id "${n.id}" is taken`);
  const registry = registerInIndex(readFileSync(indexFile, 'utf8'), o.kind, n);

  const planned: Planned[] = [];
  for (const rel of listFiles(templateDir)) {
    const text = fillTemplate(readFileSync(join(templateDir, rel), 'utf8'), n);
    const name = fillTemplate(rel, n).replace(/\.tpl$/, '');
    // A CRM's mapping file lives with the others, where the config loader looks by default.
    if (o.kind === 'crm' && name === 'mapping.yaml') {
      const mapping = join(root, 'mappings', `${n.id}.yaml`);
      if (!existsSync(mapping)) planned.push({ file: mapping, text });
      continue;
    }
    planned.push({ file: join(target, name), text });
  }
  for (const p of planned) {
    mkdirSync(dirname(p.file), { recursive: true });
    writeFileSync(p.file, p.text);
  }
  writeFileSync(indexFile, registry);
  return [...planned.map((p) => relative(root, p.file)), relative(root, indexFile) + ' (registered)'];
}

const USAGE = 'usage: leadgate new channel|crm <kebab-case-id> [--title "Human name"] [--root <checkout>]\n';

export async function newCommand(args: string[]): Promise<number> {
  const positional: string[] = [];
  const opts: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--help' || a === '-h') {
      process.stdout.write(USAGE);
      return 0;
    }
    if (a.startsWith('--')) opts[a.slice(2)] = args[++i] ?? '';
    else positional.push(a);
  }
  const [kind, id] = positional;
  if ((kind !== 'channel' && kind !== 'crm') || !id) {
    process.stderr.write(USAGE);
    return 2;
  }
  const root = opts.root ?? '.';
  let written: string[];
  try {
    written = scaffoldConnector({ root, kind, id, ...(opts.title ? { title: opts.title } : {}) });
  } catch (err) {
    if (err instanceof ScaffoldError) {
      process.stderr.write(`leadgate new ${kind}: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
  process.stdout.write(`Created the ${kind} connector "${id}":\n${written.map((f) => `  ${f}`).join('\n')}\n\n`);
  const dir = `connectors/${kind === 'channel' ? 'channels' : 'crm'}/${id}`;
  process.stdout.write(
    kind === 'channel'
      ? `Next:\n  1. ${dir}/payload.ts: link the sender's webhook docs and describe its payload.\n  2. Replace fixtures/*.http with real captured requests; UPDATE_GOLDENS=1 npx vitest run test/contract -t "${id}" writes the goldens (review the diff).\n  3. npx vitest run test/contract/channel-contract.test.ts ${dir}\n  4. Fill in the TODOs of ${dir}/README.md; see docs/connectors.md.\n  5. npx leadgate schema   (the config file's editor schema now knows "${id}" and its settings)\n`
      : `Next: follow "Finishing the connector" in ${dir}/README.md. Until deliver() is written, each lead stops with a config error naming the step.\nThen: npx leadgate schema   (the config file's editor schema now knows "${id}" and its settings)\n`,
  );
  return 0;
}
