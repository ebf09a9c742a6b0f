// `npm run bench -- --only full`: the full-size SD-Turbo architecture loaded three ways, each in its own
// process (so peak memory is its own): today's `extended` graphs, the graph cache's first load (it
// builds and saves `all` graphs) and a later load (it reads them back). Per stage: load (session
// creation per part, hashing), the warm-up (each session's first run), a steady image (steps and the
// full decode), the fast decoder, and peak RSS.
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadModel } from '../src/engine/families/model-loader.js';
import { warmUp } from '../src/engine/pipelines/warm-up.js';
import { textToImage } from '../src/engine/pipelines/text-to-image.js';
import { PreviewDecoder } from '../src/engine/preview/preview-decoder.js';
import { GraphCache } from '../src/engine/runtime/graph-cache.js';
import { StageTimer } from '../src/engine/runtime/stage-timer.js';
import { createWeightHashCache } from '../src/engine/runtime/weight-hash.js';

type Mode = 'extended' | 'all-build' | 'all-cached';
const modes: Record<Mode, string> = { extended: 'extended (today)', 'all-build': 'all: first load', 'all-cached': 'all: cached' };

interface Measured {
  load: Record<string, number>;
  loadTotal: number;
  hash: number;
  outcomes: Record<string, string>;
  warmUp: Record<string, number>;
  warmUpTotal: number;
  step: number;
  decode: number;
  fastDecode?: number;
  image: number;
  peakRssGiB: number;
  loadAverage: number;
}

export interface FullBenchOptions {
  folder: string;
  benchDir: string;
  size: number;
  steps: number;
  threads?: number;
  fastDecoder?: string;
}

/** One mode, in this process; prints its figures as one JSON line for the parent. */
async function measure(mode: Mode, { folder, benchDir, size, steps, threads, fastDecoder }: FullBenchOptions): Promise<Measured> {
  const hashCache = createWeightHashCache(join(benchDir, 'weight-hashes.json'));
  const graphCache = mode === 'extended' ? undefined : new GraphCache(join(benchDir, 'graphs'), hashCache);
  const started = performance.now();
  const model = await loadModel(folder, { threads, hashCache, ...(graphCache ? { graphCache } : {}) });
  const loadTotal = performance.now() - started;
  const outcomes = Object.fromEntries(model.sessions.map((session) => [session.name, session.graphCacheOutcome ?? 'not cached']));
  const warm = await warmUp(model, { width: size, height: size });
  await model.unetHash;
  const hash = model.loadTimings.hash ?? 0;

  const timer = new StageTimer();
  let last: Float32Array | undefined;
  const imageStarted = performance.now();
  await textToImage(model, { prompt: 'an astronaut riding a horse on the moon', width: size, height: size, steps, guidance: 0, sampler: 'euler', seed: 42n, timer, onStep: (_step, _steps, latents) => { last = latents.slice(); } });
  const image = performance.now() - imageStarted;
  const unetRuns = timer.runs.unet ?? [];
  let fastDecode: number | undefined;
  if (fastDecoder && last) {
    const decoder = await PreviewDecoder.load(fastDecoder, { threads });
    const shape = { channels: 4, height: size / 8, width: size / 8 };
    await decoder.decode(last, shape); // its own first run, paid once per process like the others'
    const decodeStarted = performance.now();
    await decoder.decode(last, shape);
    fastDecode = performance.now() - decodeStarted;
    await decoder.release();
  }
  const { hash: _hash, ...load } = model.loadTimings;
  return {
    load, loadTotal, hash, outcomes,
    warmUp: Object.fromEntries(Object.entries(warm.runs).map(([name, runs]) => [name, runs[0] ?? 0])), warmUpTotal: warm.milliseconds,
    step: unetRuns.reduce((a, b) => a + b, 0) / Math.max(1, unetRuns.length), decode: timer.runs.vaeDecoder?.[0] ?? 0, fastDecode, image,
    peakRssGiB: process.resourceUsage().maxRSS / 2 ** 20, loadAverage: loadavg()[0]!,
  };
}

