// Turns one validated spec into a LoadedSpec: merges the project's defaults, parses templates, sizes, seeds and the matrix, loads data files, and checks that every variable exists.
import { existsSync } from 'node:fs';
import { dirname, posix, resolve } from 'node:path';
import { loadDataFile, type DataTable } from './data-files.js';
import { locateField, type LoadedSpec } from './project-types.js';
import type { Matrix } from './matrix.js';
import { sortByLine, showValue, closestWord } from './schema-issues.js';
import { toSeed, type SeedRule } from './seeds.js';
import { parseSize, sizeComplaint } from './sizes.js';
import { SpecFileError } from './spec-file-error.js';
import { formatFieldPath, type FieldPath, type SourceDocument, type SourceLocation } from './spec-files.js';
import type { SpecFields, SpecInput } from './spec-schema.js';
import { isComplaint, parseTemplate, variableNamePattern, type Template } from './templates.js';

/** Variables every spec has; matrix axes and data columns may not take these names. */
export const builtinVariables = ['spec', 'index', 'size', 'width', 'height'] as const;

/** Fields where a spec's map is merged over the defaults' map one level deep; every other field replaces. */
const mergedMapFields = ['output', 'providerOptions', 'matrix'] as const;

/** A spec as found: the file, where in it, and its validated value. */
export interface SpecSource {
  document: SourceDocument;
  path: FieldPath;
  input: SpecInput;
}

/** The parts of the project a spec needs. */
export interface ProjectContext {
  root: string;
  document: SourceDocument;
  defaults?: SpecFields;
}

