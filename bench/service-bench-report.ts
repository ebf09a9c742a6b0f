// Turns what one run of `bench/service-bench.ts` saw into figures, and prints them: one block per run, then a summary table.
import type { CompletionWatch, JobOutcome, Submission } from './service-bench-client.js';
import type { CpuSnapshot, MemorySnapshot } from './service-bench-server.js';

/** Everything measured in one run. */
export interface RunMeasurements {
  /** Short name for the summary table, and the version and settings for the run's block. */
  database: string;
  databaseDetail: string;
  model: string;
  workers: number;
  concurrency: number;
  warmupJobs: number;
  submissions: Submission[];
  /** The accepted jobs read back, in submission order. */
  outcomes: JobOutcome[];
  watch: CompletionWatch;
  /** Seconds spent reading the jobs back after the run (not part of any figure). */
  readBackSeconds: number;
  memory: { start: MemorySnapshot; warmedUp: MemorySnapshot; after: MemorySnapshot };
  /** The server's CPU time at the first submit, when the last submission was answered, and when the last job had finished. */
  cpu: [CpuSnapshot, CpuSnapshot, CpuSnapshot];
  /** GET /healthz probes on a connection of their own every 100 ms from the first submit until the last job ended: when sent (epoch ms) and how long. */
  healthz: { sentAt: number; latencyMs: number }[];
}

/** The figures of one run. */
export interface RunFigures {
  measurements: RunMeasurements;
  jobs: number;
  accepted: number;
  submissionsPerSecond: number;
  submitSeconds: number;
  accept: Percentiles;
  /** Median accept latency of each tenth of the submissions, in submission order. */
  acceptByTenth: number[];
  completionsPerSecond: number;
  completionSeconds: number;
  /** Completions/s while submissions were still arriving, and after the last one was answered (workers alone on the database). */
  completionsWhileSubmitting: number;
  completionsAfterSubmitting: number;
  /** The longest time no submission was answered, and no job finished; a stall shows here before it shows in a percentile. */
  longestAcceptPause: Gap;
  longestFinishPause: Gap;
  generation: Percentiles;
  submitToSucceeded: Percentiles;
  overhead: Percentiles;
  waitForWorker: Percentiles;
  inWorker: Percentiles;
  /** Median in-worker overhead of each tenth of the jobs, in the order they finished. */
  inWorkerByTenth: number[];
  notSucceeded: number;
  retried: number;
  /** /healthz while submissions arrived, and after the last was answered (the workers' load alone). */
  healthzWhileSubmitting: Percentiles;
  healthzWorkersOnly: Percentiles;
  /** The same for the completion watch's scrapes of /metrics. */
  metricsWhileSubmitting: Percentiles;
  metricsWorkersOnly: Percentiles;
  /** Where the server's CPU went while submissions arrived, and after. */
  cpu: { whileSubmitting: CpuShare; afterSubmitting: CpuShare; perCompletion: CpuPrice; perSubmission: CpuPrice };
}

/** CPU over a stretch of a run: cores' worth of the whole process, and the share of the time the main thread (and PGlite's) was busy. */
export interface CpuShare {
  cores: number;
  mainBusy: number;
  databaseBusy: number | undefined;
}

/** What one job cost the server, in ms: CPU of the whole process, and of it the main thread's and PGlite's busy time. */
export interface CpuPrice {
  processMs: number;
  mainMs: number;
  databaseMs: number | undefined;
}

/** A stretch with nothing happening: its length and where it started, in ms from the first submit. */
export interface Gap {
  lengthMs: number;
  startMs: number;
}

export interface Percentiles {
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/** Nearest-rank percentile: the smallest value with at least `fraction` of the values at or below it. */
export function percentile(values: readonly number[], fraction: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(fraction * sorted.length) - 1))]!;
}

function percentiles(values: readonly number[]): Percentiles {
  return { p50: percentile(values, 0.5), p90: percentile(values, 0.9), p99: percentile(values, 0.99), max: percentile(values, 1) };
}

