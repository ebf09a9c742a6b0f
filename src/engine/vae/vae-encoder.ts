// VAE encoder: RGB → latents in the diffusion model's space, sampled from the posterior as diffusers does.
import { InvalidModelError } from '../../spec/errors/invalid-model-error.js';
import type { RgbImage } from '../image/rgb-image.js';
import type { OnnxModel, RunListener } from '../runtime/onnx-model.js';
import type { TorchGenerator } from '../tensor/torch-random.js';
import { encodeGeometry, runTiled, vaeTilePlan, type PlanarTensor, type VaeTiling } from './vae-tiling.js';

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

export interface VaeEncoderOptions {
  /** Pixels per latent cell (8 for every SD VAE). */
  vaeScaleFactor?: number;
  /** Encode large images in tiles (see vaeTilePlan); undefined encodes every size whole. */
  tiling?: VaeTiling;
  /** The VAE's `shift_factor` (SD3 0.0609, FLUX 0.1159), subtracted before scaling; 0 for SD's VAEs. */
  shiftFactor?: number;
}

export class VaeEncoder {
  /**
   * Optimum ≤ 1.23 exports sample the posterior inside the graph (`latent_sample`) with ONNX Runtime's
   * own random numbers, so the seed cannot reproduce them; current exports return mean and log-variance.
   */
  readonly samplesInGraph: boolean;
  private readonly vaeScaleFactor: number;
  private readonly tiling: VaeTiling | undefined;
  private readonly shiftFactor: number;

  constructor(
    private readonly model: OnnxModel,
    /** The VAE's scaling_factor: latents are multiplied by it to reach the UNet's space. */
    private readonly scalingFactor: number,
    { vaeScaleFactor = 8, tiling, shiftFactor = 0 }: VaeEncoderOptions = {},
  ) {
    this.shiftFactor = shiftFactor;
    this.samplesInGraph = !model.outputs.has('latent_parameters') && model.outputs.has('latent_sample');
    this.vaeScaleFactor = vaeScaleFactor;
    this.tiling = tiling;
  }

  /**
   * Encodes one image (planar [3, h, w] in [−1, 1], sides multiples of 8) and samples mean + exp(½·clamp(logvar, −30, 20))·ε with ε
   * drawn from `generator`, exactly where diffusers' `latent_dist.sample(generator)` draws it. Tiled, the
   * posterior parameters are blended first and sampled once over the whole latent, as diffusers' tiled_encode.
   * Returns (z − shift_factor) · scaling_factor, the denoiser's space.
   */
  async encode(planes: Float32Array, size: { width: number; height: number }, generator: TorchGenerator, onRun?: RunListener): Promise<Float32Array> {
    const input = { data: planes, channels: 3, height: size.height, width: size.width };
    const plan = vaeTilePlan(size.width, size.height, this.tiling, this.vaeScaleFactor);
    const encoded = plan.tiled && this.tiling
      ? await runTiled(input, encodeGeometry(this.tiling.tileSize, this.vaeScaleFactor), (tile) => this.run(tile, onRun))
      : await this.run(input, onRun);
    const factor = f32(this.scalingFactor);
    const shift = f32(this.shiftFactor);
    let sampled: Float32Array;
    if (this.samplesInGraph) {
      sampled = encoded.data;
    } else {
      const parameters = encoded.data;
      const half = parameters.length / 2;
      const noise = generator.randn([1, encoded.channels / 2, encoded.height, encoded.width]);
      sampled = new Float32Array(half);
      for (let i = 0; i < half; i++) {
        const logVariance = Math.min(20, Math.max(-30, parameters[half + i]!));
        const deviation = f32(Math.exp(f32(0.5 * logVariance)));
        sampled[i] = f32(parameters[i]! + f32(deviation * noise[i]!));
      }
    }
    const latents = new Float32Array(sampled.length);
    for (let i = 0; i < sampled.length; i++) {
      // diffusers: (z − shift_factor) · scaling_factor, each in float32; z − 0 is z exactly, so SD's VAEs are unchanged.
      latents[i] = f32(factor * f32(sampled[i]! - shift));
      if (!Number.isFinite(latents[i]!)) {
        throw new InvalidModelError({ model: this.model.path, file: this.model.path, message: `${this.model.path} returned NaN/∞ latents (an fp16 VAE encoder overflowing); use an fp32 export of the VAE encoder` });
      }
    }
    return latents;
  }

  /** One pass of the encoder graph: the posterior's mean and log-variance stacked on channels, or a legacy graph's own sample. */
  private async run(image: PlanarTensor, onRun: RunListener | undefined): Promise<PlanarTensor> {
    const outputs = await this.model.run({ sample: { data: image.data, dims: [1, image.channels, image.height, image.width] } }, onRun);
    const output = this.samplesInGraph ? outputs.latent_sample! : (outputs.latent_parameters ?? Object.values(outputs)[0]!);
    const [, channels = this.samplesInGraph ? 4 : 8, height = image.height / this.vaeScaleFactor, width = image.width / this.vaeScaleFactor] = output.dims ?? [];
    return { data: output, channels, height, width };
  }
}
