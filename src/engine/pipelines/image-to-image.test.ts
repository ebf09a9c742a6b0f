import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadStableDiffusion } from '../families/stable-diffusion.js';
import { conformanceImage, pipelineIndex, pipelineRun, referenceChecker, referenceSamplers } from '../../testing/conformance.js';
import { testData } from '../../testing/paths.js';
import { flowReferences } from '../../testing/flow-references.js';
import { loadModel } from '../families/model-loader.js';
import { OnnxModel } from '../runtime/onnx-model.js';
import { TorchGenerator } from '../tensor/torch-random.js';
import { VaeEncoder, rgbToModelInput } from '../vae/vae-encoder.js';
import { createSampler } from './denoise.js';
import { imageToImage } from './image-to-image.js';
import { inpaint } from './inpaint.js';
import { textToImage } from './text-to-image.js';

const f32 = Math.fround;

test('image-to-image matches diffusers: img2img_euler_s4_g7.5 (strength 0.5 runs the last 2 of 4 timesteps)', async (t) => {
  const run = pipelineRun('img2img_euler_s4_g7.5');
  const model = { ...(await loadStableDiffusion(testData('fixtures', run.fixture))), schedulerConfig: run.scheduler_config };
  const checker = referenceChecker(t, run, 1e-5);
  const output = await imageToImage(model, {
    prompt: run.call.prompt, negativePrompt: run.call.negative_prompt, width: run.call.width, height: run.call.height,
    steps: run.call.num_inference_steps, guidance: run.call.guidance_scale, sampler: referenceSamplers[run.scheduler]!, seed: BigInt(pipelineIndex.defaults.seed),
    image: await conformanceImage(), strength: run.call.strength!, onInitialLatents: checker.onInitialLatents, onStep: checker.onStep,
  });
  checker.check(output);
});

test('a strength that leaves no step to run is refused, naming the fix', async () => {
  const model = await loadStableDiffusion(testData('fixtures', 'tiny-sd15'));
  await assert.rejects(
    imageToImage(model, { prompt: 'a red cube', width: 64, height: 64, steps: 2, guidance: 7.5, sampler: 'euler', seed: 1n, image: await conformanceImage(), strength: 0.3 }),
    (error: Error) => error.name === 'InvalidArgumentError' && /`strength` 0\.3 with 2 steps runs no step/.test(error.message) && /at least 4/.test(error.message),
  );
});

test('every sampler runs image-to-image from the tail of its schedule, deterministically by seed', async () => {
  const model = await loadStableDiffusion(testData('fixtures', 'tiny-sd15'));
  const image = await conformanceImage();
  for (const sampler of ['euler', 'euler_a', 'ddim', 'dpmpp_2m', 'dpmpp_2m_karras', 'lcm', 'pndm'] as const) {
    const options = { prompt: 'a red cube', width: 64, height: 64, steps: 4, guidance: 7.5, sampler, seed: 7n, image, strength: 0.5 };
    const first = await imageToImage(model, options);
    const second = await imageToImage(model, options);
    assert.deepEqual(first.rgb, second.rgb, `${sampler}: same seed, same image`);
    assert.ok(first.timesteps.length >= 2 && first.timesteps.length <= 3, `${sampler}: ran ${first.timesteps.length} timesteps`);
  }
});

test('an older export that samples inside its VAE encoder still edits, with a note that seeds do not reproduce it', async () => {
  const model = await loadStableDiffusion(testData('fixtures', 'tiny-sd15-legacy-io'));
  const output = await imageToImage(model, { prompt: 'a red cube', width: 64, height: 64, steps: 4, guidance: 7.5, sampler: 'euler', seed: 1n, image: await conformanceImage(), strength: 0.5 });
  assert.equal(output.rgb.length, 64 * 64 * 3);
  assert.equal(output.notes.length, 1);
  assert.match(output.notes[0]!, /samples inside the graph/);
});

// SD3 (StableDiffusion3Img2ImgPipeline): there is no diffusers reference run for it, so these check what can be known exactly.
const sd3Model = loadModel(testData('fixtures', 'tiny-sd3'));
/** diffusers 0.29.2's 4-step schedule on tiny-sd3 (the text-to-image reference run's timesteps). */
const sd3Schedule = flowReferences('sd3').runs[0]!.timesteps_seen;
const sd3Options = { prompt: 'a red cube', negativePrompt: '', width: 64, height: 64, steps: 4, guidance: 5, sampler: 'flowmatch_euler' as const, seed: 42n };
const sd3LatentDims = [1, 16, 8, 8];

test("SD3 image-to-image keeps diffusers' get_timesteps tail: ⌊steps − steps·strength⌋ skipped (0.5 → last 2 of 4, 0.6 → last 3)", async () => {
  const model = await sd3Model;
  const image = await conformanceImage();
  assert.equal(sd3Schedule.length, 4);
  for (const [strength, start] of [[0.5, 2], [0.6, 1], [1, 0]] as const) {
    const output = await imageToImage(model, { ...sd3Options, image, strength });
    assert.deepEqual(output.timesteps, sd3Schedule.slice(start), `strength ${strength}`);
    assert.equal(output.rgb.length, 64 * 64 * 3);
    assert.deepEqual(output.notes, []);
  }
});

