import { LineCounter, parseDocument, isNode, type Document } from 'yaml';

/** A parsed YAML file that can tell the line of any key path, for error messages. */
export interface LocatedYaml {
  file: string;
  value: unknown;
  lineOf(path: readonly (string | number)[]): number | undefined;
}

export function parseLocatedYaml(file: string, text: string): LocatedYaml | { error: string; line?: number } {
  const lc = new LineCounter();
  const doc: Document = parseDocument(text, { lineCounter: lc, prettyErrors: false });
  if (doc.errors.length) {
    const e = doc.errors[0]!;
    return { error: e.message.split('\n')[0]!, line: lc.linePos(e.pos[0]).line };
  }
  return {
    file,
    value: doc.toJS(),
    lineOf(path) {
      // Walk up until a node with a position exists (a missing key reports its parent).
      for (let n = path.length; n >= 0; n--) {
        const node = doc.getIn(path.slice(0, n), true);
        if (isNode(node) && node.range) return lc.linePos(node.range[0]).line;
      }
      return undefined;
    },
  };
}
