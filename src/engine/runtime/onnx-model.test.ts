import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExecutionProviderError } from '../../spec/errors/execution-provider-error.js';
import { InvalidModelError } from '../../spec/errors/invalid-model-error.js';
import { buildOnnxModel } from '../../testing/onnx-builder.js';
import { UNetDenoiser } from '../denoisers/unet.js';
import { checkExecutionProvider, nativeLibraryFolder } from './execution-provider.js';
import { fromFloat16Bits, toFloat16Bits } from './float16.js';
import { OnnxModel } from './onnx-model.js';

const work = mkdtempSync(join(tmpdir(), 'pixelpipe-onnx-'));
test.after(() => rmSync(work, { recursive: true, force: true }));

/** An fp16 "UNet" with legacy int64 timestep: out_sample = sample, so the cast path is all that is tested. */
function writeFp16Unet(): string {
  const path = join(work, 'unet-fp16.onnx');
  writeFileSync(path, buildOnnxModel({
    nodes: [{ opType: 'Identity', inputs: ['sample'], outputs: ['out_sample'] }, { opType: 'Identity', inputs: ['timestep'], outputs: ['timestep_out'] }],
    inputs: [
      { name: 'sample', type: 'float16', shape: ['batch', 4, 'height', 'width'] },
      { name: 'timestep', type: 'int64', shape: ['steps'] },
      { name: 'encoder_hidden_states', type: 'float16', shape: ['batch', 'sequence', 8] },
    ],
    outputs: [{ name: 'out_sample', type: 'float16', shape: ['batch', 4, 'height', 'width'] }, { name: 'timestep_out', type: 'int64', shape: ['steps'] }],
  }));
  return path;
}

test('fp16 inputs are sent as half bits and fp16 outputs come back as float32', async () => {
  const model = await OnnxModel.load(writeFp16Unet(), 'unet');
  assert.equal(model.input('sample').type, 'float16');
  const sample = Float32Array.from({ length: 16 }, (_, index) => (index - 8) * 0.3337);
  const outputs = await model.run({
    sample: { data: sample, dims: [1, 4, 2, 2] },
    timestep: { data: [751], dims: [1] },
    encoder_hidden_states: { data: new Float32Array(8), dims: [1, 1, 8] },
  });
  assert.deepEqual(Array.from(outputs.out_sample!), Array.from(sample, (value) => fromFloat16Bits(toFloat16Bits(value))));
  assert.deepEqual(Array.from(outputs.timestep_out!), [751]);
});

test('the UNet wrapper batches guidance through an fp16 graph with a per-row int64 timestep', async () => {
  const unet = new UNetDenoiser(await OnnxModel.load(writeFp16Unet(), 'unet'), 4);
  const latent = Float32Array.from({ length: 16 }, (_, index) => index / 4);
  const context = { hiddenStates: new Float32Array(2 * 8), batch: 2, sequenceLength: 1, hiddenSize: 8 };
  // identity model: cond = uncond, so guidance leaves the prediction unchanged
  const prediction = await unet.predict(latent, { channels: 4, height: 2, width: 2 }, 501, { context }, 7.5);
  assert.deepEqual(Array.from(prediction), Array.from(latent));
});

test('a file that is not ONNX is named in the error', async () => {
  const path = join(work, 'broken.onnx');
  writeFileSync(path, 'not a model');
  await assert.rejects(OnnxModel.load(path, 'unet'), (error: unknown) => InvalidModelError.isInstance(error) && error.file === path && /could not be loaded by ONNX Runtime/.test(error.message));
});

test('asking for CUDA without its provider library says what is missing and how to install it', () => {
  const library = join(nativeLibraryFolder() ?? '', 'libonnxruntime_providers_cuda.so');
  if (existsSync(library)) {
    // a machine where the install script fetched the CUDA provider: the check must let it through
    assert.doesNotThrow(() => checkExecutionProvider('cuda'));
    return;
  }
  assert.throws(() => checkExecutionProvider('cuda'), (error: unknown) => {
    assert.ok(ExecutionProviderError.isInstance(error));
    assert.match(error.message, /libonnxruntime_providers_cuda\.so is missing/);
    assert.match(error.message, /npm rebuild onnxruntime-node/);
    return true;
  });
  assert.doesNotThrow(() => checkExecutionProvider('cpu'));
});
