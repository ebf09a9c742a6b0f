// The bundled esrgan-slim models, converted to ONNX, against TensorFlow.js running the same model.json
// and weights (CPU backend): the reference is tfjs, not our own output.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { InvalidModelError } from '../../spec/errors/invalid-model-error.js';
import { convertLayersModel, type LayersModelJson } from './keras-to-onnx.js';
import { esrganSlimDirectory, readEsrganSlimFiles } from './esrgan-slim.js';
import { OnnxUpscaler } from './upscaler.js';

const width = 24;
const height = 20;

/** A 24×20 crop of the package's own fixture photo, as 8-bit RGB. */
async function fixtureCrop(): Promise<Uint8Array> {
  return new Uint8Array(await sharp(join(esrganSlimDirectory(), 'assets', 'fixture.png')).removeAlpha().extract({ left: 40, top: 30, width, height }).raw().toBuffer());
}

async function tfjsReference(model: LayersModelJson, weights: Uint8Array, pixels: Uint8Array): Promise<{ data: Float32Array; dims: number[] }> {
  await tf.setBackend('cpu');
  const handler = tf.io.fromMemory({
    modelTopology: model.modelTopology as unknown as tf.io.ModelJSON['modelTopology'],
    weightSpecs: model.weightsManifest.flatMap((group) => group.weights) as tf.io.WeightsManifestEntry[],
    weightData: weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength) as ArrayBuffer,
  });
  const layersModel = await tf.loadLayersModel(handler);
  // upscalerjs feeds the RDN models 0–255 pixels, NHWC.
  const input = tf.tensor4d(Float32Array.from(pixels), [1, height, width, 3]);
  const output = layersModel.predict(input) as tf.Tensor;
  const result = { data: (await output.data()) as Float32Array, dims: output.shape as number[] };
  tf.dispose([input, output]);
  layersModel.dispose();
  return result;
}

for (const scale of [2, 4] as const) {
  test(`esrgan-slim x${scale} converted to ONNX matches TensorFlow.js within 1e-4 of the 0–1 range`, async (context) => {
    const pixels = await fixtureCrop();
    const { path, model, weights } = await readEsrganSlimFiles(scale);
    const converted = convertLayersModel(model, weights, { inputRange: 255, label: path });
    assert.equal(converted.scale, scale);
    // Five 3×3 convs on the way in (5), the 5×5 and two 3×3 before upsampling (4), and the final 3×3, whose
    // one high-resolution pixel of reach crosses into the next input pixel (1).
    assert.equal(converted.receptiveMargin, 10);

    const reference = await tfjsReference(model, weights, pixels);
    assert.deepEqual(reference.dims, [1, height * scale, width * scale, 3]);

    const upscaler = await OnnxUpscaler.fromBytes(converted.onnx, { name: `x${scale}`, scale });
    const planar = new Float32Array(3 * width * height);
    for (let index = 0; index < width * height; index++) for (let channel = 0; channel < 3; channel++) planar[channel * width * height + index] = pixels[index * 3 + channel]! / 255;
    const ours = await upscaler.upscale({ data: planar, width, height });
    await upscaler.release();
    assert.equal(ours.width, width * scale);
    assert.equal(ours.height, height * scale);

    let maxDifference = 0;
    const plane = ours.width * ours.height;
    for (let index = 0; index < plane; index++) {
      for (let channel = 0; channel < 3; channel++) {
        const expected = reference.data[index * 3 + channel]! / 255;
        maxDifference = Math.max(maxDifference, Math.abs(ours.data[channel * plane + index]! - expected));
      }
    }
    context.diagnostic(`max |onnx − tfjs| = ${maxDifference.toExponential(2)}`);
    assert.ok(maxDifference <= 1e-4, `max |onnx − tfjs| = ${maxDifference} (0–1 range)`);
  });
}

test('a model.json with an unsupported layer fails naming the layer and its type', async () => {
  const { path, model, weights } = await readEsrganSlimFiles(2);
  const edited = structuredClone(model);
  const layers = edited.modelTopology.model_config!.config.layers;
  const index = layers.findIndex((layer) => layer.class_name === 'UpSampling2D');
  layers[index] = { ...layers[index]!, class_name: 'Conv2DTranspose' };
  assert.throws(
    () => convertLayersModel(edited, weights, { inputRange: 255, label: path }),
    (error: unknown) => InvalidModelError.isInstance(error) && /layer "UPsample" is a Conv2DTranspose, which the Keras-to-ONNX converter does not support \(supported: .*UpSampling2D/.test(error.message),
  );
});

test('truncated weight shards are refused with the byte counts', async () => {
  const { path, model, weights } = await readEsrganSlimFiles(2);
  assert.throws(() => convertLayersModel(model, weights.subarray(0, 1000), { inputRange: 255, label: path }), /shards end at byte 1000, before weight .* a shard is missing or truncated/);
});
