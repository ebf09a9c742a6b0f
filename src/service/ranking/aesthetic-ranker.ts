// Ranks candidates by the LAION "improved aesthetic predictor": a small MLP on L2-normalised CLIP image embeddings.
//
// The published predictor (christophschuhmann/improved-aesthetic-predictor, e.g.
// sac+logos+ava1-l14-linearMSE.pth for CLIP ViT-L/14, 768 wide) is
//   Linear(768,1024), Dropout, Linear(1024,128), Dropout, Linear(128,64), Dropout, Linear(64,16), Linear(16,1)
// with no activations, so state-dict keys layers.0, .2, .4, .6, .7 (weights [out, in]); dropout is the
// identity at inference. Its output is a score of about 1–10. pixelpipe reads the weights from
// safetensors, never from a pickle; convert the .pth once with
//   python -c "import torch, safetensors.torch as st; st.save_file(torch.load('sac+logos+ava1-l14-linearMSE.pth', map_location='cpu'), 'aesthetic.safetensors')"
// and use it with a CLIP ViT-L/14 export (e.g. openai/clip-vit-large-patch14 in ONNX).
import { l2Normalize } from '../../engine/clip/clip-model.js';
import type { RuntimeOptions } from '../../engine/runtime/onnx-model.js';
import { InvalidModelError } from '../../spec/errors/invalid-model-error.js';
import { leaseClipModel, type ClipModelLease } from './clip-model-cache.js';
import { throwIfAborted, type CandidateScore, type RankCandidate, type RankContext, type Ranker } from './ranker.js';
import { readSafetensors } from '../../engine/runtime/safetensors.js';

interface LinearLayer {
  /** [outputs, inputs], row-major. */
  weight: Float32Array;
  bias: Float32Array;
  inputs: number;
  outputs: number;
}

/** The MLP, run in plain JavaScript: 0.93 M multiply-adds per image for the ViT-L/14 predictor. */
export class AestheticPredictor {
  private constructor(
    /** The .safetensors file it was read from. */
    readonly path: string,
    private readonly layers: LinearLayer[],
  ) {}

  /** Width of the embedding it takes (768 for the published ViT-L/14 predictor). */
  get inputWidth(): number {
    return this.layers[0]!.inputs;
  }

  /** The layers' shapes, `768→1024→128→64→16→1`. */
  get shapes(): string {
    return [this.inputWidth, ...this.layers.map((layer) => layer.outputs)].join('→');
  }

  /** Reads `layers.N.weight` / `layers.N.bias` in N order; throws InvalidModelError naming the file and the shapes that do not chain. */
  static async load(path: string): Promise<AestheticPredictor> {
    const tensors = await readSafetensors(path);
    const layerNumbers = [...tensors.keys()]
      .map((name) => /^layers\.(\d+)\.weight$/.exec(name)?.[1])
      .filter((number): number is string => number !== undefined)
      .map(Number)
      .sort((left, right) => left - right);
    const fail = (problem: string): never => {
      throw new InvalidModelError({ model: path, file: path, message: `${path} is not an aesthetic predictor: ${problem}; convert the LAION improved-aesthetic-predictor .pth to safetensors as aesthetic-ranker.ts shows` });
    };
    if (layerNumbers.length === 0) fail(`it has no layers.N.weight tensors (it has ${[...tensors.keys()].slice(0, 10).join(', ') || 'none'})`);
    const layers = layerNumbers.map((number): LinearLayer => {
      const weight = tensors.get(`layers.${number}.weight`)!;
      const bias = tensors.get(`layers.${number}.bias`);
      if (weight.shape.length !== 2) fail(`layers.${number}.weight is [${weight.shape.join(', ')}], not a Linear weight [out, in]`);
      const [outputs, inputs] = weight.shape as [number, number];
      if (!bias || bias.shape.length !== 1 || bias.shape[0] !== outputs) fail(`layers.${number}.bias is ${bias ? `[${bias.shape.join(', ')}]` : 'missing'}, expected [${outputs}] for layers.${number}.weight [${outputs}, ${inputs}]`);
      return { weight: weight.values, bias: bias!.values, inputs, outputs };
    });
    const shapes = layerNumbers.map((number, position) => `layers.${number} [${layers[position]!.outputs}, ${layers[position]!.inputs}]`).join(', ');
    layers.forEach((layer, position) => {
      const previous = layers[position - 1];
      if (previous && previous.outputs !== layer.inputs) fail(`its Linear layers do not chain: ${shapes}`);
    });
    if (layers.at(-1)!.outputs !== 1) fail(`its last layer gives ${layers.at(-1)!.outputs} values, not one score (${shapes})`);
    return new AestheticPredictor(path, layers);
  }