function mediansByTenth(values: readonly number[]): number[] {
  return Array.from({ length: 10 }, (_, tenth) => percentile(values.slice(Math.floor((tenth * values.length) / 10), Math.floor(((tenth + 1) * values.length) / 10)), 0.5));
}

function longestGap(times: readonly number[], origin: number): Gap {
  const sorted = [...times].sort((a, b) => a - b);
  let gap: Gap = { lengthMs: 0, startMs: 0 };
  for (let index = 1; index < sorted.length; index += 1) {
    if (sorted[index]! - sorted[index - 1]! > gap.lengthMs) gap = { lengthMs: sorted[index]! - sorted[index - 1]!, startMs: sorted[index - 1]! - origin };
  }
  return gap;
}

function cpuShare(from: CpuSnapshot, to: CpuSnapshot): CpuShare & { spent: CpuPrice } {
  const wallMs = Math.max(1, to.at - from.at);
  const spent = {
    processMs: to.processMs - from.processMs,
    mainMs: to.mainBusyMs - from.mainBusyMs,
    databaseMs: to.databaseBusyMs === undefined || from.databaseBusyMs === undefined ? undefined : to.databaseBusyMs - from.databaseBusyMs,
  };
  return { cores: spent.processMs / wallMs, mainBusy: spent.mainMs / wallMs, databaseBusy: spent.databaseMs === undefined ? undefined : spent.databaseMs / wallMs, spent };
}

// `spent` shared out over `jobs`, after taking away `less.count` other jobs at `less.price`.
function priceOf(spent: CpuPrice, jobs: number, less?: { price: CpuPrice; count: number }): CpuPrice {
  const share = (total: number, known: number | undefined) => (total - (less?.count ?? 0) * (known ?? 0)) / Math.max(1, jobs);
  return {
    processMs: share(spent.processMs, less?.price.processMs),
    mainMs: share(spent.mainMs, less?.price.mainMs),
    databaseMs: spent.databaseMs === undefined ? undefined : share(spent.databaseMs, less?.price.databaseMs),
  };
}

// After the burst the server only completes jobs, so that stretch prices a completion. While
// submissions arrive it does both: what is left after its completions, at that price, is a submission's.
function cpuFigures([atStart, atLastAnswer, atEnd]: RunMeasurements['cpu'], submissions: number, completionsWhile: number, completionsAfter: number): RunFigures['cpu'] {
  const { spent: duringSpent, ...during } = cpuShare(atStart, atLastAnswer);
  const { spent: afterSpent, ...after } = cpuShare(atLastAnswer, atEnd);
  const perCompletion = priceOf(afterSpent, completionsAfter);
  return { whileSubmitting: during, afterSubmitting: after, perCompletion, perSubmission: priceOf(duringSpent, submissions, { price: perCompletion, count: completionsWhile }) };
}

// A probe's latencies while submissions arrived (sent by the last answer) and after, as `<name>WhileSubmitting` and `<name>WorkersOnly`.
function probeFigures<Name extends 'healthz' | 'metrics'>(name: Name, probes: { sentAt: number; latencyMs: number }[], lastAnswered: number): Record<`${Name}WhileSubmitting` | `${Name}WorkersOnly`, Percentiles> {
  const latencies = (during: boolean) => percentiles(probes.filter((probe) => (probe.sentAt <= lastAnswered) === during).map((probe) => probe.latencyMs));
  return { [`${name}WhileSubmitting`]: latencies(true), [`${name}WorkersOnly`]: latencies(false) } as Record<`${Name}WhileSubmitting` | `${Name}WorkersOnly`, Percentiles>;
}

