/**
 * The TSDoc comments of the zod schemas (`/** Env var holding … @defaultValue 3000 *\/`) as JSON Schema
 * `description`s, so an editor shows them on hover. Read from the schema sources with the TypeScript parser:
 * the comments are the one documentation of every key, and repeating them in `.describe()` would drift.
 * Dev-time only (`leadgate schema`); needs the `typescript` dev dependency.
 */
import { readFileSync } from 'node:fs';
import ts from 'typescript';

/** Key → its doc and, for an object-valued key, the docs of its own keys. */
export interface DocTree {
  [key: string]: { doc?: string; children?: DocTree };
}

function jsDocText(node: ts.Node, sf: ts.SourceFile): string | undefined {
  const ranges = ts.getLeadingCommentRanges(sf.text, node.getFullStart()) ?? [];
  const last = ranges.filter((r) => sf.text.slice(r.pos, r.pos + 3) === '/**').at(-1);
  if (!last) return undefined;
  const text = sf.text
    .slice(last.pos + 3, last.end - 2)
    .split('\n')
    .map((l) => l.replace(/^\s*\*\s?/, '').trim())
    .join(' ')
    .replace(/\s+/g, ' ')
    .replace(/@defaultValue\s+/g, 'Default: ')
    .trim();
  return text || undefined;
}

/** The first object literal passed to z.object / z.strictObject / z.looseObject anywhere in `expr`. */
function objectLiteralIn(expr: ts.Node): ts.ObjectLiteralExpression | undefined {
  let found: ts.ObjectLiteralExpression | undefined;
  const visit = (n: ts.Node): void => {
    if (found) return;
    if (ts.isCallExpression(n) && ts.isPropertyAccessExpression(n.expression) && /^(object|strictObject|looseObject)$/.test(n.expression.name.text)) {
      const arg = n.arguments[0];
      if (arg && ts.isObjectLiteralExpression(arg)) {
        found = arg;
        return;
      }
    }
    // Do not descend into `.default({...})` values: they are data, not shapes.
    if (ts.isCallExpression(n) && ts.isPropertyAccessExpression(n.expression) && /^(default|prefault)$/.test(n.expression.name.text)) {
      visit(n.expression.expression);
      return;
    }
    ts.forEachChild(n, visit);
  };
  visit(expr);
  return found;
}

/** Identifiers of other schema consts used as a key's shape (`z.array(SourceSchema)`, `TaskSettingsSchema.default(…)`). */
function referencedSchema(expr: ts.Node, known: Set<string>): string | undefined {
  let name: string | undefined;
  const visit = (n: ts.Node): void => {
    if (name) return;
    if (ts.isIdentifier(n) && known.has(n.text)) name = n.text;
    else ts.forEachChild(n, visit);
  };
  visit(expr);
  return name;
}

/** Doc trees of every `const <Name> = z.…({ … })` in the given source files, by const name. */
export function readSchemaDocs(files: readonly string[]): Map<string, DocTree> {
  const decls = new Map<string, { init: ts.Expression; sf: ts.SourceFile }>();
  for (const file of files) {
    const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
    sf.forEachChild((st) => {
      if (!ts.isVariableStatement(st)) return;
      for (const d of st.declarationList.declarations) if (ts.isIdentifier(d.name) && d.initializer) decls.set(d.name.text, { init: d.initializer, sf });
    });
  }
  const known = new Set(decls.keys());
  const trees = new Map<string, DocTree>();
  const build = (lit: ts.ObjectLiteralExpression, sf: ts.SourceFile, depth: number): DocTree => {
    const tree: DocTree = {};
    for (const p of lit.properties) {
      if (!ts.isPropertyAssignment(p)) continue;
      const key = ts.isIdentifier(p.name) || ts.isStringLiteral(p.name) ? p.name.text : undefined;
      if (!key) continue;
      const doc = jsDocText(p, sf);
      const inner = objectLiteralIn(p.initializer);
      const ref = inner ? undefined : referencedSchema(p.initializer, known);
      const children = inner ? build(inner, sf, depth + 1) : ref && depth < 8 ? treeOf(ref, depth + 1) : undefined;
      tree[key] = { ...(doc ? { doc } : {}), ...(children ? { children } : {}) };
    }
    return tree;
  };
  const treeOf = (name: string, depth = 0): DocTree | undefined => {
    const cached = trees.get(name);
    if (cached) return cached;
    const d = decls.get(name);
    const lit = d && objectLiteralIn(d.init);
    if (!d || !lit) return undefined;
    const t = build(lit, d.sf, depth);
    trees.set(name, t);
    return t;
  };
  for (const name of known) treeOf(name);
  return trees;
}

type Json = Record<string, unknown>;

/** Puts each key's doc into `description` of its property schema, following arrays, unions and records. */
export function addDescriptions(schema: Json, tree: DocTree | undefined): void {
  if (!tree) return;
  const props = schema.properties as Record<string, Json> | undefined;
  if (props) {
    for (const [key, sub] of Object.entries(props)) {
      const entry = tree[key];
      if (!entry) continue;
      if (entry.doc && sub.description === undefined) sub.description = entry.doc;
      descend(sub, entry.children);
    }
  }
}

function descend(schema: Json, tree: DocTree | undefined): void {
  if (!tree) return;
  addDescriptions(schema, tree);
  for (const k of ['items', 'additionalProperties']) {
    const v = schema[k];
    if (v && typeof v === 'object') descend(v as Json, tree);
  }
  for (const k of ['anyOf', 'oneOf', 'allOf']) {
    const v = schema[k];
    if (Array.isArray(v)) for (const s of v) if (s && typeof s === 'object') descend(s as Json, tree);
  }
}
