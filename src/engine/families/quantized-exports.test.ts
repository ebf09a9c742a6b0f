// Quantized exports of the FLUX.1 fixture, made here as ONNX Runtime's quantizers write them (no real
// quantized export can be downloaded): int8 and uint8 weights behind DequantizeLinear, and 4-bit
// MatMulNBits, in the transformer and the T5 encoder, the parts a 24 GB machine must quantize. They load
// through the same loader and pipeline as fp32 and stay near diffusers' fp32 reference run.
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { maxRelativeError } from '../../testing/conformance.js';
import { flowReferenceArray, flowReferences, runFlowReference } from '../../testing/flow-references.js';
import { quantizeWeights, type WeightQuantization } from '../../testing/onnx-surgery.js';
import { testData } from '../../testing/paths.js';
import { temporaryFolder } from '../../testing/temporary-files.js';
import { readOnnxGraph } from '../runtime/onnx-reader.js';
import { loadModel } from './model-loader.js';

const references = flowReferences('flux');
const run = references.runs[0]!;
const source = testData('fixtures', run.fixture);
const quantizedParts = ['transformer', 'text_encoder_2'];

/** The fixture with its transformer and T5 quantized; every other file linked. */
function quantizedFolder(root: string, mode: WeightQuantization): { folder: string; quantized: Record<string, string[]> } {
  const folder = join(root, mode);
  mkdirSync(folder);
  const quantized: Record<string, string[]> = {};
  for (const entry of readdirSync(source)) {
    if (!quantizedParts.includes(entry)) {
      symlinkSync(join(source, entry), join(folder, entry));
      continue;
    }
    mkdirSync(join(folder, entry));
    for (const file of readdirSync(join(source, entry))) if (file !== 'model.onnx') symlinkSync(join(source, entry, file), join(folder, entry, file));
    // The tiny models' weights are small: quantize every MatMul and Gemm weight of 64 values or more.
    const result = quantizeWeights(readFileSync(join(source, entry, 'model.onnx')), mode, { minElements: 64 });
    writeFileSync(join(folder, entry, 'model.onnx'), result.bytes);
    quantized[entry] = result.quantized;
  }
  return { folder, quantized };
}

async function compare(folder: string): Promise<{ latentErrors: number[]; imageMax: number; imageMean: number }> {
  const model = await loadModel(folder);
  try {
    const output = await runFlowReference(model, run, references.defaults.seed);
    assert.deepEqual(output.timesteps, run.timesteps_seen);
    const latents = flowReferenceArray('flux', run.files.latents);
    const stepSize = latents.data.length / latents.shape[0]!;
    const latentErrors = output.latents.map((stepLatents, step) => maxRelativeError(stepLatents, latents.data.subarray(step * stepSize, (step + 1) * stepSize)));
    const image = flowReferenceArray('flux', run.files.image);
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
    const { folder, quantized } = quantizedFolder(root, mode);
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