export function computeFigures(measurements: RunMeasurements): RunFigures {
  const { submissions, outcomes } = measurements;
  const accepted = submissions.filter((submission) => submission.status === 202);
  const firstSent = Math.min(...submissions.map((submission) => submission.sentAt));
  const answeredAt = accepted.map((submission) => submission.sentAt + submission.latencyMs);
  const lastAnswered = Math.max(...answeredAt);
  const submitSeconds = (lastAnswered - firstSent) / 1000;
  const sentAtById = new Map(accepted.map((submission) => [submission.id!, submission.sentAt]));
  const succeeded = outcomes.filter((outcome) => outcome.state === 'succeeded');
  const lastFinished = Math.max(...succeeded.map((outcome) => outcome.finishedAt));
  const completionSeconds = (lastFinished - firstSent) / 1000;
  const byFinish = [...succeeded].sort((a, b) => a.finishedAt - b.finishedAt);
  const inWorker = (outcome: JobOutcome) => outcome.finishedAt - outcome.startedAt - outcome.generationMs;
  const finishedWhileSubmitting = succeeded.filter((outcome) => outcome.finishedAt <= lastAnswered).length;
  return {
    measurements,
    jobs: submissions.length,
    accepted: accepted.length,
    submissionsPerSecond: accepted.length / submitSeconds,
    submitSeconds,
    accept: percentiles(accepted.map((submission) => submission.latencyMs)),
    acceptByTenth: mediansByTenth(accepted.map((submission) => submission.latencyMs)),
    completionsPerSecond: succeeded.length / completionSeconds,
    completionSeconds,
    completionsWhileSubmitting: finishedWhileSubmitting / submitSeconds,
    completionsAfterSubmitting: (succeeded.length - finishedWhileSubmitting) / Math.max(0.001, (lastFinished - lastAnswered) / 1000),
    longestAcceptPause: longestGap(answeredAt, firstSent),
    longestFinishPause: longestGap(succeeded.map((outcome) => outcome.finishedAt), firstSent),
    generation: percentiles(succeeded.map((outcome) => outcome.generationMs)),
    ...probeFigures('healthz', measurements.healthz, lastAnswered),
    ...probeFigures('metrics', measurements.watch.scrapes, lastAnswered),
    submitToSucceeded: percentiles(succeeded.map((outcome) => outcome.finishedAt - sentAtById.get(outcome.id)!)),
    overhead: percentiles(succeeded.map((outcome) => outcome.finishedAt - sentAtById.get(outcome.id)! - outcome.generationMs)),
    waitForWorker: percentiles(succeeded.map((outcome) => outcome.startedAt - sentAtById.get(outcome.id)!)),
    inWorker: percentiles(succeeded.map(inWorker)),
    inWorkerByTenth: mediansByTenth(byFinish.map(inWorker)),
    notSucceeded: outcomes.length - succeeded.length,
    retried: outcomes.filter((outcome) => outcome.attempts !== 1).length,
    cpu: cpuFigures(measurements.cpu, accepted.length, finishedWhileSubmitting, succeeded.length - finishedWhileSubmitting),
  };
}

const grouped = new Intl.NumberFormat('en-US');
const oneDecimal = new Intl.NumberFormat('en-US', { minimumFractionDigits: 1, maximumFractionDigits: 1 });
const count = (value: number) => grouped.format(value);
const ms = (value: number) => `${oneDecimal.format(value)} ms`;
const mib = (bytes: number) => `${oneDecimal.format(bytes / 2 ** 20)} MiB`;
const percent = (value: number) => `${Math.round(value * 100)}%`;
const ratio = (value: number) => `×${value.toFixed(2)}`;
const seconds = (gap: Gap) => `${(gap.lengthMs / 1000).toFixed(2)} s (from ${(gap.startMs / 1000).toFixed(1)} s)`;
const row = (cells: string[], widths: number[]) => cells.map((cell, index) => (index === 0 ? cell.padEnd(widths[index]!) : cell.padStart(widths[index]!))).join('  ');

function cpuShareText(share: CpuShare): string {
  return `${oneDecimal.format(share.cores)} cores, main thread busy ${percent(share.mainBusy)}${share.databaseBusy === undefined ? '' : `, PGlite's ${percent(share.databaseBusy)}`}`;
}

function cpuPriceText(price: CpuPrice): string {
  return `${ms(price.processMs)} of CPU (main thread ${ms(price.mainMs)}${price.databaseMs === undefined ? '' : `, PGlite's ${ms(price.databaseMs)}`})`;
}

