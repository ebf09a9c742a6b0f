// `pixelpipe build`: expands a project into outputs, skips those whose key and file match the lockfile,
// generates the rest (best of N where a spec asks), writes each file and its lockfile entry as it
// finishes (so an interrupted build keeps what it made), and writes the reports.
import { createHash } from 'node:crypto';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { PixelpipeError } from '../../spec/errors/pixelpipe-error.js';
import { expandProject } from '../specs/expand-project.js';
import { readLockfile, writeLockfile } from '../specs/lockfile.js';
import type { Project } from '../specs/project-types.js';
import { SpecFileError } from '../specs/spec-file-error.js';
import { BuildJobError, type BuildBackend, type BuildModel, type BuildRecord } from './build-backend.js';
import { estimateBuildCost, planOutputs, reasonText, type PlannedOutput } from './build-plan.js';
import { writeBuildReports, type WrittenReports } from './build-reports.js';
import type { BuildReport, CandidateReport, LockEntry, Lockfile, OutputReport } from './build-types.js';

export const lockfileName = 'pixelpipe.lock';

/** Outputs a build makes without `--yes`; more is probably a matrix mistake. */
export const confirmedOutputLimit = 1000;

export interface BuildOptions {
  project: Project;
  /** Opens the backend once the plan needs one (not for a dry run of a project whose models need no lookup). */
  backend: BuildBackend;
  /** Fail, writing nothing, when the lockfile would change (CI). */
  frozen?: boolean;
  /** Globs on output paths, or spec names, to regenerate even when cached. */
  force?: string[];
  /** Plan only. */
  dryRun?: boolean;
  /** Outputs generated at once; default the project's, else 1. */
  concurrency?: number;
  /** Build more than `confirmedOutputLimit` outputs. */
  yes?: boolean;
  /** Where the reports go; default `build-report` in the project folder. */
  reportDir?: string;
  onEvent?: (event: BuildEvent) => void;
  signal?: AbortSignal;
}

export type BuildEvent =
  | { type: 'plan'; planned: PlannedOutput[] }
  | { type: 'start'; planned: PlannedOutput }
  | { type: 'output'; report: OutputReport; done: number; total: number };

export interface BuildResult {
  planned: PlannedOutput[];
  cost: ReturnType<typeof estimateBuildCost>;
  /** Absent for a dry run. */
  report?: BuildReport;
  reports?: WrittenReports;
  /** 0: everything built; 1: some outputs failed. */
  exitCode: 0 | 1;
}

/** `--frozen` found the lockfile would change: the outputs named and why. */
export class LockfileDriftError extends PixelpipeError {
  constructor(readonly drift: string[]) {
    super({ name: 'LockfileDriftError', message: `--frozen: ${lockfileName} would change:\n${drift.map((line) => `  ${line}`).join('\n')}\nrun \`pixelpipe build\` without --frozen and commit ${lockfileName}`, isRetryable: false });
  }
}