test('SD3 image-to-image starts from scale_noise: σ·noise + (1 − σ)·x0, x0 the encoder\'s (z − shift)·scale and noise the generator\'s next draw', async () => {
  const model = await sd3Model;
  const image = await conformanceImage();
  let initial: Float32Array | undefined;
  await imageToImage(model, { ...sd3Options, image, strength: 0.6, onInitialLatents: (latents) => { initial = latents; } });

  // The encoder draws the posterior sample first, then the pipeline draws the noise (diffusers' prepare_latents).
  const generator = new TorchGenerator(42n);
  const encoder = await model.vaeEncoder();
  const x0 = await encoder.encode(rgbToModelInput(image), image, generator);
  const noise = generator.randn(sd3LatentDims);
  const scheduler = createSampler(model, 'flowmatch_euler');
  scheduler.setTimesteps(4);
  const sigma = scheduler.sigmas[1]!;
  assert.equal(Math.fround(sigma * 1000), sd3Schedule[1], 'σ is the first kept timestep\'s');
  const expected = x0.map((value, i) => f32(f32(sigma * noise[i]!) + f32(f32(1 - sigma) * value)));
  assert.deepEqual(initial, expected);

  // x0 is (z − shift_factor) · scaling_factor of the raw posterior sample z, with the VAE config's factors.
  const raw = await new VaeEncoder(await OnnxModel.load(testData('fixtures', 'tiny-sd3', 'vae_encoder', 'model.onnx'), 'vaeEncoder'), 1).encode(rgbToModelInput(image), image, new TorchGenerator(42n));
  let largest = 0;
  for (let i = 0; i < raw.length; i++) largest = Math.max(largest, Math.abs(x0[i]! - f32(f32(1.5305) * f32(raw[i]! - f32(0.0609)))));
  assert.ok(largest <= 1e-5, `x0 off (z − shift)·scale by ${largest}`);
});

test('SD3 image-to-image at strength 1 starts from pure noise, the draw after the encoder\'s, so it is not text-to-image\'s start', async () => {
  const model = await sd3Model;
  const image = await conformanceImage();
  let initial: Float32Array | undefined;
  const edited = await imageToImage(model, { ...sd3Options, image, strength: 1, onInitialLatents: (latents) => { initial = latents; } });
  let textInitial: Float32Array | undefined;
  const generated = await textToImage(model, { ...sd3Options, onInitialLatents: (latents) => { textInitial = latents; } });
  assert.deepEqual(edited.timesteps, generated.timesteps);
  // σ = 1 at the first timestep, so scale_noise returns the noise itself: the generator's second draw of the latent's shape.
  const generator = new TorchGenerator(42n);
  const first = generator.randn(sd3LatentDims);
  const second = generator.randn(sd3LatentDims);
  assert.deepEqual(textInitial, first);
  assert.deepEqual(initial, second);
  assert.notDeepEqual(edited.rgb, generated.rgb);
});

// SD3 inpainting (StableDiffusion3InpaintPipeline, read in diffusers' source): no reference run exists, so exact checks of
// what the pipeline does: the draws (image encode, noise, masked-image encode), the start, and the kept region's blend.
test('SD3 inpainting: strength 1 starts from the noise drawn after the image encode; the kept cells end as the image latents exactly, the masked ones are generated', async () => {
  const model = await sd3Model;
  const image = await conformanceImage();
  // Repaint the left half (latent columns 0–3 of 8), keep the right.
  const mask = Float32Array.from({ length: 64 * 64 }, (_, i) => (i % 64 < 32 ? 1 : 0));
  let initial: Float32Array | undefined;
  let last: Float32Array | undefined;
  const output = await inpaint(model, { ...sd3Options, image, mask, strength: 1, onInitialLatents: (latents) => { initial = latents; }, onStep: (_step, _steps, latents) => { last = latents.slice(); } });
  assert.deepEqual(output.timesteps, sd3Schedule);
  const generator = new TorchGenerator(42n);
  const x0 = await (await model.vaeEncoder()).encode(rgbToModelInput(image), image, generator);
  assert.deepEqual(initial, generator.randn(sd3LatentDims), 'init_noise_sigma is 1: the noise itself');
  let keptExact = true;
  let repainted = 0;
  for (let i = 0; i < last!.length; i++) {
    if (i % 8 >= 4) keptExact &&= last![i] === x0[i];
    else if (last![i] !== x0[i]) repainted++;
  }
  assert.ok(keptExact, 'after the last step the kept cells are the image latents, bit for bit');
  assert.equal(repainted, 16 * 8 * 4, 'every masked cell was generated');
  assert.equal(output.rgb.length, 64 * 64 * 3);
});