  /** The score of one raw (not normalised) CLIP image embedding. */
  predict(embedding: ArrayLike<number>): number {
    if (embedding.length !== this.inputWidth) {
      throw new InvalidModelError({
        model: this.path,
        file: this.path,
        message: `${this.path} takes ${this.inputWidth}-wide CLIP embeddings (${this.shapes}) but the CLIP model gives ${embedding.length}; use the CLIP model the predictor was trained on (ViT-L/14, 768, for the published weights)`,
      });
    }
    let values: ArrayLike<number> = l2Normalize(embedding);
    for (const { weight, bias, inputs, outputs } of this.layers) {
      const next = new Float64Array(outputs);
      for (let output = 0; output < outputs; output++) {
        let sum = bias[output]!;
        const row = output * inputs;
        for (let input = 0; input < inputs; input++) sum += weight[row + input]! * values[input]!;
        next[output] = sum;
      }
      values = next;
    }
    return values[0]!;
  }
}

export interface AestheticRankerOptions {
  /** The CLIP ONNX export whose image embeddings the predictor was trained on. */
  clipModel: string;
  /** The predictor's weights as .safetensors. */
  weights: string;
  /** Threads and execution provider for the CLIP sessions. */
  runtime?: RuntimeOptions;
}

export class AestheticRanker implements Ranker {
  readonly name = 'aesthetic';
  private readonly lease: ClipModelLease;
  private predictor: Promise<AestheticPredictor> | undefined;

  constructor(private readonly options: AestheticRankerOptions) {
    this.lease = leaseClipModel(options.clipModel, options.runtime);
  }

  /** The predictor, read once, checked against the CLIP model's embedding width when the graph declares it. */
  private async loadPredictor(): Promise<AestheticPredictor> {
    const [predictor, model] = await Promise.all([AestheticPredictor.load(this.options.weights), this.lease.get()]);
    if (model.embeddingWidth !== undefined && model.embeddingWidth !== predictor.inputWidth) {
      throw new InvalidModelError({
        model: this.options.weights,
        file: this.options.weights,
        message: `${this.options.weights} takes ${predictor.inputWidth}-wide CLIP embeddings (${predictor.shapes}) but ${model.folder} gives ${model.embeddingWidth}-wide ones; pair the predictor with the CLIP model it was trained on (ViT-L/14, 768, for the published weights)`,
      });
    }
    return predictor;
  }

  async score(candidates: RankCandidate[], context: RankContext): Promise<CandidateScore[]> {
    if (candidates.length === 0) return [];
    this.predictor ??= this.loadPredictor();
    // A failed load is not kept, so fixing the file and scoring again works.
    const predictor = await this.predictor.catch((error: unknown) => {
      this.predictor = undefined;
      throw error;
    });
    const model = await this.lease.get();
    throwIfAborted(context.signal, this.name);
    const embeddings = await model.embedImages(candidates.map((candidate) => candidate.bytes));
    return embeddings.map((embedding) => {
      const aesthetic = predictor.predict(embedding);
      return { score: aesthetic, reason: `aesthetic score ${aesthetic.toFixed(2)}`, detail: { aesthetic } };
    });
  }

  async close(): Promise<void> {
    await this.lease.release();
  }
}
