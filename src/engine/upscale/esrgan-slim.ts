// The bundled default upscaler: idealo's RDN weights from the @upscalerjs/esrgan-slim npm package
// (MIT), converted from their TensorFlow.js layers format to ONNX when loaded.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import type { RuntimeOptions } from '../runtime/onnx-model.js';
import { convertLayersModel, type ConvertedModel, type LayersModelJson } from './keras-to-onnx.js';
import { OnnxUpscaler } from './upscaler.js';

export const esrganSlimScales = [2, 3, 4, 8] as const;
export type EsrganSlimScale = (typeof esrganSlimScales)[number];

/** The package's folder, found through Node's resolution so a hoisted or nested install both work. */
export function esrganSlimDirectory(): string {
  let directory = dirname(createRequire(import.meta.url).resolve('@upscalerjs/esrgan-slim'));
  while (!existsSync(join(directory, 'package.json')) && dirname(directory) !== directory) directory = dirname(directory);
  return directory;
}

/** model.json and its weight shards, concatenated in manifest order. */
export async function readEsrganSlimFiles(scale: EsrganSlimScale): Promise<{ path: string; model: LayersModelJson; weights: Uint8Array }> {
  const folder = join(esrganSlimDirectory(), 'models', `x${scale}`);
  const path = join(folder, 'model.json');
  const model = JSON.parse(await readFile(path, 'utf8')) as LayersModelJson;
  const shards = await Promise.all(model.weightsManifest.flatMap((group) => group.paths).map((shard) => readFile(join(folder, shard))));
  return { path, model, weights: new Uint8Array(Buffer.concat(shards)) };
}

/** The x`scale` model as ONNX: upscalerjs feeds RDN pixels in 0–255 and clips its output to 0–255. */
export async function convertEsrganSlim(scale: EsrganSlimScale): Promise<ConvertedModel & { weightsSha256: string }> {
  const { path, model, weights } = await readEsrganSlimFiles(scale);
  return { ...convertLayersModel(model, weights, { inputRange: 255, label: path }), weightsSha256: `sha256:${createHash('sha256').update(weights).digest('hex')}` };
}

export async function loadEsrganSlim(scale: number, options: RuntimeOptions = {}): Promise<OnnxUpscaler> {
  if (!(esrganSlimScales as readonly number[]).includes(scale)) {
    throw new InvalidArgumentError({ argument: 'scale', value: scale, message: `\`scale\` must be one of ${esrganSlimScales.join(', ')} for the bundled esrgan-slim upscaler, got ${scale}; for another factor give an ONNX upscaler with --model` });
  }
  const converted = await convertEsrganSlim(scale as EsrganSlimScale);
  return OnnxUpscaler.fromBytes(converted.onnx, { name: `esrgan-slim-x${scale}`, scale: converted.scale, hash: converted.weightsSha256, receptiveMargin: converted.receptiveMargin }, options);
}