test('SD3 inpainting at strength 0.5 runs the last 2 of 4 timesteps from scale_noise of the image latents, as its image-to-image does', async () => {
  const model = await sd3Model;
  const image = await conformanceImage();
  let initial: Float32Array | undefined;
  const output = await inpaint(model, { ...sd3Options, image, mask: new Float32Array(64 * 64).fill(1), strength: 0.5, onInitialLatents: (latents) => { initial = latents; } });
  assert.deepEqual(output.timesteps, sd3Schedule.slice(2));
  const generator = new TorchGenerator(42n);
  const x0 = await (await model.vaeEncoder()).encode(rgbToModelInput(image), image, generator);
  const noise = generator.randn(sd3LatentDims);
  const scheduler = createSampler(model, 'flowmatch_euler');
  scheduler.setTimesteps(4);
  const sigma = scheduler.sigmas[2]!;
  assert.deepEqual(initial, x0.map((value, i) => f32(f32(sigma * noise[i]!) + f32(f32(1 - sigma) * value))));
});

// FLUX.1 (FluxImg2ImgPipeline, read in diffusers' source): no reference run exists either, so the same exact checks, on
// its dynamically shifted schedule and with noise of the unpacked latent's shape (the denoiser packs it).
const fluxModel = loadModel(testData('fixtures', 'tiny-flux'));
const fluxSchedule = flowReferences('flux').runs[0]!.timesteps_seen;
const fluxOptions = { prompt: 'a red cube', negativePrompt: '', width: 64, height: 64, steps: 4, guidance: 3.5, sampler: 'flowmatch_euler' as const, seed: 42n };
const fluxLatentDims = [1, 16, 8, 8];

test("FLUX.1 image-to-image keeps the tail of its dynamically shifted schedule: int(steps − steps·strength) skipped (0.5 → last 2 of 4, 0.6 → last 3)", async () => {
  const model = await fluxModel;
  const image = await conformanceImage();
  assert.equal(fluxSchedule.length, 4);
  for (const [strength, start] of [[0.5, 2], [0.6, 1], [1, 0]] as const) {
    const output = await imageToImage(model, { ...fluxOptions, image, strength });
    assert.deepEqual(output.timesteps, fluxSchedule.slice(start), `strength ${strength}`);
    assert.equal(output.rgb.length, 64 * 64 * 3);
  }
});

test('FLUX.1 image-to-image starts from scale_noise of the encoder\'s (z − 0.1159)·0.3611 and the generator\'s next draw, and its image follows the input', async () => {
  const model = await fluxModel;
  const image = await conformanceImage();
  let initial: Float32Array | undefined;
  const edited = await imageToImage(model, { ...fluxOptions, image, strength: 0.5, onInitialLatents: (latents) => { initial = latents; } });

  const generator = new TorchGenerator(42n);
  const encoder = await model.vaeEncoder();
  const x0 = await encoder.encode(rgbToModelInput(image), image, generator);
  const noise = generator.randn(fluxLatentDims);
  const scheduler = createSampler(model, 'flowmatch_euler');
  scheduler.setTimesteps(4, { imageSequenceLength: 16 });
  const sigma = scheduler.sigmas[2]!;
  assert.equal(Math.fround(sigma * 1000), fluxSchedule[2], 'σ is the first kept timestep\'s');
  assert.deepEqual(initial, x0.map((value, i) => f32(f32(sigma * noise[i]!) + f32(f32(1 - sigma) * value))));

  const raw = await new VaeEncoder(await OnnxModel.load(testData('fixtures', 'tiny-flux', 'vae_encoder', 'model.onnx'), 'vaeEncoder'), 1).encode(rgbToModelInput(image), image, new TorchGenerator(42n));
  let largest = 0;
  for (let i = 0; i < raw.length; i++) largest = Math.max(largest, Math.abs(x0[i]! - f32(f32(0.3611) * f32(raw[i]! - f32(0.1159)))));
  assert.ok(largest <= 1e-5, `x0 off (z − shift)·scale by ${largest}`);

  // Half the schedule kept: the result is nearer the input than a text-to-image of the same seed is.
  const generated = await textToImage(model, fluxOptions);
  const distance = (rgb: Uint8Array) => rgb.reduce((sum, value, i) => sum + Math.abs(value - image.data[i]!), 0) / rgb.length;
  assert.ok(distance(edited.rgb) < distance(generated.rgb), `edited ${distance(edited.rgb).toFixed(1)} vs generated ${distance(generated.rgb).toFixed(1)} levels from the input`);
});

test('FLUX.1 inpainting is refused, naming image-to-image as what FLUX.1 runs', async () => {
  const model = await fluxModel;
  await assert.rejects(
    inpaint(model, { ...fluxOptions, image: await conformanceImage(), mask: new Float32Array(64 * 64).fill(1), strength: 1 }),
    { name: 'InvalidArgumentError', message: /inpainting is not supported for FLUX\.1 models .*text-to-image and image-to-image only: leave out the mask/ },
  );
});
