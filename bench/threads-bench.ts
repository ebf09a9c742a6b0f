// `npm run bench -- --only threads`: local workers on a CPU host, 1 process × all cores against one
// process per core (what `serve --workers N` does now, sharing the cores out) and against N processes
// each left at ONNX Runtime's default of all cores (oversubscribed). Each process loads the full-size
// SD-Turbo architecture and makes its share of the images; the figure is images per minute.
import { spawn } from 'node:child_process';
import { availableParallelism, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { loadModel } from '../src/engine/families/model-loader.js';
import { textToImage } from '../src/engine/pipelines/text-to-image.js';
import { warmUp } from '../src/engine/pipelines/warm-up.js';

export interface ThreadsBenchOptions {
  folder: string;
  size: number;
  steps: number;
  /** Images in all, shared between the processes. */
  images: number;
}

interface Layout {
  label: string;
  processes: number;
  /** Intra-op threads per process; undefined: ONNX Runtime's default (all cores). */
  threads?: number;
}

/** One worker process: load, warm up (as serve does at start), then make `images` images, timing only those. */
async function worker(options: ThreadsBenchOptions, images: number, threads: number | undefined): Promise<void> {
  const model = await loadModel(options.folder, threads ? { threads } : {});
  await warmUp(model, { width: options.size, height: options.size });
  process.send?.('ready');
  await new Promise<void>((resolve) => process.once('message', () => resolve()));
  const started = performance.now();
  for (let i = 0; i < images; i++) await textToImage(model, { prompt: 'a lighthouse at dusk', width: options.size, height: options.size, steps: options.steps, guidance: 0, sampler: 'euler', seed: BigInt(i) });
  console.log(JSON.stringify({ milliseconds: performance.now() - started }));
}

/** Starts the layout's processes, lets them all load and warm up, then times their images together. */
async function runLayout(options: ThreadsBenchOptions, layout: Layout): Promise<{ wall: number; perImage: number[] }> {
  const share = options.images / layout.processes;
  const children = Array.from({ length: layout.processes }, () => spawn(process.execPath, ['--import', 'tsx', import.meta.filename, '--worker', JSON.stringify({ options, images: share, threads: layout.threads })], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] }));
  await Promise.all(children.map((child) => new Promise<void>((resolve) => child.once('message', () => resolve()))));
  const started = performance.now();
  const outputs = children.map((child) => new Promise<string>((resolve) => {
    let text = '';
    child.stdout!.on('data', (chunk: Buffer) => { text += chunk.toString(); });
    child.once('exit', () => resolve(text));
  }));
  for (const child of children) child.send('go');
  const results = (await Promise.all(outputs)).map((text) => JSON.parse(text.trim().split('\n').at(-1)!) as { milliseconds: number });
  return { wall: performance.now() - started, perImage: results.map((result) => result.milliseconds / share) };
}

export async function runThreadsComparison(options: ThreadsBenchOptions): Promise<void> {
  const cores = availableParallelism();
  const layouts: Layout[] = [
    { label: `1 process × ${cores} threads`, processes: 1 },
    { label: `${cores} processes × 1 thread (serve --workers ${cores})`, processes: cores, threads: 1 },
    { label: `${cores} processes × ${cores} threads (oversubscribed)`, processes: cores },
  ];
  console.log(`\n== worker layouts on ${cores} cores: full-size SD-Turbo architecture, ${options.size}x${options.size}, ${options.steps} step(s), ${options.images} images in all`);
  for (const layout of layouts) {
    const { wall, perImage } = await runLayout(options, layout);
    console.log(`${layout.label.padEnd(52)} ${((options.images / wall) * 60_000).toFixed(2).padStart(7)} images/min; per image in a process ${perImage.map((ms) => `${(ms / 1000).toFixed(2)} s`).join(', ')}; load average ${loadavg()[0]!.toFixed(2)}`);
  }
}

if (import.meta.filename === process.argv[1]) {
  const { values } = parseArgs({ options: { worker: { type: 'string' } } });
  if (values.worker) {
    const { options, images, threads } = JSON.parse(values.worker) as { options: ThreadsBenchOptions; images: number; threads?: number };
    await worker(options, images, threads);
    process.disconnect?.();
  }
}