function percentileRow(label: string, values: Percentiles): string {
  return row([label, ms(values.p50), ms(values.p90), ms(values.p99), ms(values.max)], [44, 12, 12, 12, 12]);
}

// Medians of each tenth of a run, to show whether a cost grows as the queue and the tables fill.
function tenthsRow(label: string, medians: number[]): string {
  return `${label.padEnd(44)}${medians.map((value) => value.toFixed(1).padStart(8)).join('')}   last/first ${ratio(medians[9]! / medians[0]!)}`;
}

export function printRunBlock(figures: RunFigures): void {
  const { measurements: run } = figures;
  const { start, warmedUp, after } = run.memory;
  const lines = [
    `\n== ${count(figures.jobs)} jobs · ${run.databaseDetail} · ${run.model} · ${run.workers} worker(s) · client concurrency ${run.concurrency}`,
    `submit       ${count(figures.accepted)} of ${count(figures.jobs)} answered 202 in ${figures.submitSeconds.toFixed(2)} s → ${oneDecimal.format(figures.submissionsPerSecond)} submissions/s`,
    ...run.submissions.filter((submission) => submission.status !== 202).slice(0, 3).map((submission) => `  refused: #${submission.index} status ${submission.status}: ${submission.error}`),
    `complete     ${count(figures.accepted - figures.notSucceeded)} succeeded, ${figures.notSucceeded} not, ${figures.retried} with more than one attempt; last one ${figures.completionSeconds.toFixed(2)} s after the first submit → ${oneDecimal.format(figures.completionsPerSecond)} completions/s`,
    `             ${oneDecimal.format(figures.completionsWhileSubmitting)} completions/s while submissions arrived, ${oneDecimal.format(figures.completionsAfterSubmitting)} completions/s after the last was answered`,
    `stalls       longest time with no 202 answered ${seconds(figures.longestAcceptPause)}; with no job finishing ${seconds(figures.longestFinishPause)}`,
    `server CPU   (this process only) ${cpuShareText(figures.cpu.whileSubmitting)} while submissions arrived; ${cpuShareText(figures.cpu.afterSubmitting)} after`,
    `             a completion ${cpuPriceText(figures.cpu.perCompletion)}, from the stretch after the burst;`,
    `             a submission ${cpuPriceText(figures.cpu.perSubmission)}, what the burst took beyond its completions at that price`,
    `queue        deepest ${count(run.watch.maxQueueDepth)} waiting (pixelpipe_queue_depth, ${run.watch.scrapes.length} scrapes of /metrics at 250 ms); read-back of every job afterwards took ${run.readBackSeconds.toFixed(1)} s (not counted)`,
    row(['', 'p50', 'p90', 'p99', 'max'], [44, 12, 12, 12, 12]),
    percentileRow('accept latency (POST /v1/jobs → 202)', figures.accept),
    percentileRow(`GET /healthz while submissions arrive`, figures.healthzWhileSubmitting),
    percentileRow('GET /healthz after: workers at full load', figures.healthzWorkersOnly),
    percentileRow('GET /metrics while submissions arrive', figures.metricsWhileSubmitting),
    percentileRow('GET /metrics after: workers at full load', figures.metricsWorkersOnly),
    percentileRow('generation (record timings.total)', figures.generation),
    percentileRow('submit → succeeded', figures.submitToSucceeded),
    percentileRow('queue overhead (submit → succeeded − gen.)', figures.overhead),
    percentileRow('  of which: submit → claim began (startedAt)', figures.waitForWorker),
    percentileRow('  of which: claim began → succeeded − gen.', figures.inWorker),
    tenthsRow('accept p50 by tenth of submissions, ms', figures.acceptByTenth),
    tenthsRow('in-worker p50 by tenth of completions, ms', figures.inWorkerByTenth),
    '  (in-worker = claim began → succeeded − generation: waiting for the claim lock, the claim query, the handler\'s own work up to settling)',
    row(['server memory (child process, after forced GC)', 'RSS', 'heap used'], [44, 12, 12]),
    row(['  at start, no job yet', mib(start.rss), mib(start.heapUsed)], [44, 12, 12]),
    row([`  after ${run.warmupJobs} warm-up jobs`, mib(warmedUp.rss), mib(warmedUp.heapUsed)], [44, 12, 12]),
    row([`  after ${count(figures.jobs)} jobs`, mib(after.rss), mib(after.heapUsed)], [44, 12, 12]),
    row(['  peak during the run (sampled, no GC)', mib(after.peakRss), mib(after.peakHeapUsed)], [44, 12, 12]),
    row(['  after the run / after warm-up', ratio(after.rss / warmedUp.rss), ratio(after.heapUsed / warmedUp.heapUsed)], [44, 12, 12]),
    ...(after.serviceErrors > 0 ? [`service errors reported: ${after.serviceErrors}`] : []),
  ];
  console.log(lines.join('\n'));
}