/** Runs a build of a loaded project. Spec problems throw SpecFileError; failed outputs are reported (exit code 1), never thrown. */
export async function runBuild(options: BuildOptions): Promise<BuildResult> {
  const { project, backend, frozen = false, force = [], dryRun = false, onEvent = () => {}, signal } = options;
  if (frozen && force.length > 0) throw new SpecFileError({ file: lockfileName, value: force, problem: '--force regenerates outputs, which --frozen forbids', fix: 'pass one of --frozen and --force' });
  const startedAt = new Date();
  const outputs = expandProject(project, { maxOutputs: options.yes ? undefined : confirmedOutputLimit });
  const lockPath = join(project.root, lockfileName);
  const lock = await readLockfile(lockPath);

  const models = new Map<string, BuildModel>();
  for (const reference of new Set(outputs.map((output) => output.request.model ?? ''))) models.set(reference, await backend.model(reference || undefined));
  await checkRankers(project, outputs, backend);
  const loraHashes = await checkFolderNames(project, outputs, backend, 'loras');
  const controlNetHashes = await checkFolderNames(project, outputs, backend, 'controls');
  const planned = await planOutputs(outputs, { root: project.root, lock, models, force, loraHashes, controlNetHashes });
  const cost = estimateBuildCost(planned);
  onEvent({ type: 'plan', planned });
  if (frozen) checkFrozen(planned, lock);
  if (dryRun) return { planned, cost, exitCode: 0 };

  // The lockfile keeps entries of outputs still in the project; a failed output keeps its old entry (its old file stays too).
  const paths = new Set(outputs.map((output) => output.path));
  const entries = new Map((lock?.outputs ?? []).filter((entry) => paths.has(entry.path)).map((entry) => [entry.path, entry]));
  const current = (): Lockfile => ({ version: 1, outputs: [...entries.values()] });
  let lockWrite = Promise.resolve();
  const saveLock = () => (lockWrite = lockWrite.then(() => (frozen ? undefined : writeLockfile(lockPath, current()))));
  // Removed outputs leave the lockfile at once, so an interrupted build is not left with them.
  if (!frozen && lock && entries.size !== lock.outputs.length) await saveLock();

  const reports = new Map<string, OutputReport>();
  let done = 0;
  const finished = (report: OutputReport) => {
    reports.set(report.path, report);
    done += 1;
    onEvent({ type: 'output', report, done, total: planned.length });
  };
  for (const item of planned) if (item.status === 'cached') finished(cachedReport(item));

  const queue = planned.filter((item) => item.status === 'generate');
  const concurrency = Math.max(1, options.concurrency ?? project.concurrency ?? 1);
  const work = async () => {
    for (let item = queue.shift(); item; item = queue.shift()) {
      if (signal?.aborted) {
        finished(failedReport(item, { code: 'interrupted', message: 'the build was interrupted before this output was made; run it again to make it' }, 0, 'skipped'));
        continue;
      }
      onEvent({ type: 'start', planned: item });
      const report = await buildOne(item);
      if (report.status === 'generated') await saveLock();
      finished(report);
    }
  };

  async function buildOne(item: PlannedOutput): Promise<OutputReport> {
    const started = performance.now();
    try {
      const result = await backend.generate(item.request, { signal, moderationPolicy: item.output.moderationPolicy });
      const { chosen } = result;
      const bytes = await backend.read(chosen);
      const sha256 = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
      const pixelSha256 = chosen.pixelSha256 && `sha256:${chosen.pixelSha256.replace(/^sha256:/, '')}`;
      // In CI a frozen build regenerates files it does not have; their pixels must be the ones the lockfile names.
      if (frozen && item.entry?.pixelSha256 && pixelSha256 && item.entry.pixelSha256 !== pixelSha256) {
        return failedReport(item, { code: 'not_reproduced', message: `the model made other pixels (${pixelSha256}) than ${lockfileName} records (${item.entry.pixelSha256}) for the same key: the engine or hardware does not reproduce this image bit for bit; rebuild without --frozen to accept the new image` }, performance.now() - started);
      }
      await writeAtomically(join(project.root, item.output.path), bytes);
      const candidates = [chosen, ...result.rejected].sort((a, b) => a.imageIndex - b.imageIndex);
      const entry: LockEntry = {
        path: item.output.path,
        spec: item.output.spec,
        key: item.key,
        seed: chosen.seed ?? item.output.request.seed,
        model: chosen.provider === 'local' ? chosen.modelId : `${chosen.provider}:${chosen.modelId}`,
        ...((chosen.modelHash ?? item.model.hash) !== undefined && { modelHash: chosen.modelHash ?? item.model.hash }),
        candidate: chosen.imageIndex,
        ...(chosen.ranking && { scores: candidates.map((candidate) => candidate.ranking?.score ?? Number.NaN) }),
        sha256,
        ...(pixelSha256 && { pixelSha256 }),
        recordId: chosen.id,
      };
      entries.set(entry.path, entry);
      return {
        ...baseReport(item),
        status: 'generated',
        seed: entry.seed,
        model: entry.model,
        width: chosen.width,
        height: chosen.height,
        durationMs: performance.now() - started,
        ...(result.generationMs !== undefined && { generationMs: result.generationMs }),
        ...(chosen.ranking && { ranker: chosen.ranking.ranker }),
        candidates: candidates.map((candidate) => candidateReport(candidate, backend)),
        recordId: chosen.id,
        sha256,
      };
    } catch (error) {
      if (!PixelpipeError.isInstance(error)) throw error;
      const code = error instanceof BuildJobError ? error.code : (error as PixelpipeError).name;
      return failedReport(item, { code, message: (error as Error).message }, performance.now() - started);
    }
  }

  await Promise.all(Array.from({ length: Math.min(concurrency, Math.max(queue.length, 1)) }, work));
  await lockWrite;
  const finishedAt = new Date();
  const outputReports = planned.map((item) => reports.get(item.output.path)!);
  const counts = { generated: 0, cached: 0, failed: 0, skipped: 0 };
  for (const report of outputReports) counts[report.status] += 1;
  const report: BuildReport = {
    project: project.root,
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    durationMs: finishedAt.getTime() - startedAt.getTime(),
    backend: backend.name,
    counts,
    outputs: outputReports,
  };
  const written = await writeBuildReports(report, { dir: resolve(project.root, options.reportDir ?? 'build-report'), projectRoot: project.root });
  return { planned, cost, report, reports: written, exitCode: counts.failed + counts.skipped > 0 ? 1 : 0 };
}

