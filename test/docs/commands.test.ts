/**
 * Every shell command shown in README.md, docs/**\/*.md and the connector READMEs is run here, so the docs cannot
 * drift from the CLI. Convention: a fenced block in `sh`, `bash` or `shell` is runnable; add `no-run` to its info
 * string (```sh no-run) for what needs a live installation (servers, a configured CRM, Redis state, curl to a
 * running hub). A no-run block made only of offline commands (`leadgate normalise|init|new|schema|help`) is an
 * error: it could run, so it must.
 *
 * Every `yaml` block that is a config file or a top-level config section is loaded with the config loader
 * (connector settings included); ```yaml no-check opts out (a connector that does not exist yet).
 *
 * Each file's runnable blocks run in order, in one fresh temp checkout (copies of src, bin, the registry, mappings,
 * schemas and the contract suite; links to node_modules and the existing connectors), under `bash -e -o pipefail`.
 */
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ConfigSchema } from '../../src/config/schema.ts';
import { resolveConfig } from '../../src/config/load.ts';
import { registry } from '../../src/runtime/load-runtime-config.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SHELL = new Set(['sh', 'bash', 'shell']);
/** Commands that need nothing but the checkout: a block of only these must not be `no-run`. */
const OFFLINE = /^npx leadgate (normalise|normalize|init|new|schema|help)\b/;

interface ShellBlock {
  file: string;
  /** 1-based line of the opening fence. */
  line: number;
  info: string;
  code: string;
  runnable: boolean;
}

