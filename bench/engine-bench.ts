// `npm run bench`: per-stage engine times, overhead over session.run, load time and peak memory,
// on the tiny fixtures (SD 1.5, and the transformer families SD3 and FLUX.1); and, on a full-size
// SD-Turbo-architecture model rebuilt from shared/ skeletons, today's `extended` graphs against the
// graph cache's `all` graphs side by side (bench/engine-full-bench.ts).
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadModel, type LoadedModel } from '../src/engine/families/model-loader.js';
import { encodePng } from '../src/engine/image/png.js';
import { textToImage } from '../src/engine/pipelines/text-to-image.js';
import { PreviewDecoder } from '../src/engine/preview/preview-decoder.js';
import { previewMaker } from '../src/providers/local/local-previews.js';
import type { OptimizationLevel } from '../src/engine/runtime/onnx-model.js';
import { StageTimer } from '../src/engine/runtime/stage-timer.js';
import type { SamplerName } from '../src/engine/schedulers/index.js';
import { createWeightHashCache } from '../src/engine/runtime/weight-hash.js';
import { runFullComparison } from './engine-full-bench.js';
import { prepareFullSizeModel } from './full-size-model.js';
import { runThreadsComparison } from './threads-bench.js';

const root = resolve(import.meta.dirname, '..');
const shared = resolve(root, '..', 'shared');
const { values } = parseArgs({
  options: {
    only: { type: 'string' }, size: { type: 'string', default: '512' }, steps: { type: 'string', default: '2' },
    threads: { type: 'string' }, 'graph-level': { type: 'string', default: 'extended' }, 'bench-dir': { type: 'string', default: join(root, '.bench') },
    previews: { type: 'string' }, images: { type: 'string', default: '4' },
  },
});

const milliseconds = (value: number) => `${value.toFixed(1).padStart(10)} ms`;

function folderBytes(folder: string): number {
  return readdirSync(folder, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile())
    .reduce((sum, entry) => sum + statSync(join(entry.parentPath, entry.name)).size, 0);
}

