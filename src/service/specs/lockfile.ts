// pixelpipe.lock: what each output was built from (key, seed, model, hashes), written so that diffs stay small and readable.
import { randomBytes } from 'node:crypto';
import { readFile, rename, unlink, open } from 'node:fs/promises';
import { basename } from 'node:path';
import { z } from 'zod';
import type { LockEntry, Lockfile } from '../build/build-types.js';
import { validate } from './schema-issues.js';
import { SpecFileError } from './spec-file-error.js';
import { parseSource } from './spec-files.js';

const rebuildFix = 'delete it to rebuild everything';
const sha256Text = z.string().regex(/^sha256:[0-9a-f]{64}$/);

const lockEntrySchema = z.strictObject({
  path: z.string().min(1),
  spec: z.string().min(1),
  key: sha256Text,
  seed: z.string().regex(/^\d+$/),
  model: z.string().min(1),
  modelHash: z.string().optional(),
  candidate: z.int().min(0),
  scores: z.array(z.number()).optional(),
  sha256: sha256Text,
  pixelSha256: sha256Text.optional(),
  recordId: z.string().min(1),
});
const lockfileSchema = z.strictObject({ version: z.literal(1), outputs: z.array(lockEntrySchema) });

/** Field order in the file; a fixed order keeps diffs to the fields that changed. */
const entryFields = ['path', 'spec', 'key', 'seed', 'model', 'modelHash', 'candidate', 'scores', 'sha256', 'pixelSha256', 'recordId'] as const satisfies readonly (keyof LockEntry)[];

/** The lockfile at `path`, or undefined when there is none; a damaged one is a SpecFileError that says to delete it. */
export async function readLockfile(path: string): Promise<Lockfile | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new SpecFileError({ file: path, problem: `cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)})`, fix: `check its permissions, or ${rebuildFix}`, cause: error });
  }
  const file = basename(path);
  try {
    const document = parseSource(text, file, path);
    JSON.parse(text);
    const checked = validate(lockfileSchema, document.value, document);
    if ('errors' in checked) {
      const [first] = checked.errors;
      throw new SpecFileError({ file, line: first.line, field: first.field, value: first.value, problem: `${first.problem} (the lockfile is damaged or from another version)`, fix: rebuildFix });
    }
    return checked.value as Lockfile;
  } catch (error) {
    if (SpecFileError.isInstance(error) && error.fix === rebuildFix) throw error;
    // A syntax error from the YAML reader (which gives the line) or from JSON.parse (stricter, no line).
    const line = SpecFileError.isInstance(error) ? error.line : undefined;
    const reason = SpecFileError.isInstance(error) ? (error.cause as Error).message : (error as Error).message;
    throw new SpecFileError({ file, line, problem: `is not valid JSON: ${reason}`, fix: rebuildFix, cause: error });
  }
}

/** JSON with 2-space indent, entries sorted by path, fields in a fixed order, scores on one line, a trailing newline and no timestamps. */
export function formatLockfile(lock: Lockfile): string {
  const entries = [...lock.outputs].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const formatted = entries.map((entry) => {
    const lines = entryFields
      .filter((field) => entry[field] !== undefined)
      .map((field) => `      ${JSON.stringify(field)}: ${field === 'scores' ? `[${entry.scores!.map((score) => JSON.stringify(score)).join(', ')}]` : JSON.stringify(entry[field])}`);
    return `    {\n${lines.join(',\n')}\n    }`;
  });
  const outputs = formatted.length === 0 ? '[]' : `[\n${formatted.join(',\n')}\n  ]`;
  return `{\n  "version": 1,\n  "outputs": ${outputs}\n}\n`;
}

/** Writes the lockfile through a temporary file and a rename, so a crash leaves the old one or the new one, never half of one. */
export async function writeLockfile(path: string, lock: Lockfile): Promise<void> {
  const temporary = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const handle = await open(temporary, 'w');
  try {
    await handle.writeFile(formatLockfile(lock), 'utf8');
    await handle.sync();
    await handle.close();
    await rename(temporary, path);
  } catch (error) {
    await handle.close().catch(() => undefined);
    await unlink(temporary).catch(() => undefined);
    throw error;
  }
}
