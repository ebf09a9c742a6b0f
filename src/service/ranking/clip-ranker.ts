// Ranks candidates by CLIP similarity: the cosine of the prompt's and the image's normalised projections.
import { cosineSimilarity } from '../../engine/clip/clip-model.js';
import type { RuntimeOptions } from '../../engine/runtime/onnx-model.js';
import { leaseClipModel, type ClipModelLease } from './clip-model-cache.js';
import { throwIfAborted, type CandidateScore, type RankCandidate, type RankContext, type Ranker } from './ranker.js';

export interface ClipRankerOptions {
  /** A CLIP ONNX export folder (transformers.js `onnx/text_model.onnx` + `onnx/vision_model.onnx`, or `text_model/` + `vision_model/`). */
  model: string;
  /** Threads and execution provider for the CLIP sessions. */
  runtime?: RuntimeOptions;
}

/**
 * CLIP score as CLIPModel computes it before the logit scale: (image/|image|)·(text/|text|), in
 * [−1, 1]. Prompts past CLIP's 77 tokens are cut, as CLIP itself does.
 */
export class ClipRanker implements Ranker {
  readonly name = 'clip';
  private readonly lease: ClipModelLease;

  constructor({ model, runtime }: ClipRankerOptions) {
    this.lease = leaseClipModel(model, runtime);
  }

  async score(candidates: RankCandidate[], context: RankContext): Promise<CandidateScore[]> {
    if (candidates.length === 0) return [];
    const model = await this.lease.get();
    throwIfAborted(context.signal, this.name);
    const [text] = await model.embedTexts([context.prompt]);
    throwIfAborted(context.signal, this.name);
    const images = await model.embedImages(candidates.map((candidate) => candidate.bytes));
    return images.map((image) => {
      const similarity = cosineSimilarity(image, text!);
      return { score: similarity, reason: `clip similarity ${similarity.toFixed(4)}`, detail: { similarity } };
    });
  }

  async close(): Promise<void> {
    await this.lease.release();
  }
}