async function bench(label: string, folder: string, options: { size: number; steps: number; guidance: number; sampler: SamplerName }): Promise<void> {
  console.log(`\n== ${label}: ${options.size}x${options.size}, ${options.steps} step(s), guidance ${options.guidance}, ${options.sampler}, graph level ${values['graph-level']}`);
  const threads = values.threads ? Number(values.threads) : undefined;
  // The same hash store the CLI keeps: the first run hashes the UNet, later runs find it remembered.
  const hashCache = createWeightHashCache(join(values['bench-dir']!, 'weight-hashes.json'));
  const loadStarted = performance.now();
  const model: LoadedModel = await loadModel(folder, { threads, hashCache, graphLevel: values['graph-level'] as OptimizationLevel });
  const loadMs = performance.now() - loadStarted;
  const denoiser = model.modelFamily.denoiserFolder;
  const sizes = Object.fromEntries(['text_encoder', denoiser, 'vae_decoder'].map((part) => [part, folderBytes(join(folder, part))]));
  console.log(`model on disk: ${Object.entries(sizes).map(([part, bytes]) => `${part} ${(bytes / 2 ** 20).toFixed(1)} MiB`).join(', ')}; total ${(Object.values(sizes).reduce((a, b) => a + b, 0) / 2 ** 30).toFixed(2)} GiB`);
  console.log(`load: ${milliseconds(loadMs)} (${Object.entries(model.loadTimings).map(([part, ms]) => `${part} ${ms.toFixed(0)} ms`).join(', ')})`);

  // One warm-up image would hide first-run allocation costs; a user's first image pays them, so none is done.
  const timer = new StageTimer();
  const started = performance.now();
  // --previews latent|decoder: make a step preview as the local provider does, timed as its own stage.
  const previewDecoderPath = join(shared, 'fixtures', 'vaelight', 'VAEpreview.onnx');
  // The decoder is loaded before the clock starts, as a server keeps it loaded between jobs.
  const decoder = values.previews === 'decoder' ? await PreviewDecoder.load(previewDecoderPath, { threads }) : undefined;
  const makePreview = values.previews === undefined ? undefined : previewMaker(model, decoder && (async () => decoder));
  const shape = { channels: model.latentChannels, height: options.size / model.vaeScaleFactor, width: options.size / model.vaeScaleFactor };
  const onStep = makePreview && ((_step: number, _steps: number, latents: Float32Array, denoised: Float32Array | undefined) => timer.measure('preview', () => makePreview(denoised ?? latents, shape)).then(() => undefined));
  const output = await textToImage(model, { prompt: 'an astronaut riding a horse on the moon', negativePrompt: '', width: options.size, height: options.size, steps: options.steps, guidance: options.guidance, sampler: options.sampler, seed: 42n, timer, onStep });
  await timer.measure('png', () => encodePng(output.rgb, output.width, output.height, [{ keyword: 'parameters', text: 'bench' }]));
  const total = performance.now() - started;

  const runs = timer.runs;
  // The denoiser's session runs are named after its folder: `unet`, or `transformer` for SD3 and FLUX.
  const denoiserRuns = runs[denoiser] ?? [];
  console.log('stage                     wall time');
  for (const stage of ['tokenize', 'textEncoder', 'samplerMath', 'denoise', 'preview', 'vae', 'toBytes', 'png']) console.log(`  ${stage.padEnd(20)}${milliseconds(timer.stages[stage] ?? 0)}`);
  denoiserRuns.forEach((ms, call) => console.log(`    ${denoiser} call ${String(call + 1).padEnd(11 + 4 - denoiser.length)}${milliseconds(ms)}  (session.run)`));
  console.log(`  session.run: textEncoder ${milliseconds(runs.textEncoder?.[0] ?? 0)}, vaeDecoder ${milliseconds(runs.vaeDecoder?.[0] ?? 0)}`);
  const sessionMs = timer.sessionMilliseconds;
  const unetMs = denoiserRuns.reduce((a, b) => a + b, 0);
  console.log(`total ${milliseconds(total)}; sum of session.run ${milliseconds(sessionMs)}; overhead ratio ${(total / sessionMs).toFixed(4)} (${(((total - sessionMs) / sessionMs) * 100).toFixed(2)}% outside ONNX Runtime)`);
  console.log(`denoise loop: ${milliseconds(timer.stages.denoise ?? 0)} around ${milliseconds(unetMs)} of ${denoiser} session.run; ratio ${((timer.stages.denoise ?? 0) / unetMs).toFixed(4)}`);
  const vaeRun = runs.vaeDecoder?.[0] ?? 0;
  const unetStep = unetMs / Math.max(1, denoiserRuns.length);
  console.log(`VAE decode ÷ one ${denoiser} call: ${(vaeRun / unetStep).toFixed(2)}`);
  if (timer.stages.preview !== undefined) {
    const perStep = timer.stages.preview / Math.max(1, denoiserRuns.length);
    console.log(`preview (${values.previews}) per step: ${milliseconds(perStep)}; ÷ one ${denoiser} call: ${(perStep / unetStep).toFixed(4)}`);
  }
  console.log(`peak RSS so far: ${(process.resourceUsage().maxRSS / 2 ** 20).toFixed(2)} GiB`);
  await Promise.all([...model.sessions, ...(decoder ? [decoder] : [])].map((session) => session.release()));
}

const size = Number(values.size);
const steps = Number(values.steps);
if (values.only === undefined || values.only === 'tiny') await bench('tiny-sd15 fixture', join(root, 'test-data', 'fixtures', 'tiny-sd15'), { size: 64, steps: 4, guidance: 7.5, sampler: 'euler' });
// --only flow: the transformer families on their tiny fixtures, as diffusers' reference runs call them.
if (values.only === undefined || values.only === 'flow') {
  await bench('tiny-sd3 fixture (MM-DiT transformer)', join(root, 'test-data', 'fixtures', 'tiny-sd3'), { size: 64, steps: 4, guidance: 5, sampler: 'flowmatch_euler' });
  await bench('tiny-flux fixture (FLUX.1 transformer)', join(root, 'test-data', 'fixtures', 'tiny-flux'), { size: 64, steps: 4, guidance: 3.5, sampler: 'flowmatch_euler' });
}
if (values.only === undefined || values.only === 'full') {
  if (!existsSync(join(shared, 'fixtures', 'skeletons'))) {
    console.log(`\nfull-size benchmark NOT RUN: ${shared}/fixtures/skeletons is absent`);
  } else {
    const fastDecoder = join(shared, 'fixtures', 'vaelight', 'VAEpreview.onnx');
    await runFullComparison({
      folder: await prepareFullSizeModel(values['bench-dir']!), benchDir: values['bench-dir']!, size, steps,
      ...(values.threads ? { threads: Number(values.threads) } : {}), ...(existsSync(fastDecoder) ? { fastDecoder } : {}),
    });
  }
}
// --only threads (not part of the default run): worker processes × intra-op threads on this CPU.
if (values.only === 'threads') {
  await runThreadsComparison({ folder: await prepareFullSizeModel(values['bench-dir']!), size: Number(values.size), steps: 1, images: Number(values.images) });
}
