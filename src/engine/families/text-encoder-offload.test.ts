// Sequential offload: with `offloadTextEncoders` the text encoders are loaded for each encoding and released before
// the denoiser runs, and the image is exactly the one made with everything loaded (tiny FLUX.1 and SD3 fixtures).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testData } from '../../testing/paths.js';
import { textToImage } from '../pipelines/text-to-image.js';
import { OnnxModel } from '../runtime/onnx-model.js';
import { StageTimer } from '../runtime/stage-timer.js';
import { loadModel } from './model-loader.js';

for (const [fixture, guidance] of [['tiny-flux', 3.5], ['tiny-sd3', 5]] as const) {
  test(`${fixture}: with the text encoders offloaded no text encoder is loaded while the transformer runs, and the image is unchanged`, async () => {
    const call = { prompt: 'a photo of a cat', width: 64, height: 64, steps: 2, guidance, sampler: 'flowmatch_euler' as const, seed: 3n };
    const resident = await loadModel(testData('fixtures', fixture));
    const expected = await textToImage(resident, call);
    await Promise.all(resident.sessions.map((session) => session.release()));

    const before = OnnxModel.liveSessions;
    const offloaded = await loadModel(testData('fixtures', fixture), { offloadTextEncoders: true });
    // Only the transformer and the VAE decoder stay loaded between calls.
    assert.deepEqual(offloaded.sessions.map((session) => session.name).sort(), ['transformer', 'vaeDecoder']);
    assert.equal(OnnxModel.liveSessions - before, 2);
    const liveDuringSteps: number[] = [];
    const timer = new StageTimer();
    const output = await textToImage(offloaded, { ...call, timer, onStep: () => void liveDuringSteps.push(OnnxModel.liveSessions - before) });
    assert.deepEqual(liveDuringSteps, [2, 2], 'the text encoders were released before the first step');
    assert.equal(OnnxModel.liveSessions - before, 2);
    assert.ok(timer.stages.textEncoderLoad! > 0, 'the load is timed as its own stage');
    assert.deepEqual(output.rgb, expected.rgb);
    await Promise.all(offloaded.sessions.map((session) => session.release()));
  });
}

test('a LoRA that patches the text encoder stays applied when the text encoder is offloaded and opened again for every call', async () => {
  const lora = testData('fixtures', 'tiny-sd15-lora', 'tiny-sd15-lora.kohya.safetensors');
  const call = { prompt: 'a photo of an astronaut', negativePrompt: '', width: 64, height: 64, steps: 2, guidance: 7.5, sampler: 'euler' as const, seed: 5n };
  const resident = await loadModel(testData('fixtures', 'tiny-sd15'), { loras: [{ path: lora, scale: 1 }] });
  const expected = (await textToImage(resident, call)).rgb;
  await Promise.all(resident.sessions.map((session) => session.release()));
  const offloaded = await loadModel(testData('fixtures', 'tiny-sd15'), { loras: [{ path: lora, scale: 1 }], offloadTextEncoders: true });
  assert.deepEqual((await textToImage(offloaded, call)).rgb, expected);
  assert.deepEqual((await textToImage(offloaded, call)).rgb, expected, 'the second call too');
  await Promise.all(offloaded.sessions.map((session) => session.release()));
});
