// Checks the CLIP model's tokens, embeddings, cosines and rankings against transformers' reference (clip_scores.json).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { InvalidModelError } from '../../spec/errors/invalid-model-error.js';
import { readNpy } from '../../testing/npy.js';
import { buildOnnxModel } from '../../testing/onnx-builder.js';
import { testData } from '../../testing/paths.js';
import { ClipModel, cosineSimilarity } from './clip-model.js';

interface ClipScores {
  prompts: string[];
  images: string[];
  input_ids: number[][];
  pixel_values_file: string;
  text_embeds_raw: number[][];
  image_embeds_raw: number[][];
  cosine_image_x_text: number[][];
  ranking_per_image: string[][];
  image_ranking_per_prompt: Record<string, string[]>;
}

const clipFolder = testData('fixtures', 'tiny-clip');
const reference = JSON.parse(readFileSync(testData('conformance', 'clip_scores.json'), 'utf8')) as ClipScores;
const imageNames = reference.images.map((image) => image.split('/').at(-1)!);

// Embeddings: onnxruntime-node against PyTorch, same inputs (the fixtures README gives ~3e-6).
const embeddingRelativeTolerance = 1e-5;
const cosineTolerance = 1e-5;
// With our preprocessing (sharp's cubic against PIL's bicubic, max 0.045 in pixel values) the largest
// cosine difference measured was 5.0e-5; the reference cosines of the two images are at least 0.0091 apart.
const preprocessedCosineTolerance = 1e-4;

/** max |actual − expected| / max |expected|, over the whole array. */
function relativeDifference(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  assert.equal(actual.length, expected.length);
  let difference = 0;
  let scale = 0;
  for (let index = 0; index < expected.length; index++) {
    difference = Math.max(difference, Math.abs(actual[index]! - expected[index]!));
    scale = Math.max(scale, Math.abs(expected[index]!));
  }
  return difference / scale;
}

function cosines(imageEmbeddings: ArrayLike<number>[], textEmbeddings: ArrayLike<number>[]): number[][] {
  return imageEmbeddings.map((image) => textEmbeddings.map((text) => cosineSimilarity(image, text)));
}

/** Names sorted by score, best first, as the reference ranks them. */
function rank(names: string[], scores: number[]): string[] {
  return names.map((name, index) => ({ name, score: scores[index]! })).sort((a, b) => b.score - a.score).map(({ name }) => name);
}

describe('tiny-clip against transformers', () => {
  let model: ClipModel;
  before(async () => {
    model = await ClipModel.load(clipFolder);
  });
  after(async () => {
    await model.release();
  });

  test('tokenizes the prompts to the reference input_ids: bos, tokens, eos, padded with eos to 77', () => {
    assert.equal(model.embeddingWidth, 32);
    assert.deepEqual(model.tokenize(reference.prompts), reference.input_ids);
  });

  test('from the reference token ids and pixel values, the embeddings and cosines match', async (t) => {
    const textEmbeddings = await model.embedTokenIds(reference.input_ids);
    const pixels = readNpy(testData(reference.pixel_values_file));
    const imageEmbeddings = await model.embedPixelValues({ data: pixels.data as Float32Array, dims: pixels.shape as [number, number, number, number] });
    const textDifference = relativeDifference(textEmbeddings.flatMap((row) => [...row]), reference.text_embeds_raw.flat());
    const imageDifference = relativeDifference(imageEmbeddings.flatMap((row) => [...row]), reference.image_embeds_raw.flat());
    t.diagnostic(`relative difference: text_embeds ${textDifference.toExponential(2)}, image_embeds ${imageDifference.toExponential(2)}`);
    assert.ok(textDifference <= embeddingRelativeTolerance, `text_embeds differ by ${textDifference}`);
    assert.ok(imageDifference <= embeddingRelativeTolerance, `image_embeds differ by ${imageDifference}`);
    const ours = cosines(imageEmbeddings, textEmbeddings);
    const largest = Math.max(...ours.flat().map((value, index) => Math.abs(value - reference.cosine_image_x_text.flat()[index]!)));
    t.diagnostic(`largest cosine difference: ${largest.toExponential(2)}`);
    assert.ok(largest <= cosineTolerance, `cosines differ by ${largest}`);
  });

  test('from the PNGs with our own preprocessing, the cosines are close and every ranking is the same', async (t) => {
    const textEmbeddings = await model.embedTexts(reference.prompts);
    const imageEmbeddings = await model.embedImages(reference.images.map((image) => readFileSync(testData(image))));
    const ours = cosines(imageEmbeddings, textEmbeddings);
    const largest = Math.max(...ours.flat().map((value, index) => Math.abs(value - reference.cosine_image_x_text.flat()[index]!)));
    t.diagnostic(`largest cosine difference after our preprocessing: ${largest.toExponential(2)}`);
    assert.ok(largest <= preprocessedCosineTolerance, `cosines differ by ${largest}`);
    assert.deepEqual(ours.map((row) => rank(reference.prompts, row)), reference.ranking_per_image);
    for (const [promptIndex, prompt] of reference.prompts.entries()) {
      assert.deepEqual(rank(imageNames, ours.map((row) => row[promptIndex]!)), reference.image_ranking_per_prompt[prompt], prompt);
    }
  });

  test('model_io: each tower reproduces PyTorch on its exact inputs', async () => {
    const io = (...parts: string[]) => readNpy(testData('conformance', 'model_io', 'tiny-clip', ...parts));
    const ids = io('text_model', 'in_input_ids.npy');
    const rows = Array.from({ length: ids.shape[0]! }, (_, row) => Array.from((ids.data as BigInt64Array).subarray(row * ids.shape[1]!, (row + 1) * ids.shape[1]!), Number));
    const text = await model.embedTokenIds(rows);
    assert.ok(relativeDifference(text.flatMap((row) => [...row]), io('text_model', 'out_text_embeds.npy').data as Float32Array) <= embeddingRelativeTolerance);
    const pixels = io('vision_model', 'in_pixel_values.npy');
    const image = await model.embedPixelValues({ data: pixels.data as Float32Array, dims: pixels.shape as [number, number, number, number] });
    assert.ok(relativeDifference(image.flatMap((row) => [...row]), io('vision_model', 'out_image_embeds.npy').data as Float32Array) <= embeddingRelativeTolerance);
  });

  test('one image at a time gives the same embedding as in a batch', async () => {
    const images = reference.images.map((image) => readFileSync(testData(image)));
    const batched = await model.embedImages(images);
    const single = await model.embedImages([images[1]!]);
    assert.ok(relativeDifference(single[0]!, batched[1]!) <= 1e-6);
  });
});

