// Reads YAML and JSON files (JSON is read as YAML) into plain values, keeping the 1-based line of every node so errors can point at it.
import { readFile } from 'node:fs/promises';
import { LineCounter, isMap, isScalar, isSeq, parseDocument, type Node } from 'yaml';
import { SpecFileError } from './spec-file-error.js';

/** A place in a parsed value: map keys and list indexes, outermost first. */
export type FieldPath = readonly (string | number)[];

/** A parsed file: its value and where each node of it was written. */
export interface SourceDocument {
  /** As shown in messages: relative to the project folder. */
  file: string;
  absolutePath: string;
  value: unknown;
  /** `formatFieldPath(path)` → 1-based line; a map entry's line is its key's. */
  lines: ReadonlyMap<string, number>;
}

/** Where something was written, for an error message. */
export interface SourceLocation {
  file: string;
  line?: number;
  field?: string;
}

const plainKey = /^[A-Za-z_$][A-Za-z0-9_$-]*$/;

/** `['specs', 0, 'size']` → `specs[0].size`, the form messages use; `start` is a path already formatted to continue. */
export function formatFieldPath(path: FieldPath, start = ''): string {
  let text = start;
  for (const part of path) {
    if (typeof part === 'number') text += `[${part}]`;
    else if (plainKey.test(part)) text += text === '' ? part : `.${part}`;
    else text += `[${JSON.stringify(part)}]`;
  }
  return text;
}

/** The line of the deepest node on `path` that the file has (a missing field points at its parent). */
export function lineAt(document: Pick<SourceDocument, 'lines'>, path: FieldPath): number | undefined {
  for (let length = path.length; length >= 0; length -= 1) {
    const line = document.lines.get(formatFieldPath(path.slice(0, length)));
    if (line !== undefined) return line;
  }
  return undefined;
}

/** Parses YAML or JSON text; malformed text is a SpecFileError naming the file, the line and the parser's message. */
export function parseSource(text: string, file: string, absolutePath: string): SourceDocument {
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const [firstError] = document.errors;
  if (firstError !== undefined) {
    throw new SpecFileError({
      file,
      line: lineCounter.linePos(firstError.pos[0]).line,
      problem: `is not valid YAML or JSON: ${firstError.message}`,
      fix: 'correct the syntax at that line (check indentation, quotes and brackets)',
      cause: firstError,
    });
  }
  const lines = new Map<string, number>();
  const contents = document.contents as Node | null;
  if (contents?.range) {
    lines.set('', lineCounter.linePos(contents.range[0]).line);
    collectLines(contents, [], lineCounter, lines);
  }
  return { file, absolutePath, value: document.toJS({ maxAliasCount: 100 }), lines };
}

/** Reads and parses a file; a missing or unreadable one is a SpecFileError pointing at where it was named. */
export async function readSource(absolutePath: string, file: string, namedAt: SourceLocation & { value: string }): Promise<SourceDocument> {
  return parseSource(await readNamedFile(absolutePath, namedAt), file, absolutePath);
}

/** Reads a file named by a field; failures point at that field. */
export async function readNamedFile(absolutePath: string, namedAt: SourceLocation & { value: string }): Promise<string> {
  try {
    return await readFile(absolutePath, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const problem = code === 'ENOENT' ? `${JSON.stringify(namedAt.value)} does not exist (looked for ${absolutePath})` : `${JSON.stringify(namedAt.value)} cannot be read (${code ?? String(error)})`;
    throw new SpecFileError({ ...namedAt, problem, fix: `check the path; it is relative to the folder of ${namedAt.file}`, cause: error });
  }
}

function collectLines(node: unknown, path: (string | number)[], lineCounter: LineCounter, lines: Map<string, number>): void {
  if (isMap(node)) {
    for (const pair of node.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
      const childPath = [...path, key];
      const keyNode = pair.key as Node | null;
      const start = keyNode?.range?.[0] ?? (pair.value as Node | null)?.range?.[0];
      if (start !== undefined) lines.set(formatFieldPath(childPath), lineCounter.linePos(start).line);
      collectLines(pair.value, childPath, lineCounter, lines);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, index) => {
      const childPath = [...path, index];
      const start = (item as Node | null)?.range?.[0];
      if (start !== undefined) lines.set(formatFieldPath(childPath), lineCounter.linePos(start).line);
      collectLines(item, childPath, lineCounter, lines);
    });
  }
}
