// Loads a project: finds pixelpipe.yaml, reads it and every spec and data file it names, and checks them all before anything is built.
import { readdir, stat } from 'node:fs/promises';
import { basename, dirname, relative, resolve, sep } from 'node:path';
import { normaliseOutputDir } from './output-paths.js';
import { locateField, type LoadedSpec, type Project } from './project-types.js';
import { validate } from './schema-issues.js';
import { defineSpec, type ProjectContext, type SpecSource } from './spec-definition.js';
import { SpecFileError } from './spec-file-error.js';
import { formatFieldPath, lineAt, readSource, type SourceDocument } from './spec-files.js';
import { projectSchema, specSchema, type RankerSetup } from './spec-schema.js';

/** Looked for in this order in a project folder. */
export const projectFileNames = ['pixelpipe.yaml', 'pixelpipe.yml', 'pixelpipe.json'] as const;

/** An error and where it sorts: files in the order the project names them, then by line. */
interface RankedError {
  rank: number;
  line: number;
  error: SpecFileError;
}

/** Reads the project file (or the one in a folder) and everything it names; the first problem in file order is thrown as a SpecFileError. */
export async function loadProject(pathOrFolder: string): Promise<Project> {
  const projectPath = await findProjectFile(resolve(pathOrFolder), pathOrFolder);
  const root = dirname(projectPath);
  const file = basename(projectPath);
  const document = await readSource(projectPath, file, { file: pathOrFolder, value: pathOrFolder });
  const checked = validate(projectSchema, document.value, document);
  if ('errors' in checked) throw checked.errors[0];
  const settings = checked.value;
  const outputDir = normaliseOutputDir(settings.outputDir ?? 'out');
  if ('problem' in outputDir) throw new SpecFileError({ file, line: lineAt(document, ['outputDir']), field: 'outputDir', value: settings.outputDir, ...outputDir });

  const context: ProjectContext = { root, document, defaults: settings.defaults };
  const failures: RankedError[] = [];
  const specs: { spec: LoadedSpec; rank: number }[] = [];
  for (const [index, entry] of settings.specs.entries()) {
    const rank = typeof entry === 'string' ? index + 1 : 0;
    let found: { sources: SpecSource[]; errors: SpecFileError[] };
    try {
      found = typeof entry === 'string' ? await readSpecFile(root, entry, document, index) : { sources: [{ document, path: ['specs', index], input: entry }], errors: [] };
    } catch (error) {
      // A spec file that is missing or malformed: an unreadable one sorts at its line in the project file, a malformed one in its own file.
      if (!SpecFileError.isInstance(error)) throw error;
      failures.push({ rank: error.file === file ? 0 : rank, line: error.line ?? Infinity, error });
      continue;
    }
    for (const error of found.errors) failures.push({ rank, line: error.line ?? Infinity, error });
    for (const source of found.sources) {
      try {
        specs.push({ spec: await defineSpec(source, context), rank });
      } catch (error) {
        if (!SpecFileError.isInstance(error)) throw error;
        const specLine = source.document.lines.get(formatFieldPath(source.path)) ?? Infinity;
        failures.push({ rank, line: error.file === source.document.file ? (error.line ?? specLine) : specLine, error });
      }
    }
  }
  const seen = new Map<string, LoadedSpec>();
  for (const { spec, rank } of specs) {
    const earlier = seen.get(spec.name);
    if (earlier) {
      const at = locateField(spec, ['name']);
      failures.push({ rank, line: at.line ?? Infinity, error: new SpecFileError({ ...at, value: spec.name, problem: `${JSON.stringify(spec.name)} is also the name of the spec at ${earlier.file}:${earlier.line ?? 1}`, fix: 'give each spec its own name' }) });
    }
    seen.set(spec.name, spec);
  }
  if (failures.length > 0) throw failures.sort((a, b) => a.rank - b.rank || a.line - b.line)[0].error;
  const rankers = settings.rankers && Object.fromEntries(Object.entries(settings.rankers).map(([name, setup]) => [name, rebaseRankerPaths(root, setup)]));
  const loraDir = settings.loraDir !== undefined ? resolve(root, settings.loraDir) : (await stat(resolve(root, 'loras')).then((info) => info.isDirectory(), () => false)) ? resolve(root, 'loras') : undefined;
  return { root, file, outputDir: outputDir.outputDir, concurrency: settings.concurrency, moderation: settings.moderation, ...(loraDir && { loraDir }), ...(rankers && { rankers }), specs: specs.map(({ spec }) => spec) };
}

/** A ranker's model files are named relative to the project file; the build opens them from anywhere. */
function rebaseRankerPaths(root: string, setup: RankerSetup): RankerSetup {
  if (setup.type === 'clip') return { ...setup, model: resolve(root, setup.model) };
  if (setup.type === 'aesthetic') return { ...setup, clipModel: resolve(root, setup.clipModel), weights: resolve(root, setup.weights) };
  return setup;
}

/** `root`-relative with `/` separators, as ResolvedOutput and messages show files. */
export function toProjectPath(root: string, absolutePath: string): string {
  return relative(root, absolutePath).split(sep).join('/');
}

async function findProjectFile(absolutePath: string, asGiven: string): Promise<string> {
  const kind = await stat(absolutePath).catch(() => undefined);
  if (kind === undefined) throw new SpecFileError({ file: asGiven, value: asGiven, problem: 'does not exist', fix: 'pass a project folder or its pixelpipe.yaml' });
  if (!kind.isDirectory()) return absolutePath;
  const names = await readdir(absolutePath);
  const present = projectFileNames.filter((name) => names.includes(name));
  if (present.length === 0) throw new SpecFileError({ file: asGiven, value: asGiven, problem: `has no ${projectFileNames.join(', ')}`, fix: 'create pixelpipe.yaml there (schemas/pixelpipe.schema.json describes it), or pass the project file itself' });
  if (present.length > 1) throw new SpecFileError({ file: asGiven, value: present, problem: `has ${present.join(' and ')}`, fix: 'keep one project file' });
  return resolve(absolutePath, present[0]);
}

async function readSpecFile(root: string, entry: string, project: SourceDocument, index: number): Promise<{ sources: SpecSource[]; errors: SpecFileError[] }> {
  const absolutePath = resolve(root, entry);
  const document = await readSource(absolutePath, toProjectPath(root, absolutePath), { file: project.file, line: lineAt(project, ['specs', index]), field: `specs[${index}]`, value: entry });
  const items = Array.isArray(document.value) ? document.value.map((value, position) => ({ value, path: [position] })) : [{ value: document.value, path: [] as number[] }];
  if (items.length === 0) return { sources: [], errors: [new SpecFileError({ file: document.file, line: 1, value: [], problem: 'is an empty list', fix: 'write a spec, or remove the file from specs' })] };
  const sources: SpecSource[] = [];
  const errors: SpecFileError[] = [];
  for (const item of items) {
    const checked = validate(specSchema, item.value, document, item.path);
    if ('errors' in checked) errors.push(checked.errors[0]);
    else sources.push({ document, path: item.path, input: checked.value });
  }
  return { sources, errors };
}
