/**
 * `leadgate new channel|crm`: generates into a temp checkout (real copies of the registry, the templates and the
 * contract suite; symlinks to src/, node_modules and the existing connectors), then runs the shared channel
 * contract suite and the generated unit tests there with vitest, and type-checks the generated folders with tsc.
 * The generated channel must pass as generated, with no extra code.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectorNames, registerInIndex, ScaffoldError } from '../../src/cli/new.command.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = join(ROOT, 'bin/leadgate.mjs');

/** A checkout the scaffold may write into without touching this one. */
function tempCheckout(): string {
  const t = mkdtempSync(join(tmpdir(), 'leadgate-scaffold-'));
  for (const f of ['package.json', 'tsconfig.json']) cpSync(join(ROOT, f), join(t, f));
  symlinkSync(join(ROOT, 'node_modules'), join(t, 'node_modules'));
  symlinkSync(join(ROOT, 'src'), join(t, 'src'));
  cpSync(join(ROOT, 'connectors/index.ts'), join(t, 'connectors/index.ts'), { recursive: true });
  cpSync(join(ROOT, 'connectors/_template'), join(t, 'connectors/_template'), { recursive: true });
  for (const kind of ['channels', 'crm']) {
    mkdirSync(join(t, 'connectors', kind), { recursive: true });
    for (const id of readdirSync(join(ROOT, 'connectors', kind))) symlinkSync(join(ROOT, 'connectors', kind, id), join(t, 'connectors', kind, id));
  }
  cpSync(join(ROOT, 'mappings'), join(t, 'mappings'), { recursive: true });
  // Copies, not links: their relative imports must resolve to the temp registry.
  cpSync(join(ROOT, 'test/contract/channel-contract.test.ts'), join(t, 'test/contract/channel-contract.test.ts'));
  cpSync(join(ROOT, 'test/support/http-fixture.ts'), join(t, 'test/support/http-fixture.ts'));
  return t;
}

function run(cmd: string, args: string[], cwd: string, timeoutMs = 90_000): { status: number | null; out: string } {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: timeoutMs, env: { ...process.env, UPDATE_GOLDENS: '', NO_COLOR: '1', FORCE_COLOR: '0' } });
  return { status: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

/** The entries of `export const <name> … = [ … ];` in the registry, in order. */
function arrayOf(registry: string, name: string): string[] {
  const body = registry.split(`export const ${name}`)[1]?.split('= [')[1]?.split('\n];')[0] ?? '';
  return body.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('//')).map((l) => l.replace(/,$/, ''));
}

const leadgate = (cwd: string, ...args: string[]) => run(process.execPath, [CLI, ...args], cwd);

