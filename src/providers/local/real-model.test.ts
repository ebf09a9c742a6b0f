// Opt-in: runs a real model folder (e.g. an SD-Turbo ONNX export) when PIXELPIPE_MODEL_DIR names one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readPngText } from '../../engine/image/png.js';
import { rawRgb } from '../../testing/images.js';
import { createLocal } from './local-provider.js';

const folder = process.env.PIXELPIPE_MODEL_DIR;

test('a real model folder generates the same image twice for the same seed', { skip: folder ? false : 'opt-in: set PIXELPIPE_MODEL_DIR to a model folder to run' }, async (t) => {
  const local = createLocal();
  try {
    const model = local.imageModel(folder!, { folder: folder! });
    const options = { prompt: 'a photo of a red cube on a wooden table', n: 1, seed: 42 };
    const first = await model.doGenerate(options);
    const second = await model.doGenerate(options);
    const [a, b] = await Promise.all([rawRgb(first.images[0]!.bytes), rawRgb(second.images[0]!.bytes)]);
    assert.ok(a.data.equals(b.data), 'same seed, same pixels');
    const mean = a.data.reduce((sum, value) => sum + value, 0) / a.data.length;
    const variance = a.data.reduce((sum, value) => sum + (value - mean) ** 2, 0) / a.data.length;
    assert.ok(variance > 10, `the image is not flat (variance ${variance})`);
    assert.match(readPngText(first.images[0]!.bytes).parameters!, /Seed: 42/);
    t.diagnostic(`timings: ${JSON.stringify(first.response.timings)}`);
  } finally {
    await local.close();
  }
});
