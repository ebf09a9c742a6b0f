// Encode prompts: the text conditioning of SD 1.x/2.x (one CLIP) and SDXL (two CLIPs, pooled embeddings).
import type { StableDiffusionModel } from '../families/stable-diffusion.js';
import { StageTimer } from '../runtime/stage-timer.js';
import type { TextEmbeddings } from '../text-encoders/clip-text-encoder.js';

export interface EncodedPrompts {
  /** [negative, positive] hidden states with guidance, [positive] without. */
  context: TextEmbeddings;
  /** SDXL's pooled embeddings, rows as in `context` ([batch, size] flattened). */
  pooled?: { data: Float32Array; size: number };
  /** Which prompts lost tokens to the 77-token limit (the negative one only counts when it is used). */
  truncated: { prompt: boolean; negativePrompt: boolean };
}

/**
 * Encodes the prompts: [negative, positive] in one text-encoder run when guidance is on (> 1), else the
 * positive alone. `negativePrompt` undefined means none was given: SD treats that as '', SDXL models with
 * `force_zeros_for_empty_prompt` use zero embeddings instead, as diffusers does.
 */
export async function encodePrompts(model: StableDiffusionModel, prompt: string, negativePrompt: string | undefined, guidance: number, timer = new StageTimer()): Promise<EncodedPrompts> {
  return model.family === 'stable-diffusion-xl'
    ? encodeXlPrompts(model, prompt, negativePrompt, guidance, timer)
    : encodeSdPrompts(model, prompt, negativePrompt ?? '', guidance, timer);
}

async function encodeSdPrompts(model: StableDiffusionModel, prompt: string, negativePrompt: string, guidance: number, timer: StageTimer): Promise<EncodedPrompts> {
  const useGuidance = guidance > 1;
  const positive = await timer.measure('tokenize', () => model.tokenizer.encode(prompt));
  const negative = useGuidance ? await timer.measure('tokenize', () => model.tokenizer.encode(negativePrompt)) : undefined;
  const context = await timer.measure('textEncoder', () => model.textEncoder.encode(negative ? [negative.ids, positive.ids] : [positive.ids], timer.onRun));
  return { context, truncated: { prompt: positive.truncated, negativePrompt: negative?.truncated ?? false } };
}

/**
 * SDXL: each tokenizer/encoder pair reads the same prompt; the context is both encoders' penultimate
 * hidden states side by side, the pooled embedding is the second encoder's projection.
 */
async function encodeXlPrompts(model: StableDiffusionModel, prompt: string, negativePrompt: string | undefined, guidance: number, timer: StageTimer): Promise<EncodedPrompts> {
  const useGuidance = guidance > 1;
  const zeroNegative = useGuidance && negativePrompt === undefined && model.forceZerosForEmptyPrompt;
  const encodeNegative = useGuidance && !zeroNegative;
  const pairs = [
    { tokenizer: model.tokenizer, encoder: model.textEncoder },
    { tokenizer: model.tokenizer2!, encoder: model.textEncoder2! },
  ];
  let truncated = { prompt: false, negativePrompt: false };
  const encoded = [];
  for (const { tokenizer, encoder } of pairs) {
    const positive = await timer.measure('tokenize', () => tokenizer.encode(prompt));
    const negative = encodeNegative ? await timer.measure('tokenize', () => tokenizer.encode(negativePrompt ?? '')) : undefined;
    truncated = { prompt: truncated.prompt || positive.truncated, negativePrompt: truncated.negativePrompt || (negative?.truncated ?? false) };
    encoded.push(await timer.measure('textEncoder', () => encoder.encodePenultimate(negative ? [negative.ids, positive.ids] : [positive.ids], timer.onRun)));
  }
  const [first, second] = encoded as [TextEmbeddings, TextEmbeddings & { pooled?: Float32Array }];
  const rows = useGuidance ? 2 : 1;
  const hiddenSize = first.hiddenSize + second.hiddenSize;
  const sequenceLength = first.sequenceLength;
  const hiddenStates = new Float32Array(rows * sequenceLength * hiddenSize);
  const pooledSize = second.pooled!.length / second.batch;
  const pooled = new Float32Array(rows * pooledSize);
  // With zeroed negative embeddings the encoders ran on the positive prompt alone; it fills the last row.
  const firstRow = rows - first.batch;
  for (let row = 0; row < first.batch; row++) {
    for (let token = 0; token < sequenceLength; token++) {
      const target = ((firstRow + row) * sequenceLength + token) * hiddenSize;
      hiddenStates.set(first.hiddenStates.subarray((row * sequenceLength + token) * first.hiddenSize, (row * sequenceLength + token + 1) * first.hiddenSize), target);
      hiddenStates.set(second.hiddenStates.subarray((row * sequenceLength + token) * second.hiddenSize, (row * sequenceLength + token + 1) * second.hiddenSize), target + first.hiddenSize);
    }
    pooled.set(second.pooled!.subarray(row * pooledSize, (row + 1) * pooledSize), (firstRow + row) * pooledSize);
  }
  return { context: { hiddenStates, batch: rows, sequenceLength, hiddenSize }, pooled: { data: pooled, size: pooledSize }, truncated };
}
