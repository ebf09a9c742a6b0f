import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadStableDiffusion } from '../families/stable-diffusion.js';
import { OnnxModel } from '../runtime/onnx-model.js';
import { textToImage } from '../pipelines/text-to-image.js';
import { readNpy } from '../../testing/npy.js';
import { testData } from '../../testing/paths.js';
import { maxRelativeError, pipelineIndex, referenceChecker, referenceSamplers, type PipelineRun } from '../../testing/conformance.js';
import { ControlNetModel } from './controlnet-model.js';
import { activeControls, checkControls, residualLayout, type ControlInput } from './control-conditioning.js';
import { prepareControlImage } from './control-image.js';

const fixture = testData('fixtures', 'tiny-sd15-controlnet');
const references = testData('conformance', 'pipelines', 'controlnet');
const index = JSON.parse(readFileSync(join(references, 'index.json'), 'utf8')) as { runs: Array<PipelineRun & { controlnet_conditioning_scale: number }> };
const controlImage = testData('conformance', 'inputs', 'control_image.png');
const io = (model: string, name: string) => readNpy(testData('conformance', 'model_io', 'tiny-sd15-controlnet', model, `${name}.npy`));

async function controls(scale: number, window: { start: number; end: number } = { start: 0, end: 1 }, net?: ControlNetModel): Promise<ControlInput> {
  const prepared = await prepareControlImage(controlImage, { type: 'image', width: 64, height: 64 });
  return { net: net ?? (await ControlNetModel.load(fixture)), image: prepared.image, scale, ...window };
}

for (const run of index.runs) {
  test(`ControlNet text-to-image matches diffusers: ${run.id} (conditioning scale ${run.controlnet_conditioning_scale})`, async (t) => {
    const model = { ...(await loadStableDiffusion(fixture)), schedulerConfig: run.scheduler_config };
    const checker = referenceChecker(t, { ...run, files: { image: `controlnet/${run.files.image}`, latents: `controlnet/${run.files.latents}`, png: `controlnet/${run.files.png}` } });
    const output = await textToImage(model, {
      prompt: run.call.prompt, negativePrompt: run.call.negative_prompt, width: run.call.width, height: run.call.height,
      steps: run.call.num_inference_steps, guidance: run.call.guidance_scale, sampler: referenceSamplers[run.scheduler]!, seed: BigInt(pipelineIndex.defaults.seed),
      controls: [await controls(run.controlnet_conditioning_scale)], onInitialLatents: checker.onInitialLatents, onStep: checker.onStep,
    });
    checker.check(output);
  });
}

test('the ControlNet matches its torch outputs on the model_io inputs', async () => {
  const net = await ControlNetModel.load(fixture);
  const sample = io('controlnet', 'in_sample');
  const context = io('controlnet', 'in_encoder_hidden_states');
  const cond = io('controlnet', 'in_controlnet_cond');
  const [batch, sequenceLength, hiddenSize] = context.shape as [number, number, number];
  const one = cond.data.length / batch;
  const residuals = await net.residuals(sample.data as Float32Array, sample.shape, Number(io('controlnet', 'in_timestep').data[0]), { hiddenStates: context.data as Float32Array, batch, sequenceLength, hiddenSize }, { data: (cond.data as Float32Array).subarray(0, one), width: cond.shape[3]!, height: cond.shape[2]! }, Number(io('controlnet', 'in_conditioning_scale').data[0]));
  for (let i = 0; i < 4; i++) assert.ok(maxRelativeError(residuals.get(`down_block_${i}`)!.data, io('controlnet', `out_down_block_res_samples_${i}`).data as Float32Array) < 1e-5, `down ${i}`);
  assert.ok(maxRelativeError(residuals.get('mid_block_additional_residual')!.data, io('controlnet', 'out_mid_block_res_sample').data as Float32Array) < 1e-5);
});

