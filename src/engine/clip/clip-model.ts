// A CLIP model exported to ONNX (text and vision towers with projections): prompts and images in, embeddings out.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { InvalidModelError } from '../../spec/errors/invalid-model-error.js';
import { OnnxModel, type RunListener, type RuntimeOptions } from '../runtime/onnx-model.js';
import { ClipTokenizer } from '../tokenizer/clip-tokenizer.js';
import { preprocessClipImages, readClipPreprocessing, type ClipPreprocessing, type PixelValues } from './clip-preprocess.js';

/** Where each part of a CLIP export sits, relative to its folder. */
interface ClipLayout {
  name: string;
  textModel: string;
  visionModel: string;
  /** Folders searched, in order, for the tokenizer files and preprocessor_config.json. */
  configFolders: string[];
}

const layouts: ClipLayout[] = [
  // transformers.js (and Optimum's `--split` CLIP exports): one onnx/ folder, tokenizer and preprocessor at the root.
  { name: 'onnx/text_model.onnx + onnx/vision_model.onnx', textModel: 'onnx/text_model.onnx', visionModel: 'onnx/vision_model.onnx', configFolders: ['.'] },
  // One folder per tower, as Optimum lays out pipeline components.
  { name: 'text_model/model.onnx + vision_model/model.onnx', textModel: 'text_model/model.onnx', visionModel: 'vision_model/model.onnx', configFolders: ['.', 'tokenizer', 'text_model', 'vision_model', 'feature_extractor'] },
];

function findLayout(folder: string): ClipLayout {
  const layout = layouts.find((candidate) => existsSync(join(folder, candidate.textModel)) && existsSync(join(folder, candidate.visionModel)));
  if (layout) return layout;
  const found = layouts.flatMap((candidate) => [candidate.textModel, candidate.visionModel]).filter((file) => existsSync(join(folder, file)));
  throw new InvalidModelError({
    model: folder,
    message:
      `${folder} is not a CLIP ONNX export: it needs ${layouts.map((candidate) => candidate.name).join(', or ')}` +
      (found.length > 0 ? ` (found only ${found.join(', ')}: a partial download?)` : ' (found neither)') +
      '; export the model with Optimum or use a transformers.js CLIP repository',
  });
}

/** The first of `folders` holding `file`, or an InvalidModelError naming where it was looked for. */
function findConfigFile(folder: string, folders: string[], file: string, purpose: string): string {
  const path = folders.map((relative) => join(folder, relative, file)).find((candidate) => existsSync(candidate));
  if (path) return path;
  throw new InvalidModelError({ model: folder, file, message: `${folder} has no ${file} (looked in ${folders.map((relative) => (relative === '.' ? './' : `${relative}/`)).join(', ')}); the CLIP model needs it for ${purpose}` });
}

/** The output's fixed last dimension, when the graph declares one. */
function declaredWidth(model: OnnxModel, output: string): number | undefined {
  const last = model.outputs.get(output)?.shape.at(-1);
  return typeof last === 'number' ? last : undefined;
}

export class ClipModel {
  private constructor(
    /** The model folder, resolved. */
    readonly folder: string,
    private readonly textModel: OnnxModel,
    private readonly visionModel: OnnxModel,
    readonly tokenizer: ClipTokenizer,
    readonly preprocessing: ClipPreprocessing,
    /** Width of text_embeds and image_embeds (the projection dim), when the graphs declare it. */
    readonly embeddingWidth: number | undefined,
  ) {}

  /** Loads both towers; throws InvalidModelError naming a missing file, output or layout. */
  static async load(folder: string, options: RuntimeOptions = {}): Promise<ClipModel> {
    const root = resolve(folder);
    if (!existsSync(root)) throw new InvalidModelError({ model: root, message: `CLIP model folder ${root} does not exist; pass the folder of a CLIP ONNX export` });
    const layout = findLayout(root);
    const tokenizerFolder = join(findConfigFile(root, layout.configFolders, 'vocab.json', 'its tokenizer'), '..');
    const preprocessorPath = findConfigFile(root, layout.configFolders, 'preprocessor_config.json', 'image preprocessing');
    const [tokenizer, preprocessing] = await Promise.all([ClipTokenizer.fromFolder(tokenizerFolder), readClipPreprocessing(preprocessorPath, root)]);
    const textModel = await OnnxModel.load(join(root, layout.textModel), 'clip_text_model', options);
    let visionModel: OnnxModel;
    try {
      visionModel = await OnnxModel.load(join(root, layout.visionModel), 'clip_vision_model', options);
    } catch (error) {
      await textModel.release();
      throw error;
    }
    const problems = [
      ...(textModel.hasInput('input_ids') ? [] : [`${layout.textModel} has no input_ids input`]),
      ...(textModel.outputs.has('text_embeds') ? [] : [`${layout.textModel} has no text_embeds output (outputs: ${[...textModel.outputs.keys()].join(', ')})`]),
      ...(visionModel.hasInput('pixel_values') ? [] : [`${layout.visionModel} has no pixel_values input`]),
      ...(visionModel.outputs.has('image_embeds') ? [] : [`${layout.visionModel} has no image_embeds output (outputs: ${[...visionModel.outputs.keys()].join(', ')})`]),
    ];
    if (problems.length > 0) {
      await Promise.all([textModel.release(), visionModel.release()]);
      throw new InvalidModelError({ model: root, message: `${root} is not a CLIP export with projections: ${problems.join('; ')}. Export CLIPTextModelWithProjection and CLIPVisionModelWithProjection (transformers.js and Optimum's CLIP exports do)` });
    }
    const embeddingWidth = declaredWidth(textModel, 'text_embeds') ?? declaredWidth(visionModel, 'image_embeds');
    return new ClipModel(root, textModel, visionModel, tokenizer, preprocessing, embeddingWidth);
  }

