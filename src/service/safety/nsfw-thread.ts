// The worker thread that runs nsfwjs on TensorFlow.js's WebAssembly backend (SIMD; about 20 times the
// pure-JavaScript backend's speed, and its binary ships inside the npm package). A classification still
// computes for a tenth of a second without giving its thread back, so it runs here rather than on the
// server's own thread. The model loads once, from the weights inside the nsfwjs package (no network).
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import type { ModelDefinition } from 'nsfwjs/core';
import type { nsfwModels } from './moderation-policy.js';

/** Main thread → nsfwjs thread: an image as `size`×`size` RGB bytes, row by row. */
export interface NsfwThreadRequest {
  id: number;
  pixels: Uint8Array;
}

/** nsfwjs thread → main thread: the probabilities in nsfwjs's class order, or why there are none. Id 0 says the model loaded. */
export type NsfwThreadReply = { id: number; probabilities: number[] } | { id: number; error: string };

const port = parentPort;
if (!port) throw new Error('nsfw-thread.ts runs as a worker thread of NsfwClassifier');

const definitions: Record<(typeof nsfwModels)[number], () => Promise<ModelDefinition>> = {
  mobilenet_v2: async () => (await import('nsfwjs/models/mobilenet_v2')).MobileNetV2Model,
  mobilenet_v2_mid: async () => (await import('nsfwjs/models/mobilenet_v2_mid')).MobileNetV2MidModel,
  inception_v3: async () => (await import('nsfwjs/models/inception_v3')).InceptionV3Model,
};

const { model, size } = workerData as { model: (typeof nsfwModels)[number]; size: number };

// Production mode skips TensorFlow.js's debug checks, and its note that a native backend would be faster.
tf.enableProdMode();
// The .wasm files are read from the installed package, never fetched.
setWasmPaths(`${dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'))}/`);

// The package ships each shard as base64 in a module; the manifest says the order the weights are in.
async function load(): Promise<tf.LayersModel | tf.GraphModel> {
  await tf.setBackend('wasm');
  const definition = await definitions[model]();
  const json = (await definition.modelJson()).default;
  const shards = new Map<string, Buffer>();
  for (const [index, bundle] of definition.weightBundles.entries()) {
    shards.set(`group1-shard${index + 1}of${definition.numOfWeightBundles}`, Buffer.from((await bundle()).default, 'base64'));
  }
  const manifest = json.weightsManifest ?? [];
  const weightData = Buffer.concat(manifest.flatMap((group) => group.paths.map((path) => shards.get(path)!)));
  const artifacts: tf.io.ModelArtifacts = {
    modelTopology: json.modelTopology,
    format: json.format,
    generatedBy: json.generatedBy,
    convertedBy: json.convertedBy,
    weightSpecs: manifest.flatMap((group) => group.weights),
    weightData: weightData.buffer.slice(weightData.byteOffset, weightData.byteOffset + weightData.byteLength),
  };
  const handler = tf.io.fromMemory(artifacts);
  return definition.options?.type === 'graph' ? await tf.loadGraphModel(handler) : await tf.loadLayersModel(handler);
}

const ready = load();
ready.then(
  () => port.postMessage({ id: 0, probabilities: [] } satisfies NsfwThreadReply),
  (error: Error) => port.postMessage({ id: 0, error: `nsfwjs could not load its ${model} model: ${error.message}` } satisfies NsfwThreadReply),
);

port.on('message', async ({ id, pixels }: NsfwThreadRequest) => {
  try {
    const net = await ready;
    // nsfwjs's own input: RGB scaled to [0, 1], one image of size×size.
    const output = tf.tidy(() => net.predict(tf.tensor4d(Float32Array.from(pixels, (value) => value / 255), [1, size, size, 3]), {}) as tf.Tensor);
    const probabilities = Array.from(await output.data());
    output.dispose();
    port.postMessage({ id, probabilities } satisfies NsfwThreadReply);
  } catch (error) {
    port.postMessage({ id, error: (error as Error).message } satisfies NsfwThreadReply);
  }
});