test('with zero residuals the ControlNet UNet equals the plain UNet (same weights) on the same inputs', async (t) => {
  const plain = await OnnxModel.load(testData('fixtures', 'tiny-sd15', 'unet', 'model.onnx'), 'unet');
  const withResiduals = await loadStableDiffusion(fixture);
  const sampleArray = readNpy(testData('conformance', 'model_io', 'tiny-sd15', 'unet', 'in_sample.npy'));
  const context = readNpy(testData('conformance', 'model_io', 'tiny-sd15', 'unet', 'in_encoder_hidden_states.npy'));
  const timestep = Number(readNpy(testData('conformance', 'model_io', 'tiny-sd15', 'unet', 'in_timestep.npy')).data[0]);
  const [batch, channels, height, width] = sampleArray.shape as [number, number, number, number];
  const expected = (await plain.run({ sample: { data: sampleArray.data as Float32Array, dims: sampleArray.shape }, timestep: { data: [timestep], dims: [] }, encoder_hidden_states: { data: context.data as Float32Array, dims: context.shape } })).out_sample!;
  assert.ok(maxRelativeError(expected, readNpy(testData('conformance', 'model_io', 'tiny-sd15', 'unet', 'out_out_sample.npy')).data as Float32Array) < 1e-5);
  // One row at a time through predict (guidance 1 returns that row), against the plain UNet on the same row, so batch sizes match.
  const size = channels * height * width;
  const [, sequenceLength, hiddenSize] = context.shape as [number, number, number];
  let worst = 0;
  for (let row = 0; row < batch; row++) {
    const hiddenStates = (context.data as Float32Array).slice(row * sequenceLength * hiddenSize, (row + 1) * sequenceLength * hiddenSize);
    const latent = (sampleArray.data as Float32Array).slice(row * size, (row + 1) * size);
    const plainRow = (await plain.run({ sample: { data: latent, dims: [1, channels, height, width] }, timestep: { data: [timestep], dims: [] }, encoder_hidden_states: { data: hiddenStates, dims: [1, sequenceLength, hiddenSize] } })).out_sample!;
    const predicted = await withResiduals.unet.predict(latent, { channels, height, width }, timestep, { context: { hiddenStates, batch: 1, sequenceLength, hiddenSize } }, 1);
    worst = Math.max(worst, maxRelativeError(predicted, plainRow));
  }
  t.diagnostic(`zero residuals vs the plain UNet: relative difference ${worst.toExponential(2)}`);
  // The two graphs differ by the residual additions (x + 0), which ONNX Runtime may fuse differently: float32 rounding only.
  assert.ok(worst < 1e-5, `relative difference ${worst}`);
});

test('the residual layout follows the UNet config (conv_in, resnets, downsamplers, mid block)', async () => {
  const unet = await OnnxModel.load(join(fixture, 'unet', 'model.onnx'), 'unet');
  const layout = residualLayout(unet, JSON.parse(readFileSync(join(fixture, 'unet', 'config.json'), 'utf8')) as Record<string, unknown>, fixture)!;
  assert.deepEqual(layout.names.map((name) => layout.shape(name, 8, 8)), [[32, 8, 8], [32, 8, 8], [32, 4, 4], [64, 4, 4], [64, 4, 4]]);
  assert.equal(residualLayout(await OnnxModel.load(testData('fixtures', 'tiny-sd15', 'unet', 'model.onnx'), 'unet'), {}, 'plain'), undefined);
});

test('the guidance window follows diffusers controlnet_keep', () => {
  const control = { start: 0.25, end: 0.75 } as ControlInput;
  assert.deepEqual([0, 1, 2, 3].map((step) => activeControls([control], step, 4).length), [0, 1, 1, 0]);
  assert.deepEqual([0, 1, 2, 3].map((step) => activeControls([{ start: 0, end: 1 } as ControlInput], step, 4).length), [1, 1, 1, 1]);
});

test('two ControlNets sum their residuals: two at 0.5 equal one at 1; an empty window equals no ControlNet', async () => {
  const model = await loadStableDiffusion(fixture);
  const net = await ControlNetModel.load(fixture);
  const common = { prompt: 'a red cube', negativePrompt: '', width: 64, height: 64, steps: 4, guidance: 7.5, sampler: 'euler' as const, seed: 42n };
  const one = await textToImage(model, { ...common, controls: [await controls(1, undefined, net)] });
  const two = await textToImage(model, { ...common, controls: [await controls(0.5, undefined, net), await controls(0.5, undefined, net)] });
  assert.deepEqual(two.rgb, one.rgb);
  const none = await textToImage(model, common);
  const closed = await textToImage(model, { ...common, controls: [await controls(1, { start: 0, end: 0 }, net)] });
  assert.deepEqual(closed.rgb, none.rgb);
  assert.notDeepEqual(none.rgb, one.rgb, 'the ControlNet changes the image');
});

test('a ControlNet given to an SDXL or SD3 model is refused, naming both', async () => {
  const model = await loadStableDiffusion(testData('fixtures', 'tiny-sdxl'));
  const control = await controls(1);
  assert.throws(() => checkControls(model, [control], { width: 64, height: 64 }), /ControlNet tiny-sd15-controlnet \(for SD 1\.x\/2\.x\) cannot be used with tiny-sdxl \(SDXL\)/);
  const sd3 = await loadStableDiffusion(testData('fixtures', 'tiny-sd3'));
  assert.throws(() => checkControls(sd3, [control], { width: 64, height: 64 }), /ControlNet tiny-sd15-controlnet \(for SD 1\.x\/2\.x\) cannot be used with tiny-sd3 \(SD3\)/);
  const plain = await loadStableDiffusion(testData('fixtures', 'tiny-sd15'));
  assert.throws(() => checkControls(plain, [control], { width: 64, height: 64 }), /tiny-sd15's UNet takes no ControlNet residuals/);
});

test('a missing ControlNet file is an InvalidModelError naming the path', async () => {
  await assert.rejects(ControlNetModel.load(testData('fixtures', 'tiny-sd15')), { name: 'InvalidModelError', message: /no ControlNet at .*tiny-sd15: give a ControlNet model\.onnx, or a folder holding controlnet\/model\.onnx/ });
});