  /** Each prompt's ids: bos, tokens, eos, padded (with the tokenizer's pad token) or cut to the tokenizer's length, 77 for CLIP. */
  tokenize(prompts: readonly string[]): number[][] {
    return prompts.map((prompt) => this.tokenizer.encode(prompt).ids);
  }

  /** Raw (not normalised) text_embeds, one per prompt, in one session run. */
  async embedTexts(prompts: readonly string[], onRun?: RunListener): Promise<Float32Array[]> {
    return this.embedTokenIds(this.tokenize(prompts), onRun);
  }

  /** Raw text_embeds for rows of token ids, all the same length. */
  async embedTokenIds(idRows: readonly (readonly number[])[], onRun?: RunListener): Promise<Float32Array[]> {
    if (idRows.length === 0) return [];
    const batch = idRows.length;
    const sequenceLength = idRows[0]!.length;
    const feeds: Parameters<OnnxModel['run']>[0] = { input_ids: { data: idRows.flat(), dims: [batch, sequenceLength] } };
    // Some exports take an attention mask: ones up to and including the first eos (the tokenizer's own mask).
    if (this.textModel.hasInput('attention_mask')) {
      const mask = idRows.flatMap((row) => {
        const end = row.indexOf(this.tokenizer.eosTokenId) + 1 || row.length;
        return row.map((_, position) => (position < end ? 1 : 0));
      });
      feeds.attention_mask = { data: mask, dims: [batch, sequenceLength] };
    }
    if (batch > 1 && this.textModel.input('input_ids').shape[0] === 1) return this.oneByOne(idRows, (row) => this.embedTokenIds([row], onRun));
    const outputs = await this.textModel.run(feeds, onRun);
    return splitRows(outputs.text_embeds!, batch);
  }

  /** Raw image_embeds, one per encoded image (PNG, JPEG, WebP), preprocessed as preprocessor_config.json says. */
  async embedImages(images: readonly Uint8Array[], onRun?: RunListener): Promise<Float32Array[]> {
    if (images.length === 0) return [];
    return this.embedPixelValues(await preprocessClipImages(images, this.preprocessing), onRun);
  }

  /** Raw image_embeds for already preprocessed pixel values [batch, 3, height, width]. */
  async embedPixelValues(pixelValues: PixelValues, onRun?: RunListener): Promise<Float32Array[]> {
    const [batch, ...image] = pixelValues.dims;
    if (batch > 1 && this.visionModel.input('pixel_values').shape[0] === 1) {
      const size = pixelValues.data.length / batch;
      const rows = Array.from({ length: batch }, (_, row) => pixelValues.data.subarray(row * size, (row + 1) * size));
      return this.oneByOne(rows, (data) => this.embedPixelValues({ data, dims: [1, ...image] }, onRun));
    }
    const outputs = await this.visionModel.run({ pixel_values: pixelValues }, onRun);
    return splitRows(outputs.image_embeds!, batch);
  }

  /** Exports traced with a fixed batch of 1 take one row per run. */
  private async oneByOne<T>(rows: readonly T[], embed: (row: T) => Promise<Float32Array[]>): Promise<Float32Array[]> {
    const embeddings: Float32Array[] = [];
    for (const row of rows) embeddings.push(...(await embed(row)));
    return embeddings;
  }

  async release(): Promise<void> {
    await Promise.all([this.textModel.release(), this.visionModel.release()]);
  }
}

function splitRows(values: Float32Array, rows: number): Float32Array[] {
  const width = values.length / rows;
  return Array.from({ length: rows }, (_, row) => values.slice(row * width, (row + 1) * width));
}

/** The vector divided by its L2 norm (as CLIPModel does before its similarity); a zero vector stays zero. */
export function l2Normalize(vector: ArrayLike<number>): Float64Array {
  let squares = 0;
  for (let index = 0; index < vector.length; index++) squares += vector[index]! ** 2;
  const norm = Math.sqrt(squares);
  return Float64Array.from(vector as ArrayLike<number>, (value) => (norm === 0 ? 0 : value / norm));
}

/** Cosine similarity: (a/|a|) · (b/|b|), in float64. */
export function cosineSimilarity(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) {
    throw new InvalidArgumentError({ argument: 'b', value: `${b.length} values`, message: `embeddings of different widths cannot be compared: \`a\` has ${a.length} values, \`b\` ${b.length}; embed both with the same CLIP model` });
  }
  const left = l2Normalize(a);
  const right = l2Normalize(b);
  let dot = 0;
  for (let index = 0; index < left.length; index++) dot += left[index]! * right[index]!;
  return dot;
}