/** Checks and normalises one spec; throws the first problem in file order. */
export async function defineSpec(source: SpecSource, project: ProjectContext): Promise<LoadedSpec> {
  const spec = mergeDefaults(project.defaults, source.input);
  const located = { file: source.document.file, line: source.document.lines.get(formatFieldPath(source.path)), sources: collectSources(source, project) };
  const errors: SpecFileError[] = [];
  const complain = (path: FieldPath, problem: string, fix: string, value: unknown = valueAt(spec, path)) => {
    errors.push(new SpecFileError({ ...locateField(located, path), value, problem, fix }));
  };
  const template = (path: FieldPath, text: string | undefined): Template | undefined => {
    if (text === undefined) return undefined;
    const parsed = parseTemplate(text);
    if (isComplaint(parsed)) return void complain(path, parsed.problem, parsed.fix);
    return parsed;
  };
  const fileHoldingField = (field: string) => locateField(located, [field]).file;

  const loras = spec.loras?.map((entry) => {
    if (typeof entry !== 'string') return { name: entry.name, scale: entry.scale ?? 1 };
    const [name, scale] = entry.split(':') as [string, string | undefined];
    return { name, scale: scale === undefined ? 1 : Number(scale) };
  });
  // Control images are files beside the spec that names them; a missing one stops the build before anything runs.
  const controls = spec.controls?.map((control, index) => {
    const image = resolve(project.root, dirname(fileHoldingField('controls')), control.image);
    if (!existsSync(image)) complain(['controls', index, 'image'], `names ${control.image}, which does not exist (looked for ${image})`, 'give the control image\'s path relative to the file that names it');
    if ((control.start ?? 0) >= (control.end ?? 1)) complain(['controls', index, 'start'], `${control.start ?? 0} is not below end (${control.end ?? 1})`, 'give a start below end, as diffusers requires');
    return { ...control, image };
  });
  for (const field of ['prompt', 'output.path']) {
    if (valueAt(spec, field.split('.')) === undefined) complain(field.split('.'), 'is missing', `add ${field} to the spec, or to defaults in ${project.document.file}`);
  }
  const prompt = template(['prompt'], spec.prompt);
  const negativePrompt = template(['negativePrompt'], spec.negativePrompt);
  const outputPath = template(['output', 'path'], spec.output?.path);
  const ranker = spec.ranker === undefined ? undefined : typeof spec.ranker === 'string' ? { type: spec.ranker } : { type: spec.ranker.type, rubric: template(['ranker', 'rubric'], spec.ranker.rubric), decoder: spec.ranker.decoder };
  if ((spec.candidates ?? 1) > 1 && ranker === undefined) complain(['candidates'], `is ${spec.candidates}, but no ranker picks among them`, 'add ranker: clip (or aesthetic, vlm, a ranker of the project), or set candidates: 1');

  const sizeTexts = spec.size === undefined ? [] : typeof spec.size === 'string' ? [spec.size] : spec.size;
  sizeTexts.forEach((text, index) => {
    if (sizeTexts.indexOf(text) !== index) complain(typeof spec.size === 'string' ? ['size'] : ['size', index], `${JSON.stringify(text)} is listed twice`, 'list each size once');
  });
  const sizes = [...new Set(sizeTexts)].map(parseSize);
  const matrix = defineMatrix(spec, sizeTexts, complain);
  const generationSize = spec.generationSize === undefined ? undefined : parseSize(spec.generationSize);
  const aspectSize = [...sizeTexts, ...matrix.include.flatMap((entry) => entry.size ?? [])].find((text) => parseSize(text).kind === 'aspect');
  if (generationSize && aspectSize !== undefined) complain(['generationSize'], `is given while size ${JSON.stringify(aspectSize)} is an aspect ratio`, `give sizes as WxH, or remove generationSize to let the build pick the model's native size for ${aspectSize}`);

  const errorsBeforeData = errors.length;
  const data = await loadData(spec, project.root, fileHoldingField('data'), located, errors);
  // Without every data file's columns, unknown-variable errors would be guesses that hide the data file's own error.
  const dataLoaded = errors.length === errorsBeforeData;
  const known = new Set<string>(['spec', 'index', ...(sizes.length > 0 ? ['size', 'width', 'height'] : []), ...matrix.axes.map((axis) => axis.name)]);
  for (const table of data) {
    for (const column of table.columns) {
      if (known.has(column) || (builtinVariables as readonly string[]).includes(column)) {
        errors.push(new SpecFileError({ file: table.file, line: 1, field: column, value: column, problem: `is a column name that is also ${matrix.axes.some((axis) => axis.name === column) ? 'a matrix axis' : 'a built-in variable'} of spec ${spec.name}`, fix: 'rename the column' }));
      }
    }
  }
  const columns = [...new Set(data.flatMap((table) => table.columns))];
  for (const column of columns) known.add(column);
  const templates: [FieldPath, Template | undefined][] = [[['prompt'], prompt], [['negativePrompt'], negativePrompt], [['ranker', 'rubric'], ranker?.rubric], [['output', 'path'], outputPath]];
  for (const [path, parsed] of dataLoaded ? templates : []) {
    for (const variable of parsed?.variables ?? []) {
      if (!known.has(variable) && data.length > 0) {
        // With data files, a variable nobody defines is most likely a column the data lacks: point at the data, and still offer the typo.
        const guess = closestWord(variable, [...known]);
        const [table] = data;
        errors.push(new SpecFileError({
          file: table.file,
          line: table.rows[0].line,
          field: variable,
          problem: `is not a column of this file, and spec ${spec.name} uses {${variable}} in ${formatFieldPath(path)}`,
          fix: `add the column, or correct {${variable}} in ${formatFieldPath(path)}${guess === undefined ? '' : ` (did you mean {${guess}}?)`} (the file's columns: ${table.columns.join(', ')})`,
        }));
      } else if (!known.has(variable)) {
        const guess = closestWord(variable, [...known]);
        complain(path, `uses {${variable}}, which is not a variable of spec ${spec.name}`, `${guess === undefined ? '' : `did you mean {${guess}}? `}known variables: ${[...known].join(', ')}`);
      } else if ((variable === 'width' || variable === 'height') && aspectSize !== undefined) {
        complain(path, `uses {${variable}}, which the aspect-ratio size ${JSON.stringify(aspectSize)} does not give`, 'use {size}, or give every size as WxH');
      }
    }
  }

  if (errors.length > 0) throw firstError(errors, located.file);
  const outputFormat = spec.output?.format === 'jpg' ? 'jpeg' : spec.output?.format;
  return {
    name: spec.name,
    file: located.file,
    line: located.line,
    model: spec.model === undefined ? undefined : rebaseModel(spec.model, fileHoldingField('model')),
    prompt: prompt!,
    negativePrompt,
    sizes,
    generationSize: generationSize?.kind === 'pixels' ? { width: generationSize.width, height: generationSize.height } : undefined,
    steps: spec.steps,
    guidance: spec.guidance,
    sampler: spec.sampler,
    decoder: spec.decoder,
    seed: seedRule(spec.seed),
    providerOptions: spec.providerOptions,
    ...(loras && { loras }),
    ...(controls && { controls }),
    ...(spec.hiresFix && { hiresFix: spec.hiresFix }),
    matrix,
    data,
    candidates: spec.candidates ?? 1,
    ranker: ranker as LoadedSpec['ranker'],
    output: { path: outputPath!, format: outputFormat, quality: spec.output?.quality, fit: spec.output?.fit ?? 'cover', upscale: spec.output?.upscale },
    moderation: spec.moderation === undefined ? undefined : rebaseModeration(spec.moderation, fileHoldingField('moderation')),
    sources: located.sources,
  };
}

