// Reduced-precision exports of the SD3 and FLUX.1 fixtures, made here since no real one can be downloaded:
// - fp16 at the edges (every float input and output float16, as fp16 exports present themselves), for
//   every part of both families: the engine reads each session's dtypes and converts;
// - FLUX.1 quantized as ONNX Runtime's quantizers write it: int8 and uint8 weights behind
//   DequantizeLinear, and 4-bit MatMulNBits, in the transformer and the T5 encoder, the parts a 24 GB
//   machine must quantize.
// They load through the same loader and pipeline as fp32 and stay near diffusers' fp32 reference runs.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { maxRelativeError } from '../../testing/conformance.js';
import { flowReferenceArray, flowReferences, runFlowReference } from '../../testing/flow-references.js';
import { quantizeWeights, withFloat16Io, type WeightQuantization } from '../../testing/onnx-surgery.js';
import { testData } from '../../testing/paths.js';
import { temporaryFolder } from '../../testing/temporary-files.js';
import { readOnnxGraph } from '../runtime/onnx-reader.js';
import { loadModel, type LoadedModel } from './model-loader.js';

const references = flowReferences('flux');
const run = references.runs[0]!;
const source = testData('fixtures', run.fixture);
const quantizedParts = ['transformer', 'text_encoder_2'];
const onnxParts = (folder: string) => readdirSync(folder).filter((entry) => existsSync(join(folder, entry, 'model.onnx')));

/** The fixture with each ONNX part that `change` names rewritten by it; every other file linked. */
function rewrittenFolder(root: string, name: string, fixture: string, parts: readonly string[], change: (bytes: Uint8Array, part: string) => Uint8Array): string {
  const folder = join(root, name);
  mkdirSync(folder);
  for (const entry of readdirSync(fixture)) {
    if (!parts.includes(entry)) {
      symlinkSync(join(fixture, entry), join(folder, entry));
      continue;
    }
    mkdirSync(join(folder, entry));
    for (const file of readdirSync(join(fixture, entry))) if (file !== 'model.onnx') symlinkSync(join(fixture, entry, file), join(folder, entry, file));
    writeFileSync(join(folder, entry, 'model.onnx'), change(readFileSync(join(fixture, entry, 'model.onnx')), entry));
  }
  return folder;
}

async function compare(folder: string, family: 'sd3' | 'flux' = 'flux', check: (model: LoadedModel) => void = () => {}): Promise<{ latentErrors: number[]; imageMax: number; imageMean: number }> {
  const { runs: [familyRun], defaults } = flowReferences(family);
  const model = await loadModel(folder);
  try {
    check(model);
    const output = await runFlowReference(model, familyRun!, defaults.seed);
    assert.deepEqual(output.timesteps, familyRun!.timesteps_seen);
    const latents = flowReferenceArray(family, familyRun!.files.latents);
    const stepSize = latents.data.length / latents.shape[0]!;
    const latentErrors = output.latents.map((stepLatents, step) => maxRelativeError(stepLatents, latents.data.subarray(step * stepSize, (step + 1) * stepSize)));
    const image = flowReferenceArray(family, familyRun!.files.image);
    let imageMax = 0;
    let sum = 0;
    for (let i = 0; i < image.data.length; i++) {
      const difference = Math.abs(output.image[i]! - image.data[i]!);
      imageMax = Math.max(imageMax, difference);
      sum += difference;
    }
    return { latentErrors, imageMax: imageMax * 255, imageMean: (sum / image.data.length) * 255 };
  } finally {
    await Promise.all(model.sessions.map((session) => session.release()));
  }
}

// Bounds: about twice what each quantization measured on the fixture (int8: latents 4.0e-3 of their
// range after the last step, image at most 2.2/255; 4-bit: 4.5e-2, mean 2.0/255, at most 28/255 where
// the tiny decoder amplifies a latent error). fp32 stays within 1e-4 and 1/255 (flux.test.ts).
const bounds: Record<WeightQuantization, { latent: number; imageMax: number; imageMean: number }> = {
  int8: { latent: 1e-2, imageMax: 5, imageMean: 0.5 },
  uint8: { latent: 1e-2, imageMax: 5, imageMean: 0.5 },
  'matmul-4bit': { latent: 1e-1, imageMax: 60, imageMean: 4 },
};