/** Every ranker a spec names must be one the backend has, before anything is generated. */
async function checkRankers(project: Project, outputs: ReturnType<typeof expandProject>, backend: BuildBackend): Promise<void> {
  const available = await backend.rankers();
  if (!available) return;
  for (const output of outputs) {
    if (output.candidates <= 1) continue;
    const name = output.ranker!.type;
    if (available.includes(name)) continue;
    const spec = project.specs.find((each) => each.name === output.spec)!;
    throw new SpecFileError({
      file: spec.file,
      line: spec.line,
      field: 'ranker',
      value: name,
      problem: `spec ${spec.name} picks among ${output.candidates} candidates with the ${name} ranker, which this build does not have (${available.length ? `it has ${available.join(', ')}` : 'it has none'})`,
      fix: `configure it under \`rankers:\` in ${project.file} (e.g. \`${name}: {type: clip, model: ./models/clip}\`), or with --server, on the server`,
    });
  }
}

/** The names an output's spec takes from a folder: its LoRAs, or its ControlNets (the model's own is not named). */
function folderNames(output: ReturnType<typeof expandProject>[number], field: 'loras' | 'controls'): string[] {
  return field === 'loras' ? (output.request.loras ?? []).map(({ name }) => name) : (output.request.controls ?? []).flatMap(({ controlnet }) => (controlnet === undefined ? [] : [controlnet]));
}