/** The first error in the spec's own file by line, else the first elsewhere (data files, defaults). */
export function firstError(errors: SpecFileError[], file: string): SpecFileError {
  return sortByLine(errors.filter((error) => error.file === file))[0] ?? errors[0];
}

function mergeDefaults(defaults: SpecFields | undefined, spec: SpecInput): SpecInput {
  const merged: SpecInput = { ...defaults, ...spec };
  for (const field of mergedMapFields) {
    if (defaults?.[field] !== undefined && spec[field] !== undefined) (merged as Record<string, unknown>)[field] = { ...defaults[field], ...spec[field] };
  }
  return merged;
}

/** Field path (relative to the spec) → where it was written: the defaults first, then the spec's own fields over them. */
function collectSources(source: SpecSource, project: ProjectContext): Map<string, SourceLocation> {
  const sources = new Map<string, SourceLocation>();
  const copy = (document: SourceDocument, prefix: FieldPath, keep: (relative: string) => boolean) => {
    const start = formatFieldPath(prefix);
    for (const [field, line] of document.lines) {
      if (!field.startsWith(start)) continue;
      const rest = field.slice(start.length);
      if (start !== '' && rest !== '' && rest[0] !== '.' && rest[0] !== '[') continue;
      const relative = rest.startsWith('.') ? rest.slice(1) : rest;
      if (keep(relative)) sources.set(relative, { file: document.file, line, field: field || undefined });
    }
  };
  const topField = (relative: string) => /^[^.[]*/.exec(relative)![0];
  // A spec's own value replaces the defaults' whole, except in the merged maps, so the defaults' inner lines no longer apply.
  copy(project.document, ['defaults'], (relative) => relative !== '' && (!(topField(relative) in source.input) || (mergedMapFields as readonly string[]).includes(topField(relative))));
  copy(source.document, source.path, () => true);
  return sources;
}

type Complain = (path: FieldPath, problem: string, fix: string, value?: unknown) => void;

function defineMatrix(spec: SpecInput, sizeTexts: string[], complain: Complain): Matrix {
  const { include = [], exclude = [], ...axisValues } = spec.matrix ?? {};
  const axes = Object.entries(axisValues).map(([name, values]) => {
    if (!variableNamePattern.test(name)) complain(['matrix', name], `${JSON.stringify(name)} is not a variable name`, 'name axes with letters, digits, "_", "-" and ".", starting with a letter or "_"', name);
    else if (name === 'size') complain(['matrix', name], 'is not a matrix axis: sizes are the spec\'s size field', 'move the list to size: [...]', name);
    else if ((builtinVariables as readonly string[]).includes(name)) complain(['matrix', name], `is a built-in variable (${builtinVariables.join(', ')})`, 'rename the axis', name);
    const strings = (values as (string | number | boolean)[]).map(String);
    const seen = new Set<string>();
    strings.forEach((value, index) => {
      if (seen.has(value)) complain(['matrix', name, index], `${JSON.stringify(value)} is listed twice`, 'list each value once');
      seen.add(value);
    });
    return { name, values: [...seen] };
  });
  const namedAxes = axes.map((axis) => axis.name);
  if (sizeTexts.length > 0) axes.push({ name: 'size', values: [...new Set(sizeTexts)] });
  const keyable = axes.map((axis) => axis.name);
  const stringEntry = (entry: Record<string, string | number | boolean>) => Object.fromEntries(Object.entries(entry).map(([key, value]) => [key, String(value)]));
  include.forEach((entry, index) => {
    for (const key of Object.keys(entry)) {
      if (!keyable.includes(key)) complain(['matrix', 'include', index, key], `is not an axis of the matrix (${keyable.join(', ') || 'none'})`, 'add it as an axis, or remove it from the include');
    }
    const missing = namedAxes.filter((name) => !(name in entry));
    if (missing.length > 0) complain(['matrix', 'include', index], `does not give ${missing.join(', ')}`, `give a value for every axis: ${namedAxes.join(', ')}`);
    const size = entry.size === undefined ? undefined : String(entry.size);
    const problem = size === undefined ? undefined : sizeComplaint(size);
    if (problem) complain(['matrix', 'include', index, 'size'], problem.problem, problem.fix);
  });
  exclude.forEach((entry, index) => {
    if (Object.keys(entry).length === 0) complain(['matrix', 'exclude', index], 'is empty and would drop every combination', 'name the axis values to drop, such as { locale: fr-FR }');
    for (const [key, value] of Object.entries(entry)) {
      const axis = axes.find((candidate) => candidate.name === key);
      if (!axis) complain(['matrix', 'exclude', index, key], `is not an axis of the matrix (${keyable.join(', ') || 'none'})`, 'name an axis, or remove the key');
      else if (!axis.values.includes(String(value))) complain(['matrix', 'exclude', index, key], `${showValue(value)} is not a value of axis ${key} (${axis.values.join(', ')})`, 'write one of the axis values');
    }
  });
  return { axes, include: include.map(stringEntry), exclude: exclude.map(stringEntry) };
}

async function loadData(spec: SpecInput, root: string, declaringFile: string, located: Parameters<typeof locateField>[0], errors: SpecFileError[]): Promise<DataTable[]> {
  const files = spec.data === undefined ? [] : typeof spec.data === 'string' ? [spec.data] : spec.data;
  const tables: DataTable[] = [];
  for (const [index, file] of files.entries()) {
    const absolutePath = resolve(root, dirname(declaringFile), file);
    const namedAt = { ...locateField(located, typeof spec.data === 'string' ? ['data'] : ['data', index]), value: file };
    try {
      tables.push(await loadDataFile(absolutePath, posix.normalize(posix.join(posix.dirname(declaringFile), file)), namedAt));
    } catch (error) {
      if (!SpecFileError.isInstance(error)) throw error;
      errors.push(error);
    }
  }
  return tables;
}

function seedRule(seed: SpecInput['seed']): SeedRule {
  if (seed === undefined) return { type: 'derived' };
  if (typeof seed === 'object') return { type: 'range', from: toSeed(seed.from), to: toSeed(seed.to) };
  return { type: 'fixed', seed: toSeed(seed) };
}

/** Model paths (`./` or `../`) written in a spec file are relative to it; the build reads them relative to the project folder. */
function rebaseModel(model: string, declaringFile: string): string {
  const folder = posix.dirname(declaringFile);
  if (folder === '.') return model;
  return model
    .split(',')
    .map((entry) => entry.trim())
    .map((entry) => {
      if (!entry.startsWith('./') && !entry.startsWith('../')) return entry;
      const rebased = posix.normalize(posix.join(folder, entry));
      return rebased.startsWith('../') ? rebased : `./${rebased}`;
    })
    .join(', ');
}

/** A moderation value with a `/` or a .yaml/.yml/.json ending is a policy file, relative to the file that names it. */
function rebaseModeration(moderation: string, declaringFile: string): string {
  if (!/\/|\.(ya?ml|json)$/i.test(moderation)) return moderation;
  return posix.normalize(posix.join(posix.dirname(declaringFile), moderation));
}

function valueAt(value: unknown, path: FieldPath): unknown {
  let current = value;
  for (const part of path) current = current !== null && typeof current === 'object' ? (current as Record<string | number, unknown>)[part] : undefined;
  return current;
}
