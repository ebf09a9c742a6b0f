// Expands a loaded project into its outputs: matrix combinations × data rows per spec, templates filled in, paths checked, seeds resolved; counted first so a huge matrix is refused before anything is allocated.
import type { ResolvedOutput } from '../build/build-types.js';
import type { DataRow, DataTable } from './data-files.js';
import { combinations, countCombinations } from './matrix.js';
import { outputFormat, resolveOutputPath } from './output-paths.js';
import { locateField, type LoadedSpec, type Project } from './project-types.js';
import { resolveSeed } from './seeds.js';
import { parseSize } from './sizes.js';
import { SpecFileError } from './spec-file-error.js';
import { formatFieldPath, type FieldPath } from './spec-files.js';
import { renderTemplate, type Template } from './templates.js';

/** No build makes more outputs than this, confirmed or not. */
export const hardOutputLimit = 1_000_000;

export interface ExpandOptions {
  /** Refuse builds with more outputs than this (the CLI passes 1,000 unless `--yes`); the hard limit applies regardless. */
  maxOutputs?: number;
}

/** How many outputs the project makes, from axis lengths and row counts alone. */
export function countOutputs(project: Project): number {
  return project.specs.reduce((total, spec) => total + countSpecOutputs(spec), 0);
}

/** Every output of the project: specs in file order, then matrix order (first axis slowest, includes last), then data rows. */
export function expandProject(project: Project, { maxOutputs }: ExpandOptions = {}): ResolvedOutput[] {
  checkCount(project, maxOutputs);
  const outputs: ResolvedOutput[] = [];
  const byPath = new Map<string, ResolvedOutput>();
  for (const spec of project.specs) {
    for (const output of expandSpec(spec, project)) {
      const earlier = byPath.get(output.path);
      if (earlier) {
        throw new SpecFileError({
          ...locateField(spec, ['output', 'path']),
          value: spec.output.path.source,
          problem: `${JSON.stringify(output.path)} is made twice: by spec ${earlier.spec} with ${describeVariables(earlier)} and by spec ${spec.name} with ${describeVariables(output)}`,
          fix: 'put a variable that differs between them into the path template',
        });
      }
      byPath.set(output.path, output);
      outputs.push(output);
    }
  }
  return outputs;
}

function countSpecOutputs(spec: LoadedSpec): number {
  const rows = spec.data.reduce((total, table) => total + table.rows.length, 0);
  return countCombinations(spec.matrix) * (spec.data.length === 0 ? 1 : rows);
}

function checkCount(project: Project, maxOutputs: number | undefined): void {
  const counts = project.specs.map((spec) => ({ spec, count: countSpecOutputs(spec) }));
  const total = counts.reduce((sum, { count }) => sum + count, 0);
  const limit = Math.min(hardOutputLimit, maxOutputs ?? Infinity);
  if (total <= limit || counts.length === 0) return;
  const largest = counts.reduce((best, entry) => (entry.count > best.count ? entry : best));
  const field = ['matrix', 'data', 'size'].find((name) => largest.spec.sources.has(name));
  const perSpec = counts.filter(({ count }) => count > 0).map(({ spec, count }) => `${spec.name}: ${count.toLocaleString('en-US')}`).join(', ');
  const confirmed = total > hardOutputLimit;
  throw new SpecFileError({
    ...locateField(largest.spec, field === undefined ? [] : [field]),
    value: total,
    problem: `the project makes ${total.toLocaleString('en-US')} outputs (${perSpec}), more than the ${limit.toLocaleString('en-US')} ${confirmed ? 'one build may make' : 'built without confirmation'}`,
    fix: confirmed ? 'split the matrix or data across several specs or projects' : 'pass --yes to build them all, or narrow the matrix or data',
  });
}