const seconds = (milliseconds: number | undefined) => (milliseconds === undefined ? '—' : `${(milliseconds / 1000).toFixed(2)} s`).padStart(14);

/** Runs the three modes one after another, each in a child process, and prints them side by side. */
export async function runFullComparison(options: FullBenchOptions): Promise<void> {
  const results: Partial<Record<Mode, Measured>> = {};
  for (const mode of Object.keys(modes) as Mode[]) {
    // Each mode's first load hashes the UNet as a first use would; the cached mode keeps what the build saved.
    if (mode !== 'all-cached') rmSync(join(options.benchDir, 'weight-hashes.json'), { force: true });
    if (mode === 'all-build') rmSync(join(options.benchDir, 'graphs'), { recursive: true, force: true });
    console.log(`running: ${modes[mode]} …`);
    const output = execFileSync(process.execPath, ['--import', 'tsx', import.meta.filename, '--mode', mode, '--options', JSON.stringify(options)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 2 ** 24 });
    results[mode] = JSON.parse(output.trim().split('\n').at(-1)!) as Measured;
  }
  const columns = Object.keys(modes) as Mode[];
  console.log(`\n== full-size SD-Turbo architecture (random weights): ${options.size}x${options.size}, ${options.steps} step(s), threads ${options.threads ?? 'all'}`);
  console.log(`${'stage'.padEnd(34)}${columns.map((mode) => modes[mode].padStart(18)).join('')}`);
  const row = (label: string, value: (measured: Measured) => number | undefined) => console.log(`${label.padEnd(34)}${columns.map((mode) => seconds(value(results[mode]!)).padStart(18)).join('')}`);
  for (const part of Object.keys(results.extended!.load)) row(`load: create ${part}`, (measured) => measured.load[part]);
  row('load: total (to first call)', (measured) => measured.loadTotal);
  row('load: hash (alongside)', (measured) => measured.hash);
  for (const part of Object.keys(results.extended!.warmUp)) row(`first run (warm-up): ${part}`, (measured) => measured.warmUp[part]);
  row('warm-up total', (measured) => measured.warmUpTotal);
  row('steady: unet step', (measured) => measured.step);
  row('steady: decode (full VAE)', (measured) => measured.decode);
  row('steady: decode (fast, VAElight)', (measured) => measured.fastDecode);
  row(`steady: image (${options.steps} steps + decode)`, (measured) => measured.image);
  console.log(`${'peak RSS'.padEnd(34)}${columns.map((mode) => `${results[mode]!.peakRssGiB.toFixed(2)} GiB`.padStart(18)).join('')}`);
  console.log(`${'load average (1 min) at the end'.padEnd(34)}${columns.map((mode) => results[mode]!.loadAverage.toFixed(2).padStart(18)).join('')}`);
  console.log(`graph cache: ${columns.map((mode) => `${modes[mode]}: ${Object.entries(results[mode]!.outcomes).map(([part, outcome]) => `${part} ${outcome}`).join(', ')}`).join('; ')}`);
  const [base, cached] = [results.extended!, results['all-cached']!];
  console.log(`ratios, cached all ÷ extended: unet step ${(cached.step / base.step).toFixed(3)}, full decode ${(cached.decode / base.decode).toFixed(3)}, image ${(cached.image / base.image).toFixed(3)}, load ${(cached.loadTotal / base.loadTotal).toFixed(3)}`);
  if (cached.fastDecode !== undefined) console.log(`fast decode ÷ full decode: ${(cached.fastDecode / cached.decode).toFixed(4)}`);
}

if (import.meta.filename === process.argv[1]) {
  const { values } = parseArgs({ options: { mode: { type: 'string' }, options: { type: 'string' } } });
  const measured = await measure(values.mode as Mode, JSON.parse(values.options!) as FullBenchOptions);
  console.log(JSON.stringify(measured));
}