export function printSummary(runs: RunFigures[]): void {
  const widths = [10, 7, 9, 9, 9, 9, 11, 11, 10, 9, 10, 10, 10, 10, 9, 9, 21, 21];
  const header = ['database', 'jobs', 'subm/s', 'acc p50', 'acc p90', 'acc p99', 'ovh p50', 'ovh p99', 'in-wkr p50', 'compl/s', 'hz p99 sub', 'hz p99 wkr', 'mx p99 sub', 'mx p99 wkr', 'cpu/subm', 'cpu/cmpl', 'RSS start → after', 'heap start → after'];
  const lines = ['\n== summary (latencies in ms; ovh = queue overhead, submit → succeeded − generation; in-wkr = claim began → succeeded − generation; hz, mx = GET /healthz, GET /metrics while submissions arrive (sub) and after, with the workers busy (wkr); cpu = the server\'s CPU ms per submission and per completion)', row(header, widths)];
  for (const figures of runs) {
    const { start, after } = figures.measurements.memory;
    const megabytes = (bytes: number) => (bytes / 2 ** 20).toFixed(0);
    lines.push(row([
      figures.measurements.database, count(figures.jobs), oneDecimal.format(figures.submissionsPerSecond),
      ...[figures.accept.p50, figures.accept.p90, figures.accept.p99, figures.overhead.p50, figures.overhead.p99, figures.inWorker.p50, figures.completionsPerSecond, figures.healthzWhileSubmitting.p99, figures.healthzWorkersOnly.p99, figures.metricsWhileSubmitting.p99, figures.metricsWorkersOnly.p99, figures.cpu.perSubmission.processMs, figures.cpu.perCompletion.processMs].map((value) => oneDecimal.format(value)),
      `${megabytes(start.rss)} → ${megabytes(after.rss)} MiB`, `${megabytes(start.heapUsed)} → ${megabytes(after.heapUsed)} MiB`,
    ], widths));
  }
  // Each run has its own server, so the larger run's figures over the smaller's show what grows with the job count.
  const [smallest, largest] = [runs[0], runs.at(-1)];
  if (smallest && largest && largest !== smallest) {
    const label = `${count(largest.jobs)} / ${count(smallest.jobs)} jobs`;
    const [small, large] = [smallest.measurements.memory.after, largest.measurements.memory.after];
    lines.push(
      `${label}: memory after the run RSS ${ratio(large.rss / small.rss)}, heap ${ratio(large.heapUsed / small.heapUsed)}; ` +
        `accept p50 ${ratio(largest.accept.p50 / smallest.accept.p50)}, p99 ${ratio(largest.accept.p99 / smallest.accept.p99)}; ` +
        `in-worker p50 ${ratio(largest.inWorker.p50 / smallest.inWorker.p50)}; subm/s ${ratio(largest.submissionsPerSecond / smallest.submissionsPerSecond)}, compl/s ${ratio(largest.completionsPerSecond / smallest.completionsPerSecond)}`,
    );
  }
  console.log(lines.join('\n'));
}