function* expandSpec(spec: LoadedSpec, project: Project): Generator<ResolvedOutput> {
  const rows: ({ table: DataTable; row: DataRow } | undefined)[] = spec.data.length === 0 ? [undefined] : spec.data.flatMap((table) => table.rows.map((row) => ({ table, row })));
  const columns = new Set(spec.data.flatMap((table) => table.columns));
  let index = 0;
  for (const combination of combinations(spec.matrix)) {
    const size = combination.size === undefined ? undefined : parseSize(combination.size);
    for (const dataRow of rows) {
      const variables: Record<string, string> = { ...combination };
      if (size?.kind === 'pixels') Object.assign(variables, { width: String(size.width), height: String(size.height) });
      Object.assign(variables, dataRow?.row.values, { spec: spec.name, index: String(index) });
      const render = (field: FieldPath, template: Template) =>
        renderTemplate(template, (name) => {
          if (columns.has(name) && !dataRow?.row.values[name]) throw missingCell(spec, field, name, dataRow);
          return variables[name];
        });
      const prompt = render(['prompt'], spec.prompt);
      const negativePrompt = spec.negativePrompt && render(['negativePrompt'], spec.negativePrompt);
      const rubric = spec.ranker?.rubric && render(['ranker', 'rubric'], spec.ranker.rubric);
      const path = outputPathOf(spec, render(['output', 'path'], spec.output.path), project.outputDir, variables);
      const format = outputFormat(path, spec.output.format);
      if ('problem' in format) throw new SpecFileError({ ...locateField(spec, ['output', spec.output.format === undefined ? 'path' : 'format']), value: path, ...format });
      const pixels = size?.kind === 'pixels' ? size : undefined;
      yield {
        path,
        spec: spec.name,
        specFile: spec.file,
        ...(spec.line === undefined ? {} : { line: spec.line }),
        variables,
        request: withoutUndefined({
          model: spec.model,
          prompt,
          negativePrompt,
          width: spec.generationSize?.width,
          height: spec.generationSize?.height,
          aspectRatio: size?.kind === 'aspect' ? size.aspectRatio : undefined,
          steps: spec.steps,
          guidance: spec.guidance,
          sampler: spec.sampler,
          // `full` is what a request without `decoder` gets: left out, so writing it changes no output's key.
          decoder: spec.decoder === 'fast' ? spec.decoder : undefined,
          seed: resolveSeed(spec.seed, path),
          providerOptions: spec.providerOptions,
          loras: spec.loras,
          controls: spec.controls,
          hiresFix: spec.hiresFix,
        }),
        candidates: spec.candidates,
        ...(spec.ranker === undefined ? {} : { ranker: withoutUndefined({ type: spec.ranker.type, rubric, decoder: spec.ranker.decoder === 'fast' ? spec.ranker.decoder : undefined }) }),
        finish: withoutUndefined({
          width: pixels?.width,
          height: pixels?.height,
          fit: spec.output.fit,
          format: format.format,
          // PNG is lossless: a quality from the defaults for webp/jpeg outputs does not apply to it.
          quality: format.format === 'png' ? undefined : spec.output.quality,
          upscale: spec.output.upscale,
        }),
        ...((spec.moderation ?? project.moderation) === undefined ? {} : { moderationPolicy: spec.moderation ?? project.moderation }),
      };
      index += 1;
    }
  }
}

function outputPathOf(spec: LoadedSpec, rendered: string, outputDir: string, variables: Record<string, string>): string {
  const resolved = resolveOutputPath(rendered, outputDir);
  if ('path' in resolved) return resolved.path;
  throw new SpecFileError({
    ...locateField(spec, ['output', 'path']),
    value: spec.output.path.source,
    problem: `spec ${spec.name}: template ${JSON.stringify(spec.output.path.source)} with ${describeVariables({ variables })} ${resolved.problem}`,
    fix: resolved.fix,
  });
}

function missingCell(spec: LoadedSpec, field: FieldPath, column: string, dataRow: { table: DataTable; row: DataRow } | undefined): SpecFileError {
  const { table, row } = dataRow!;
  const inFile = table.columns.includes(column);
  const state = !inFile ? 'is not a column of this file' : column in row.values ? 'is empty in this row' : 'is missing from this row';
  return new SpecFileError({
    file: table.file,
    line: row.line,
    field: column,
    value: row.values[column],
    problem: `${state}, and spec ${spec.name} uses {${column}} in ${formatFieldPath(field)}`,
    fix: `${inFile ? 'fill in the cell' : 'add the column'}, or stop using {${column}} (the file's columns: ${table.columns.join(', ')})`,
  });
}

/** `locale=de-DE, product=shoe`: the variables that tell outputs apart (built-ins derived from others left out). */
function describeVariables(output: Pick<ResolvedOutput, 'variables'>): string {
  const shown = Object.entries(output.variables).filter(([name]) => !['spec', 'index', 'width', 'height'].includes(name));
  return shown.length === 0 ? 'no variables' : shown.map(([name, value]) => `${name}=${value}`).join(', ');
}

function withoutUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, entry]) => entry !== undefined)) as T;
}
