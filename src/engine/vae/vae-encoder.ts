// VAE encoder: RGB → latents in the diffusion model's space, sampled from the posterior as diffusers does.
import { InvalidModelError } from '../../spec/errors/invalid-model-error.js';
import type { RgbImage } from '../image/rgb-image.js';
import type { OnnxModel, RunListener } from '../runtime/onnx-model.js';
import type { TorchGenerator } from '../tensor/torch-random.js';

const f32 = Math.fround;

/** Interleaved RGB bytes → planar float32 [3, h, w] in [-1, 1], as VaeImageProcessor's `x / 255` then `2x − 1`. */
export function rgbToModelInput({ data, width, height }: RgbImage): Float32Array {
  const pixels = width * height;
  const planes = new Float32Array(pixels * 3);
  for (let channel = 0; channel < 3; channel++) {
    for (let i = 0; i < pixels; i++) planes[channel * pixels + i] = f32(2 * f32(data[i * 3 + channel]! / 255) - 1);
  }
  return planes;
}

/** What a pipeline tells the caller when the encoder is one of those (`samplesInGraph`). */
export const inGraphSamplingNote = "this model's VAE encoder samples inside the graph (an Optimum ≤ 1.23 export), so the same seed does not give the same image; re-export it with a current Optimum for reproducible edits";

export class VaeEncoder {
  /**
   * Optimum ≤ 1.23 exports sample the posterior inside the graph (`latent_sample`) with ONNX Runtime's
   * own random numbers, so the seed cannot reproduce them; current exports return mean and log-variance.
   */
  readonly samplesInGraph: boolean;

  constructor(
    private readonly model: OnnxModel,
    /** The VAE's scaling_factor: latents are multiplied by it to reach the UNet's space. */
    private readonly scalingFactor: number,
  ) {
    this.samplesInGraph = !model.outputs.has('latent_parameters') && model.outputs.has('latent_sample');
  }

  /**
   * Encodes one image (planar [3, h, w] in [−1, 1], sides multiples of 8) and samples mean + exp(½·clamp(logvar, −30, 20))·ε with ε
   * drawn from `generator`, exactly where diffusers' `latent_dist.sample(generator)` draws it.
   */
  async encode(planes: Float32Array, size: { width: number; height: number }, generator: TorchGenerator, onRun?: RunListener): Promise<Float32Array> {
    const outputs = await this.model.run({ sample: { data: planes, dims: [1, 3, size.height, size.width] } }, onRun);
    const factor = f32(this.scalingFactor);
    let sampled: Float32Array;
    if (this.samplesInGraph) {
      sampled = outputs.latent_sample!;
    } else {
      const parameters = outputs.latent_parameters ?? Object.values(outputs)[0]!;
      const half = parameters.length / 2;
      const [, channels = 8, latentHeight = size.height / 8, latentWidth = size.width / 8] = parameters.dims ?? [];
      const noise = generator.randn([1, channels / 2, latentHeight, latentWidth]);
      sampled = new Float32Array(half);
      for (let i = 0; i < half; i++) {
        const logVariance = Math.min(20, Math.max(-30, parameters[half + i]!));
        const deviation = f32(Math.exp(f32(0.5 * logVariance)));
        sampled[i] = f32(parameters[i]! + f32(deviation * noise[i]!));
      }
    }
    const latents = new Float32Array(sampled.length);
    for (let i = 0; i < sampled.length; i++) {
      latents[i] = f32(factor * sampled[i]!);
      if (!Number.isFinite(latents[i]!)) {
        throw new InvalidModelError({ model: this.model.path, file: this.model.path, message: `${this.model.path} returned NaN/∞ latents (an fp16 VAE encoder overflowing); use an fp32 export of the VAE encoder` });
      }
    }
    return latents;
  }
}