describe('leadgate new (into a temp checkout)', () => {
  let t: string;
  beforeAll(() => {
    t = tempCheckout();
  });
  afterAll(() => {
    if (t) rmSync(t, { recursive: true, force: true });
  });

  it('scaffolds a channel that passes the shared contract suite and its own tests as generated', () => {
    const r = leadgate(ROOT, 'new', 'channel', 'marquiz-quiz', '--title', 'Marquiz', '--root', t);
    expect(r.out).toContain('Created the channel connector "marquiz-quiz"');
    expect(r.status).toBe(0);
    const dir = join(t, 'connectors/channels/marquiz-quiz');
    for (const f of ['index.ts', 'payload.ts', 'normalise.ts', 'README.md', 'marquiz-quiz.test.ts', 'fixtures/lead.http', 'fixtures/lead.expected.json']) {
      expect(existsSync(join(dir, f)), f).toBe(true);
    }
    expect(readFileSync(join(dir, 'payload.ts'), 'utf8')).toMatch(/Vendor documentation: TODO/);
    expect(readFileSync(join(dir, 'README.md'), 'utf8')).toContain('/hooks/marquiz-quiz/');
    const registry = readFileSync(join(t, 'connectors/index.ts'), 'utf8');
    expect(registry).toContain("import { marquizQuizChannel } from './channels/marquiz-quiz/index.ts';");
    expect(arrayOf(registry, 'channels').at(-1)).toBe('marquizQuizChannel');
    // This checkout's registry is untouched.
    expect(readFileSync(join(ROOT, 'connectors/index.ts'), 'utf8')).not.toContain('marquiz');

    writeFileSync(
      join(t, 'vitest.config.ts'),
      `import { defineConfig } from 'vitest/config';
export default defineConfig({
  resolve: { alias: { '#sdk': new URL('./src/sdk/index.ts', import.meta.url).pathname } },
  test: { include: ['test/contract/channel-contract.test.ts', 'connectors/channels/marquiz-quiz/**/*.test.ts', 'connectors/crm/mega-crm/**/*.test.ts'], pool: 'forks' },
});
`,
    );
    const report = join(t, 'report.json');
    const v = run(process.execPath, [join(ROOT, 'node_modules/vitest/vitest.mjs'), 'run', '-t', 'marquiz-quiz', '--reporter=json', `--outputFile=${report}`], t, 120_000);
    expect(v.status, v.out).toBe(0);
    const results = (JSON.parse(readFileSync(report, 'utf8')) as { testResults: { assertionResults: { fullName: string; status: string }[] }[] }).testResults.flatMap((f) => f.assertionResults);
    const ours = results.filter((a) => a.fullName.includes('marquiz-quiz'));
    const contract = ours.filter((a) => a.fullName.includes('channel contract: marquiz-quiz'));
    // fixtures present + 3 goldens (lead, redelivery, empty) + 1 invalid + eventId stability
    expect(contract.map((a) => a.status)).toEqual(Array(6).fill('passed'));
    expect(ours.filter((a) => !a.fullName.includes('channel contract')).length).toBeGreaterThanOrEqual(5);
    expect(ours.every((a) => a.status === 'passed')).toBe(true);
  });

  it('scaffolds a CRM skeleton that type-checks, with its mapping file and passing unit tests', () => {
    const r = leadgate(ROOT, 'new', 'crm', 'mega-crm', '--root', t);
    expect(r.status, r.out).toBe(0);
    expect(arrayOf(readFileSync(join(t, 'connectors/index.ts'), 'utf8'), 'crms').at(-1)).toBe('megaCrmCrm');
    expect(readFileSync(join(t, 'mappings/mega-crm.yaml'), 'utf8')).toContain('crm: mega-crm');
    expect(readFileSync(join(t, 'connectors/crm/mega-crm/deliver.ts'), 'utf8')).toContain('TODO');

    writeFileSync(join(t, 'tsconfig.scaffold.json'), JSON.stringify({ extends: './tsconfig.json', include: ['connectors/crm/mega-crm', 'connectors/channels/marquiz-quiz'] }));
    const tsc = run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '--noEmit', '-p', 'tsconfig.scaffold.json'], t, 120_000);
    expect(tsc.out).toBe('');
    expect(tsc.status).toBe(0);

    const v = run(process.execPath, [join(ROOT, 'node_modules/vitest/vitest.mjs'), 'run', 'connectors/crm/mega-crm'], t, 120_000);
    expect(v.out).toMatch(/Tests\s+8 passed/);
    expect(v.status).toBe(0);
  });

  it('refuses an id that exists or is not kebab-case, naming the problem and writing nothing', () => {
    const before = readFileSync(join(t, 'connectors/index.ts'), 'utf8');
    const taken = leadgate(ROOT, 'new', 'channel', 'tilda', '--root', t);
    expect(taken.status).toBe(1);
    expect(taken.out).toMatch(/connectors\/channels\/tilda already exists: the id "tilda" is taken/);
    const bad = leadgate(ROOT, 'new', 'channel', 'Yandex_Forms', '--root', t);
    expect(bad.status).toBe(1);
    expect(bad.out).toContain('"Yandex_Forms" is not a kebab-case id');
    expect(existsSync(join(t, 'connectors/channels/Yandex_Forms'))).toBe(false);
    expect(readFileSync(join(t, 'connectors/index.ts'), 'utf8')).toBe(before);
  });
});

describe('registerInIndex', () => {
  const index = `import type { X } from '#sdk';\n// channel imports\nimport { a } from './channels/a/index.ts';\n// crm imports\nimport { c } from './crm/c/index.ts';\n\nexport const channels = [\n  // channels\n  a,\n];\n\nexport const crms = [\n  c,\n];\n`;

  it('adds one import under its marker and one entry at the end of its array', () => {
    const out = registerInIndex(index, 'crm', connectorNames('crm', 'new-one'));
    expect(out).toBe(index.replace("import { c } from './crm/c/index.ts';\n", "import { c } from './crm/c/index.ts';\nimport { newOneCrm } from './crm/new-one/index.ts';\n").replace('  c,\n];', '  c,\n  newOneCrm,\n];'));
  });

  it('fails clearly when the id is registered or the markers are gone', () => {
    const once = registerInIndex(index, 'channel', connectorNames('channel', 'b'));
    expect(() => registerInIndex(once, 'channel', connectorNames('channel', 'b'))).toThrow(/already imports \.\/channels\/b\/index\.ts/);
    expect(() => registerInIndex(index.replace('// channel imports\n', ''), 'channel', connectorNames('channel', 'b'))).toThrow(ScaffoldError);
    expect(() => connectorNames('channel', '9lives')).toThrow(/kebab-case/);
    expect(() => connectorNames('channel', 'a--b')).toThrow(/kebab-case/);
  });
});