for (const mode of ['int8', 'uint8', 'matmul-4bit'] as const) {
  test(`a FLUX.1 export with ${mode} weights in its transformer and T5 loads and stays near diffusers' fp32 run`, async (t) => {
    const root = await temporaryFolder(`pixelpipe-quantized-${mode}-`);
    const quantized: Record<string, string[]> = {};
    // The tiny models' weights are small: quantize every MatMul and Gemm weight of 64 values or more.
    const folder = rewrittenFolder(root, mode, source, quantizedParts, (bytes, part) => {
      const result = quantizeWeights(bytes, mode, { minElements: 64 });
      quantized[part] = result.quantized;
      return result.bytes;
    });
    // The graphs really hold quantized weights: the float ones are gone, the quantized operators are there.
    for (const part of quantizedParts) {
      const graph = readOnnxGraph(readFileSync(join(folder, part, 'model.onnx')));
      assert.ok(quantized[part]!.length >= 10, `${part}: ${quantized[part]!.length} weights quantized`);
      for (const name of quantized[part]!) assert.equal(graph.initializers.has(name), false, `${part}: ${name} is no float initializer any more`);
      const operator = mode === 'matmul-4bit' ? 'MatMulNBits' : 'DequantizeLinear';
      assert.equal(graph.nodes.filter((node) => node.opType === operator).length, quantized[part]!.length);
      const quantizedType = mode === 'int8' ? 3 : 2;
      assert.ok([...graph.initializers.values()].some((tensor) => tensor.dataType === quantizedType), `${part} holds ${mode === 'int8' ? 'int8' : 'uint8'} initializers`);
    }
    const { latentErrors, imageMax, imageMean } = await compare(folder);
    t.diagnostic(`latent errors relative to the latent's range, per step: ${latentErrors.map((error) => error.toExponential(2)).join(', ')}; image max ${imageMax.toFixed(2)}/255, mean ${imageMean.toFixed(3)}/255`);
    assert.equal(latentErrors[0], 0, 'the initial noise is unchanged');
    assert.ok(latentErrors[1]! > 1e-5, 'the quantized weights were used: the first step differs from fp32');
    const bound = bounds[mode];
    for (const [step, error] of latentErrors.entries()) assert.ok(error < bound.latent, `step ${step}: relative error ${error} (bound ${bound.latent})`);
    assert.ok(imageMax <= bound.imageMax, `image differs by up to ${imageMax}/255 (bound ${bound.imageMax})`);
    assert.ok(imageMean <= bound.imageMean, `image differs by ${imageMean}/255 on average (bound ${bound.imageMean})`);
  });
}

// fp16 at the edges: the only change from fp32 is the rounding of what crosses them (measured: FLUX latents
// within 2.7e-4 of their range and the image within 0.29/255; SD3 1.4e-3 and 0.90/255).
for (const family of ['flux', 'sd3'] as const) {
  test(`a ${family === 'flux' ? 'FLUX.1' : 'SD3'} export whose parts all take and give float16 runs like fp32 and stays near diffusers' run`, async (t) => {
    const fixture = testData('fixtures', flowReferences(family).runs[0]!.fixture);
    const parts = onnxParts(fixture);
    const folder = rewrittenFolder(await temporaryFolder(`pixelpipe-fp16-${family}-`), 'fp16', fixture, parts, withFloat16Io);
    const { latentErrors, imageMax } = await compare(folder, family, (model) => {
      // Every part the loader opened sees float16 where the fixture has float32.
      const inputs = model.sessions.flatMap((session) => [...session.inputs].map(([name, info]) => [session.name, name, info.type]));
      assert.ok(inputs.some(([, name, type]) => name === 'hidden_states' && type === 'float16'), JSON.stringify(inputs));
      assert.ok(inputs.every(([, , type]) => type !== 'float32'), `no float32 input is left: ${JSON.stringify(inputs)}`);
    });
    t.diagnostic(`latent errors per step: ${latentErrors.map((error) => error.toExponential(2)).join(', ')}; image max ${imageMax.toFixed(2)}/255`);
    for (const [step, error] of latentErrors.entries()) assert.ok(error < 3e-3, `step ${step}: relative error ${error}`);
    assert.ok(imageMax <= 2, `image differs by up to ${imageMax}/255`);
  });
}
