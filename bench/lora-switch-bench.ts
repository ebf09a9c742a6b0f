// `npm run bench:lora`: switching LoRAs on the full-size SD-Turbo architecture, whose UNet keeps its 3.3 GB of
// weights in external data (model.onnx + model.onnx_data, as Optimum writes it). Two synthetic rank-8 LoRAs on
// every attention projection; prints the first load with a LoRA (the base read from disk once), each switch
// (merge in memory + session build), and a plain load from disk for comparison.
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadModel, type LoadedModel } from '../src/engine/families/model-loader.js';
import { LoraWeights } from '../src/engine/lora/lora-weights.js';
import { prepareFullSizeModel } from './full-size-model.js';

const { values } = parseArgs({ options: { 'bench-dir': { type: 'string', default: resolve(import.meta.dirname, '..', '.bench') }, rank: { type: 'string', default: '8' } } });
const benchDir = values['bench-dir']!;
const rank = Number(values.rank);

/** A PEFT-format LoRA (`unet.<module>.lora_A.weight` [rank, in], `lora_B.weight` [out, rank]) with small seeded values. */
function writeLora(path: string, layers: Array<{ module: string; inFeatures: number; outFeatures: number }>, seed: number): void {
  let state = seed;
  const random = () => ((state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31 - 0.5) * 0.02;
  const header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }> = {};
  const chunks: Float32Array[] = [];
  let offset = 0;
  for (const { module, inFeatures, outFeatures } of layers) {
    for (const [suffix, shape] of [['lora_A.weight', [rank, inFeatures]], ['lora_B.weight', [outFeatures, rank]]] as const) {
      const values = Float32Array.from({ length: shape[0] * shape[1] }, random);
      header[`unet.${module}.${suffix}`] = { dtype: 'F32', shape: [...shape], data_offsets: [offset, offset + values.byteLength] };
      offset += values.byteLength;
      chunks.push(values);
    }
  }
  const json = Buffer.from(JSON.stringify(header));
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  writeFileSync(path, Buffer.concat([length, json, ...chunks.map((chunk) => Buffer.from(chunk.buffer))]));
}

const seconds = (milliseconds: number) => `${(milliseconds / 1000).toFixed(2)} s`;
const timed = async <T>(work: () => Promise<T>): Promise<[T, number]> => {
  const started = performance.now();
  return [await work(), performance.now() - started];
};
const release = (model: LoadedModel) => Promise.all(model.sessions.map((session) => session.release()));

const folder = await prepareFullSizeModel(benchDir);
const weights = new LoraWeights(folder);
const [unet, readMs] = await timed(() => weights.model('unet'));
const attention = unet.layers.filter((layer) => /attn[12]\.to_(q|k|v|out\.0)$/.test(layer.graphModule)).map((layer) => ({ module: layer.graphModule.replace(/^unet\./, ''), inFeatures: layer.inFeatures, outFeatures: layer.outFeatures }));
const files = [join(benchDir, 'lora-a.safetensors'), join(benchDir, 'lora-b.safetensors')];
files.forEach((file, index) => writeLora(file, attention, index + 1));
const externalBytes = [...unet.externals.values()].reduce((sum, data) => sum + data.length, 0);
console.log(`== LoRA switching on the full-size SD-Turbo UNet (${(unet.base.length / 2 ** 20).toFixed(1)} MiB graph + ${(externalBytes / 2 ** 30).toFixed(2)} GiB external data), rank ${rank} on ${attention.length} attention projections`);
console.log(`base UNet read into memory once: ${seconds(readMs)}`);
const [plain, plainMs] = await timed(() => loadModel(folder));
console.log(`plain load from disk (no LoRA):  ${seconds(plainMs)} (unet ${seconds(plain.loadTimings.unet!)})`);
await release(plain);
for (const [label, loras] of [['LoRA A', [{ path: files[0]!, scale: 1 }]], ['switch to LoRA B', [{ path: files[1]!, scale: 0.8 }]], ['switch to A + B', [{ path: files[0]!, scale: 0.5 }, { path: files[1]!, scale: 0.5 }]], ['switch back to A', [{ path: files[0]!, scale: 1 }]]] as const) {
  const [model, totalMs] = await timed(() => loadModel(folder, { loras, loraWeights: weights }));
  console.log(`${label.padEnd(32)} ${seconds(totalMs)} in all: merge ${seconds(model.loadTimings.loras!)}, unet session ${seconds(model.loadTimings.unet!)} (${model.loras.map((lora) => `${lora.name} ×${lora.scale}, ${lora.layers} layers`).join('; ')})`);
  await release(model);
}
console.log(`peak RSS ${(process.resourceUsage().maxRSS / 2 ** 20).toFixed(2)} GiB`);