/** Every LoRA or ControlNet a spec names must be in the backend's folder; gives their hashes, which the keys cover. */
async function checkFolderNames(project: Project, outputs: ReturnType<typeof expandProject>, backend: BuildBackend, field: 'loras' | 'controls'): Promise<Record<string, string>> {
  const names = [...new Set(outputs.flatMap((output) => folderNames(output, field)))];
  if (names.length === 0) return {};
  const hashes = field === 'loras' ? await backend.loraHashes(names) : await backend.controlNetHashes(names);
  const embedded = backend.name === 'embedded';
  for (const output of outputs) {
    const missing = folderNames(output, field).find((name) => hashes[name] === undefined);
    if (missing === undefined) continue;
    const spec = project.specs.find((each) => each.name === output.spec)!;
    const where = field === 'loras'
      ? embedded ? `the project's LoRA folder (${project.loraDir ?? 'PIXELPIPE_LORA_DIR'})` : `the server's LoRA folder (GET ${backend.name}/v1/loras)`
      : embedded ? 'the ControlNet folder (PIXELPIPE_CONTROLNET_DIR)' : `the server's ControlNet folder (GET ${backend.name}/v1/controlnets)`;
    throw new SpecFileError({
      file: spec.file,
      line: spec.line,
      field,
      value: missing,
      problem: `spec ${spec.name} uses ${field === 'loras' ? 'LoRA' : 'ControlNet'} ${missing}, which is not in ${where}`,
      fix: field === 'loras' ? `put ${missing}.safetensors there${embedded ? ', or set loraDir in the project file' : ''}, or correct the name` : `put the ControlNet's folder (or ${missing}.onnx) there, or correct the name`,
    });
  }
  return hashes;
}

function checkFrozen(planned: PlannedOutput[], lock: Lockfile | undefined): void {
  const drift: string[] = [];
  for (const item of planned) {
    if (item.reason === 'new' || item.reason === 'changed') drift.push(`${item.output.path}: ${reasonText[item.reason]}`);
  }
  const paths = new Set(planned.map((item) => item.output.path));
  for (const entry of lock?.outputs ?? []) if (!paths.has(entry.path)) drift.push(`${entry.path}: no spec makes it any more`);
  if (drift.length > 0) throw new LockfileDriftError(drift);
}

function baseReport(item: PlannedOutput): Omit<OutputReport, 'status' | 'durationMs' | 'width' | 'height' | 'candidates'> {
  const { output, key } = item;
  return {
    path: output.path,
    spec: output.spec,
    specFile: output.specFile,
    key,
    prompt: output.request.prompt,
    ...(output.request.negativePrompt !== undefined && { negativePrompt: output.request.negativePrompt }),
    ...(item.model.reference && { model: item.model.reference }),
    seed: output.request.seed,
  };
}

function targetSize(item: PlannedOutput): { width: number; height: number } {
  const { finish } = item.output;
  return { width: finish.width ?? (item.request.width as number | undefined) ?? 0, height: finish.height ?? (item.request.height as number | undefined) ?? 0 };
}

function cachedReport(item: PlannedOutput): OutputReport {
  const entry = item.entry!;
  const candidates: CandidateReport[] = (entry.scores ?? [undefined]).map((score, index) => ({
    index,
    ...(score !== undefined && { score }),
    chosen: index === entry.candidate,
    ...(index === entry.candidate && { recordId: entry.recordId, seed: entry.seed }),
  }));
  return { ...baseReport(item), status: 'cached', seed: entry.seed, model: entry.model, ...targetSize(item), durationMs: 0, candidates, recordId: entry.recordId, sha256: entry.sha256 };
}

function failedReport(item: PlannedOutput, error: { code: string; message: string }, durationMs: number, status: 'failed' | 'skipped' = 'failed'): OutputReport {
  return { ...baseReport(item), status, ...targetSize(item), durationMs, error, candidates: [] };
}

function candidateReport(record: BuildRecord, backend: BuildBackend): CandidateReport {
  return {
    index: record.imageIndex,
    ...(record.seed !== undefined && { seed: record.seed }),
    ...(record.ranking && { score: record.ranking.score, rank: record.ranking.rank, ...(record.ranking.reason !== undefined && { reason: record.ranking.reason }) }),
    chosen: record.ranking?.chosen ?? true,
    recordId: record.id,
    load: () => backend.read(record),
  };
}

/** Written beside and renamed, so an interrupted build never leaves half a file under the output's name. */
async function writeAtomically(path: string, bytes: Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}.partial`;
  await writeFile(temporary, bytes);
  await rename(temporary, path);
}