describe('CLIP folder layouts', () => {
  let folder: string;
  before(async () => {
    folder = await mkdtemp(join(tmpdir(), 'pixelpipe-clip-layout-'));
  });
  after(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  test('text_model/model.onnx + vision_model/model.onnx loads and gives the same embeddings', async () => {
    const split = join(folder, 'split');
    await mkdir(join(split, 'text_model'), { recursive: true });
    await mkdir(join(split, 'vision_model'), { recursive: true });
    await cp(join(clipFolder, 'onnx', 'text_model.onnx'), join(split, 'text_model', 'model.onnx'));
    await cp(join(clipFolder, 'onnx', 'vision_model.onnx'), join(split, 'vision_model', 'model.onnx'));
    // Tokenizer files in tokenizer/, the preprocessor config beside the vision model.
    for (const file of ['vocab.json', 'merges.txt', 'tokenizer_config.json', 'special_tokens_map.json']) await cp(join(clipFolder, file), join(split, 'tokenizer', file));
    await cp(join(clipFolder, 'preprocessor_config.json'), join(split, 'vision_model', 'preprocessor_config.json'));
    const model = await ClipModel.load(split);
    try {
      const [text] = await model.embedTexts([reference.prompts[0]!]);
      assert.ok(relativeDifference(text!, reference.text_embeds_raw[0]!) <= embeddingRelativeTolerance);
    } finally {
      await model.release();
    }
  });

  test('an export traced with a fixed batch of 1 embeds one row at a time, in order', async () => {
    // Stand-in towers: text_embeds = the ids themselves, image_embeds = the flattened pixel values.
    const fixed = join(folder, 'fixed-batch');
    await mkdir(join(fixed, 'onnx'), { recursive: true });
    for (const file of ['vocab.json', 'merges.txt', 'tokenizer_config.json', 'special_tokens_map.json', 'preprocessor_config.json']) await cp(join(clipFolder, file), join(fixed, file));
    await writeFile(join(fixed, 'onnx', 'text_model.onnx'), buildOnnxModel({ nodes: [{ opType: 'Identity', inputs: ['input_ids'], outputs: ['text_embeds'] }], inputs: [{ name: 'input_ids', type: 'int64', shape: [1, 77] }], outputs: [{ name: 'text_embeds', type: 'int64', shape: [1, 77] }] }));
    await writeFile(join(fixed, 'onnx', 'vision_model.onnx'), buildOnnxModel({ nodes: [{ opType: 'Flatten', inputs: ['pixel_values'], outputs: ['image_embeds'] }], inputs: [{ name: 'pixel_values', type: 'float32', shape: [1, 3, 32, 32] }], outputs: [{ name: 'image_embeds', type: 'float32', shape: [1, 3072] }] }));
    const model = await ClipModel.load(fixed);
    try {
      const texts = await model.embedTexts(reference.prompts);
      assert.deepEqual(texts.map((row) => [...row]), reference.input_ids);
      const pixels = readNpy(testData(reference.pixel_values_file));
      const images = await model.embedPixelValues({ data: pixels.data as Float32Array, dims: pixels.shape as [number, number, number, number] });
      assert.deepEqual(images.map((row) => [...row]), [[...pixels.data.subarray(0, 3072)], [...pixels.data.subarray(3072)]]);
    } finally {
      await model.release();
    }
  });

  test('a folder with neither layout, or half of one, is an InvalidModelError saying what is missing', async () => {
    const empty = join(folder, 'empty');
    await mkdir(empty);
    await assert.rejects(ClipModel.load(empty), (error: unknown) => InvalidModelError.isInstance(error) && /onnx\/text_model\.onnx \+ onnx\/vision_model\.onnx, or text_model\/model\.onnx/.test(error.message) && /found neither/.test(error.message));
    const half = join(folder, 'half');
    await mkdir(join(half, 'onnx'), { recursive: true });
    await cp(join(clipFolder, 'onnx', 'text_model.onnx'), join(half, 'onnx', 'text_model.onnx'));
    await assert.rejects(ClipModel.load(half), (error: unknown) => InvalidModelError.isInstance(error) && /found only onnx\/text_model\.onnx/.test(error.message));
    await cp(join(clipFolder, 'onnx', 'vision_model.onnx'), join(half, 'onnx', 'vision_model.onnx'));
    await assert.rejects(ClipModel.load(half), (error: unknown) => InvalidModelError.isInstance(error) && /no vocab\.json/.test(error.message));
    await assert.rejects(ClipModel.load(join(folder, 'absent')), (error: unknown) => InvalidModelError.isInstance(error) && /does not exist/.test(error.message));
  });
});