/** Fenced shell blocks of a markdown text, indented ones (inside list items) included. */
function shellBlocks(file: string, text: string): ShellBlock[] {
  const out: ShellBlock[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,}|~{3,})\s*([^\s`]*)\s*(.*)$/.exec(lines[i]!);
    if (!open) continue;
    const [, indent, fence, lang, rest] = open;
    const body: string[] = [];
    let j = i + 1;
    while (j < lines.length && !new RegExp(`^\\s*${fence![0]}{${fence!.length},}\\s*$`).test(lines[j]!)) body.push(lines[j++]!.slice(indent!.length));
    if (SHELL.has(lang!.toLowerCase())) {
      out.push({ file, line: i + 1, info: `${lang} ${rest}`.trim(), code: body.join('\n'), runnable: !/\bno-run\b/.test(rest!) });
    }
    i = j;
  }
  return out;
}

function markdownFiles(): string[] {
  const files = ['README.md'];
  const walk = (dir: string): void => {
    if (!existsSync(join(ROOT, dir))) return;
    for (const e of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(dir, e.name));
      else if (e.name.endsWith('.md')) files.push(join(dir, e.name));
    }
  };
  walk('docs');
  for (const kind of ['channels', 'crm']) {
    for (const id of readdirSync(join(ROOT, 'connectors', kind))) if (existsSync(join(ROOT, 'connectors', kind, id, 'README.md'))) files.push(`connectors/${kind}/${id}/README.md`);
  }
  return files;
}

/** A checkout the commands may write into (init, new) without touching this one. */
function tempCheckout(): string {
  const t = mkdtempSync(join(tmpdir(), 'leadgate-docs-'));
  for (const f of ['package.json', 'tsconfig.json', 'vitest.config.ts', 'leadgate.example.yaml', 'docker-compose.yml']) cpSync(join(ROOT, f), join(t, f));
  for (const d of ['src', 'bin', 'mappings', 'schemas', 'connectors/_template', 'test/contract', 'test/support']) cpSync(join(ROOT, d), join(t, d), { recursive: true });
  cpSync(join(ROOT, 'connectors/index.ts'), join(t, 'connectors/index.ts'));
  symlinkSync(join(ROOT, 'node_modules'), join(t, 'node_modules'));
  for (const kind of ['channels', 'crm']) {
    mkdirSync(join(t, 'connectors', kind), { recursive: true });
    for (const id of readdirSync(join(ROOT, 'connectors', kind))) symlinkSync(join(ROOT, 'connectors', kind, id), join(t, 'connectors', kind, id));
  }
  return t;
}

const all = markdownFiles().flatMap((f) => shellBlocks(f, readFileSync(join(ROOT, f), 'utf8')));
const byFile = new Map<string, ShellBlock[]>();
for (const b of all.filter((x) => x.runnable)) byFile.set(b.file, [...(byFile.get(b.file) ?? []), b]);

describe('docs: shell blocks', () => {
  it('are found, and runnable ones are the rule', () => {
    expect(all.filter((b) => b.runnable).length).toBeGreaterThanOrEqual(15);
    expect(byFile.has('README.md')).toBe(true);
  });

  it('no-run blocks need a live installation (otherwise drop no-run)', () => {
    const couldRun = all
      .filter((b) => !b.runnable)
      .filter((b) => {
        const cmds = b.code.split('\n').map((l) => l.replace(/#.*$/, '').trim()).filter(Boolean);
        return cmds.length > 0 && cmds.every((c) => OFFLINE.test(c) && !/[<…[]/.test(c));
      })
      .map((b) => `${b.file}:${b.line}`);
    expect(couldRun).toEqual([]);
  });
});

/**
 * Fenced `yaml` blocks that are whole config files or top-level config sections (`sources:`, `crm:`, `telephony:`…);
 * ```yaml no-check for an example of a connector that does not exist yet.
 */
function configBlocks(file: string, text: string): { file: string; line: number; value: Record<string, unknown> }[] {
  const keys = new Set(Object.keys(ConfigSchema.shape));
  const out: { file: string; line: number; value: Record<string, unknown> }[] = [];
  const re = /^([ \t]*)```ya?ml([^\n]*)\n([\s\S]*?)^\1```/gm;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    if (/\bno-check\b/.test(m[2]!)) continue;
    const indent = m[1]!.length;
    const body = m[3]!.split('\n').map((l) => l.slice(indent)).join('\n');
    let value: unknown;
    try {
      value = parse(body);
    } catch {
      continue; // a fragment (`settings:` continued from a block above) is prose, not a file
    }
    if (!value || typeof value !== 'object' || Array.isArray(value)) continue;
    const top = Object.keys(value);
    if (top.length && top.every((k) => keys.has(k))) out.push({ file, line: text.slice(0, m.index).split('\n').length, value: value as Record<string, unknown> });
  }
  return out;
}

describe('docs: configuration examples', () => {
  // Every variable a snippet names is "set": the check is about keys, shapes and connector settings.
  const env = new Proxy({} as NodeJS.ProcessEnv, { get: (_t, k) => (typeof k === 'string' ? `docs-check-value-${k}-0123456789` : undefined) });
  const blocks = markdownFiles().flatMap((f) => configBlocks(f, readFileSync(join(ROOT, f), 'utf8')));
  it('are found', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(10);
  });
  it.each(blocks.map((b) => [`${b.file}:${b.line}`, b] as const))('%s loads with the config loader', (_n, b) => {
    expect(() => resolveConfig({ file: `${b.file}:${b.line}`, value: b.value, lineOf: () => undefined }, registry, env, ROOT)).not.toThrow();
  });
});

/** Runs one block like `bash -e -o pipefail -c`, without blocking the test worker (the RPC to vitest stays alive). */
function runBlock(code: string, cwd: string): Promise<{ status: number | null; signal: NodeJS.Signals | null; out: string }> {
  return new Promise((done) => {
    const child = spawn('bash', ['-e', '-o', 'pipefail', '-c', code], {
      cwd,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1', FORCE_COLOR: '0', LANG: 'C.UTF-8', npm_config_update_notifier: 'false' },
    });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), BLOCK_TIMEOUT_MS);
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      done({ status, signal, out });
    });
  });
}

const BLOCK_TIMEOUT_MS = 60_000;

// Files run side by side; the blocks of one file run in order in its own checkout (a walkthrough builds on itself).
describe.concurrent('docs: runnable blocks', () => {
  for (const [file, blocks] of byFile) {
    it(`${file}: ${blocks.length} block(s) exit 0`, async () => {
      const t = tempCheckout();
      try {
        for (const b of blocks) {
          const r = await runBlock(b.code, t);
          expect(r.status, `${file}:${b.line}\n$ ${b.code}\n--- output (exit ${r.status}${r.signal ? `, ${r.signal}` : ''})\n${r.out}`).toBe(0);
        }
      } finally {
        rmSync(t, { recursive: true, force: true });
      }
    }, 180_000);
  }
});
