// The T5 encoder wrapper against the PyTorch outputs in model_io (tiny-sd3 text_encoder_3, tiny-flux text_encoder_2).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readNpy } from '../../testing/npy.js';
import { testData } from '../../testing/paths.js';
import { maxRelativeError } from '../../testing/conformance.js';
import { OnnxModel } from '../runtime/onnx-model.js';
import { T5TextEncoder } from './t5-encoder.js';

for (const [fixture, component] of [['tiny-sd3', 'text_encoder_3'], ['tiny-flux', 'text_encoder_2']] as const) {
  test(`${fixture} ${component}: last_hidden_state equals PyTorch's for the recorded ids`, async () => {
    const model = await OnnxModel.load(testData('fixtures', fixture, component, 'model.onnx'), component);
    assert.equal(model.input('input_ids').type, 'int64');
    const encoder = new T5TextEncoder(model);
    const ids = readNpy(testData('conformance', 'model_io', fixture, component, 'in_input_ids.npy'));
    const [batch, length] = ids.shape as [number, number];
    const rows = Array.from({ length: batch }, (_, row) => Array.from((ids.data as BigInt64Array).subarray(row * length, (row + 1) * length), Number));
    const expected = readNpy(testData('conformance', 'model_io', fixture, component, 'out_last_hidden_state.npy'));
    const output = await encoder.encode(rows);
    assert.deepEqual([output.batch, output.sequenceLength, output.hiddenSize], expected.shape);
    const error = maxRelativeError(output.hiddenStates, expected.data as Float32Array);
    assert.ok(error < 1e-5, `relative error ${error}`);
    await model.release();
  });
}
