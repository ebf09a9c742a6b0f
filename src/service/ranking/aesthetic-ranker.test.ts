// The aesthetic ranker: the conformance suite, and its MLP against the same MLP built as an ONNX graph and run by onnxruntime-node.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { fromFloat16Bits, toFloat16Bits } from '../../engine/runtime/float16.js';
import { InvalidModelError } from '../../spec/errors/invalid-model-error.js';
import { buildOnnxModel, type Initializer, type NodeInfo } from '../../testing/onnx-builder.js';
import { testData } from '../../testing/paths.js';
import { AestheticPredictor, AestheticRanker } from './aesthetic-ranker.js';
import { createRanker } from './create-ranker.js';
import { rankerConformance } from './ranker.case.js';

const clipFolder = testData('fixtures', 'tiny-clip');
const reference = JSON.parse(readFileSync(testData('conformance', 'clip_scores.json'), 'utf8')) as { images: string[]; image_embeds_raw: number[][] };

/** A seeded Linear layer: weight [out, in] and bias [out], values about ±1/√in as torch initialises them. */
interface Layer {
  key: number;
  weight: number[];
  bias: number[];
  inputs: number;
  outputs: number;
}

function randomLayers(widths: number[], keys: number[], seed: number): Layer[] {
  let state = seed;
  const random = () => ((state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1; // LCG: reproducible, not our code under test
  return keys.map((key, position) => {
    const inputs = widths[position]!;
    const outputs = widths[position + 1]!;
    const scale = 1 / Math.sqrt(inputs);
    return { key, inputs, outputs, weight: Array.from({ length: outputs * inputs }, () => random() * scale), bias: Array.from({ length: outputs }, () => random() * scale) };
  });
}

/** Writes a .safetensors file: u64 header length, JSON header (keys in the order given), raw little-endian data. */
type StoredType = 'F32' | 'F16' | 'BF16' | 'F64';

/** bfloat16 by truncation: the top 16 bits of the float32. */
const toBfloat16Bits = (value: number) => new Uint32Array(Float32Array.of(value).buffer)[0]! >>> 16;
const fromBfloat16Bits = (bits: number) => new Float32Array(Uint32Array.of(bits << 16).buffer)[0]!;

function safetensorsBytes(tensors: Array<{ name: string; shape: number[]; values: number[] }>, dtype: StoredType): Buffer {
  const size = { F32: 4, F16: 2, BF16: 2, F64: 8 }[dtype];
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  const chunks: Buffer[] = [];
  let offset = 0;
  for (const { name, shape, values } of tensors) {
    const chunk = Buffer.alloc(values.length * size);
    values.forEach((value, index) => {
      if (dtype === 'F32') chunk.writeFloatLE(value, index * 4);
      else if (dtype === 'F64') chunk.writeDoubleLE(value, index * 8);
      else chunk.writeUInt16LE(dtype === 'F16' ? toFloat16Bits(value) : toBfloat16Bits(value), index * 2);
    });
    header[name] = { dtype, shape, data_offsets: [offset, offset + chunk.length] };
    chunks.push(chunk);
    offset += chunk.length;
  }
  const json = Buffer.from(JSON.stringify(header));
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([length, json, ...chunks]);
}

function layerTensors(layers: Layer[]) {
  // Biases first and layers reversed: discovery must go by the key numbers, not the file's order.
  return [...layers].reverse().flatMap((layer) => [
    { name: `layers.${layer.key}.bias`, shape: [layer.outputs], values: layer.bias },
    { name: `layers.${layer.key}.weight`, shape: [layer.outputs, layer.inputs], values: layer.weight },
  ]);
}

/** The independent computation: x / ReduceL2(x), then MatMul by Wᵀ and Add b per layer, in onnxruntime-node. */
async function onnxScores(layers: Layer[], embeddings: number[][]): Promise<number[]> {
  const nodes: NodeInfo[] = [
    { opType: 'ReduceL2', inputs: ['embedding'], outputs: ['norm'] },
    { opType: 'Div', inputs: ['embedding', 'norm'], outputs: ['h0'] },
  ];
  const initializers: Initializer[] = [];
  layers.forEach((layer, position) => {
    const transposed = Array.from({ length: layer.inputs * layer.outputs }, (_, index) => layer.weight[(index % layer.outputs) * layer.inputs + Math.floor(index / layer.outputs)]!);
    initializers.push({ name: `w${position}`, type: 'float32', dims: [layer.inputs, layer.outputs], values: transposed }, { name: `b${position}`, type: 'float32', dims: [layer.outputs], values: layer.bias });
    const output = position === layers.length - 1 ? 'score' : `h${position + 1}`;
    nodes.push({ opType: 'MatMul', inputs: [`h${position}`, `w${position}`], outputs: [`m${position}`] }, { opType: 'Add', inputs: [`m${position}`, `b${position}`], outputs: [output] });
  });
  const width = layers[0]!.inputs;
  const session = await ort.InferenceSession.create(buildOnnxModel({ nodes, initializers, inputs: [{ name: 'embedding', type: 'float32', shape: [1, width] }], outputs: [{ name: 'score', type: 'float32', shape: [1, 1] }] }));
  try {
    const scores: number[] = [];
    // One at a time: ReduceL2 without axes reduces the whole [1, width] tensor, which is one embedding's norm.
    for (const embedding of embeddings) scores.push(Number((await session.run({ embedding: new ort.Tensor('float32', Float32Array.from(embedding), [1, width]) })).score!.data[0]));
    return scores;
  } finally {
    await session.release();
  }
}

// The LAION predictor's keys (layers.0, .2, .4, .6, .7: dropouts between) on tiny-clip's 32-wide embeddings.
const layers = randomLayers([32, 16, 8, 4, 2, 1], [0, 2, 4, 6, 7], 20240501);
// float32 weights in both; ours accumulates in float64, onnxruntime in float32.
const relativeTolerance = 1e-5;
// The ranker preprocesses the PNGs with sharp instead of PIL: measured 1.6e-6 against the scores of the reference embeddings.
const preprocessedTolerance = 1e-5;

let folder: string;
let weightsPath: string;
before(async () => {
  folder = await mkdtemp(join(tmpdir(), 'pixelpipe-aesthetic-'));
  weightsPath = join(folder, 'aesthetic.safetensors');
  await writeFile(weightsPath, safetensorsBytes(layerTensors(layers), 'F32'));
});
after(async () => {
  await rm(folder, { recursive: true, force: true });
});

rankerConformance('aesthetic (tiny-clip, random 32→16→8→4→2→1 MLP)', async () => ({ ranker: new AestheticRanker({ clipModel: clipFolder, weights: weightsPath }) }));

describe('aesthetic predictor against onnxruntime', () => {
  test('on the reference CLIP image embeddings, our MLP gives what the ONNX graph of it gives', async (t) => {
    const predictor = await AestheticPredictor.load(weightsPath);
    assert.equal(predictor.shapes, '32→16→8→4→2→1');
    const expected = await onnxScores(layers, reference.image_embeds_raw);
    for (const [index, embedding] of reference.image_embeds_raw.entries()) {
      const ours = predictor.predict(embedding);
      t.diagnostic(`${reference.images[index]}: ${ours} (onnxruntime ${expected[index]})`);
      assert.ok(Math.abs(ours - expected[index]!) <= relativeTolerance * Math.max(1, Math.abs(expected[index]!)));
    }
  });

  test('F16 and BF16 weights read as their 16-bit values', async () => {
    for (const [dtype, round] of [
      ['F16', (value: number) => fromFloat16Bits(toFloat16Bits(value))],
      ['BF16', (value: number) => fromBfloat16Bits(toBfloat16Bits(value))],
    ] as const) {
      const path = join(folder, `aesthetic-${dtype}.safetensors`);
      await writeFile(path, safetensorsBytes(layerTensors(layers), dtype));
      const rounded = layers.map((layer) => ({ ...layer, weight: layer.weight.map(round), bias: layer.bias.map(round) }));
      const expected = await onnxScores(rounded, reference.image_embeds_raw);
      const predictor = await AestheticPredictor.load(path);
      reference.image_embeds_raw.forEach((embedding, index) => assert.ok(Math.abs(predictor.predict(embedding) - expected[index]!) <= relativeTolerance * Math.max(1, Math.abs(expected[index]!)), dtype));
    }
  });

  test('the ranker, from the PNGs, scores what the ONNX graph scores on the reference embeddings', async (t) => {
    const ranker = createRanker({ type: 'aesthetic', clipModel: clipFolder, weights: weightsPath });
    try {
      const candidates = reference.images.map((image, index) => ({ index, bytes: readFileSync(testData(image)), mediaType: 'image/png' }));
      const scores = await ranker.score(candidates, { prompt: 'unused by this ranker' });
      const expected = await onnxScores(layers, reference.image_embeds_raw);
      const largest = Math.max(...scores.map((entry, index) => Math.abs(entry.score - expected[index]!)));
      t.diagnostic(`largest difference after our preprocessing: ${largest.toExponential(2)}`);
      assert.ok(largest <= preprocessedTolerance);
      assert.match(scores[0]!.reason!, /^aesthetic score -?\d+\.\d\d$/);
    } finally {
      await ranker.close?.();
    }
  });

  test('layers go in key-number order (layers.10 after layers.2), not in the order the file lists them', async () => {
    const numbered = randomLayers([32, 3, 1], [2, 10], 7);
    const path = join(folder, 'numbered.safetensors');
    await writeFile(path, safetensorsBytes(layerTensors(numbered), 'F32'));
    const predictor = await AestheticPredictor.load(path);
    assert.equal(predictor.shapes, '32→3→1');
    const [expected] = await onnxScores(numbered, [reference.image_embeds_raw[0]!]);
    assert.ok(Math.abs(predictor.predict(reference.image_embeds_raw[0]!) - expected!) <= relativeTolerance * Math.max(1, Math.abs(expected!)));
  });
});

describe('aesthetic weights that cannot work are named', () => {
  const rejects = async (name: string, bytes: Buffer | string, pattern: RegExp) => {
    const path = join(folder, name);
    await writeFile(path, bytes);
    await assert.rejects(AestheticPredictor.load(path), (error: unknown) => InvalidModelError.isInstance(error) && error.message.includes(path) && pattern.test(error.message));
  };

  test('shapes that do not chain, a missing bias, no layers, an unsupported dtype, not safetensors at all', async () => {
    const broken = randomLayers([32, 16, 8, 1], [0, 2, 4], 3);
    broken[1] = { ...broken[1]!, inputs: 15, weight: broken[1]!.weight.slice(0, 8 * 15) };
    await rejects('unchained.safetensors', safetensorsBytes(layerTensors(broken), 'F32'), /do not chain: layers\.0 \[16, 32\], layers\.2 \[8, 15\], layers\.4 \[1, 8\]/);
    const noBias = layerTensors(randomLayers([32, 1], [0], 4)).filter((tensor) => !tensor.name.endsWith('bias'));
    await rejects('no-bias.safetensors', safetensorsBytes(noBias, 'F32'), /layers\.0\.bias is missing/);
    await rejects('no-layers.safetensors', safetensorsBytes([{ name: 'fc.weight', shape: [1, 32], values: new Array(32).fill(0) }], 'F32'), /no layers\.N\.weight tensors \(it has fc\.weight\)/);
    await rejects('f64.safetensors', safetensorsBytes(layerTensors(randomLayers([32, 1], [0], 5)), 'F64'), /F64; pixelpipe reads F32, F16 and BF16/);
    await rejects('pickle.pth', 'PK\u0003\u0004 a zip of pickles, as torch.save writes', /header length/);
  });

  test('a predictor wider than the CLIP model says both widths and the fix', async () => {
    const path = join(folder, 'vit-l.safetensors');
    await writeFile(path, safetensorsBytes(layerTensors(randomLayers([768, 2, 1], [0, 2], 6)), 'F32'));
    const ranker = new AestheticRanker({ clipModel: clipFolder, weights: path });
    try {
      const candidates = [{ index: 0, bytes: readFileSync(testData(reference.images[0]!)), mediaType: 'image/png' }];
      await assert.rejects(ranker.score(candidates, { prompt: 'x' }), (error: unknown) => InvalidModelError.isInstance(error) && /takes 768-wide CLIP embeddings \(768→2→1\) but .*tiny-clip gives 32-wide ones; pair the predictor with the CLIP model it was trained on/.test(error.message));
    } finally {
      await ranker.close();
    }
  });
});
