// Step previews from a small real latent decoder (VAElight), cheap enough to run after every sampler step.
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { InvalidModelError } from '../../spec/errors/invalid-model-error.js';
import type { LatentShape } from '../denoisers/denoiser.js';
import type { RgbImage } from '../image/rgb-image.js';
import { rgbToModelInput } from '../vae/vae-encoder.js';
import { OnnxModel, type RunListener, type RuntimeOptions } from '../runtime/onnx-model.js';

/**
 * What we measured on VAElight (../shared/fixtures/vaelight) with 256×256 smooth synthetic images like
 * the one in preview-decoder.test.ts:
 * - VAEencoder takes `input` [B,3,H,W] in [-1,1]: the round trip scores 27 dB that way and under
 *   20 dB when fed [0,1], however the output is read.
 * - Its `latent` is the SD 1.x/2.x VAE latent before scaling (std 3.4–4.3; mid-gray encodes to about
 *   (5.2, −3.7, 3.4, 1.1)). Multiplied by 0.18215 (std ≈ 0.65) ComfyUI's SD15 latent→RGB factors read it
 *   as the image (23 dB against 8×8 block means, 11 dB unscaled; SDXL's factors fit worse), and
 *   VAEpreview decodes only unscaled latents well (27 dB; 16 dB, a flat image, when fed scaled ones).
 *   So both classes speak the diffusion space the UNet sees and convert at the ONNX boundary.
 * - VAEpreview's outputs by size: `output` 1/8 (latent size), `101` 1/4, `92` 1/2, `77` full size.
 *   `output` carries the picture (std ≈ 0.21); the other three are small zero-mean corrections
 *   (std 0.02, 0.01, 0.007) worth +0.2 to +0.5 dB on smooth images and 0 to −0.25 dB once ripples are added.
 * - Borders carry most of the error (31 dB inside a 1/8 margin against 27 dB over the whole frame).
 */
const sd1ScalingFactor = 0.18215;

export class PreviewDecoder {
  private constructor(private readonly model: OnnxModel) {}

  static async load(path: string, runtime: RuntimeOptions = {}): Promise<PreviewDecoder> {
    const model = await OnnxModel.load(path, 'preview_decoder', runtime);
    model.input('latent');
    return new PreviewDecoder(model);
  }

  /** Planar SD 1.x/2.x latents [1, 4, h, w] in the diffusion model's space → an RGB image of 8w × 8h. */
  async decode(latents: Float32Array, shape: LatentShape, onRun?: RunListener): Promise<RgbImage> {
    checkLatents(latents, shape);
    const raw = new Float32Array(latents.length);
    for (let i = 0; i < latents.length; i++) raw[i] = latents[i]! / sd1ScalingFactor;
    const outputs = await this.model.run({ latent: { data: raw, dims: [1, shape.channels, shape.height, shape.width] } }, onRun);
    const height = shape.height * 8;
    const width = shape.width * 8;
    // The outputs form a pyramid whose sum is the image, so the order they come back in does not matter.
    const sum = new Float32Array(3 * height * width);
    for (const [name, output] of Object.entries(outputs)) {
      const [batch, channels, outputHeight, outputWidth] = output.dims ?? [];
      if (batch !== 1 || channels !== 3 || !outputHeight || !outputWidth || height % outputHeight !== 0 || width % outputWidth !== 0) {
        throw new InvalidModelError({ model: this.model.path, file: this.model.path, message: `${this.model.path} output "${name}" has shape [${output.dims?.join(', ')}]; a preview decoder's outputs must be [1, 3, ${height}/k, ${width}/k]` });
      }
      const level = outputHeight === height && outputWidth === width ? output : upsampleBilinear(output, 3, outputHeight, outputWidth, height, width);
      for (let i = 0; i < sum.length; i++) sum[i]! += level[i]!;
    }
    return planesToRgb(sum, width, height);
  }

  async release(): Promise<void> {
    await this.model.release();
  }
}

/** VAElight's encoder, for tests and image-to-image previews: RGB → diffusion-space latents. */
export class PreviewEncoder {
  private constructor(private readonly model: OnnxModel) {}

  static async load(path: string, runtime: RuntimeOptions = {}): Promise<PreviewEncoder> {
    const model = await OnnxModel.load(path, 'preview_encoder', runtime);
    model.input('input');
    return new PreviewEncoder(model);
  }

  /** Encodes an image whose sides are multiples of 8; the latent is deterministic (no posterior to sample). */
  async encode(image: RgbImage, onRun?: RunListener): Promise<{ latents: Float32Array; shape: LatentShape }> {
    const { data, width, height } = image;
    for (const [argument, value] of [['image.width', width], ['image.height', height]] as const) {
      if (!Number.isInteger(value) || value <= 0 || value % 8 !== 0) throw new InvalidArgumentError({ argument, value, message: `\`${argument}\` must be a positive multiple of 8, got ${value}` });
    }
    if (data.length !== width * height * 3) throw new InvalidArgumentError({ argument: 'image.data', value: data.length, message: `\`image.data\` must hold ${width}×${height}×3 = ${width * height * 3} bytes, got ${data.length}` });
    const outputs = await this.model.run({ input: { data: rgbToModelInput(image), dims: [1, 3, height, width] } }, onRun);
    const raw = outputs.latent ?? Object.values(outputs)[0]!;
    const latents = new Float32Array(raw.length);
    for (let i = 0; i < raw.length; i++) latents[i] = raw[i]! * sd1ScalingFactor;
    const [, channels = 4, latentHeight = height / 8, latentWidth = width / 8] = raw.dims ?? [];
    return { latents, shape: { channels, height: latentHeight, width: latentWidth } };
  }

  async release(): Promise<void> {
    await this.model.release();
  }
}

/**
 * Bilinear resize of planar float images with torch's `F.interpolate(mode='bilinear', align_corners=False)`
 * convention: pixel centres line up, and source positions before the first pixel clamp to it. Written by
 * hand because these are signed floats that must be summed before rounding, and sharp 0.35.5 turned
 * Float32 raw input into zeros (its resize also keeps libvips' edge rules, not torch's). align_corners=True
 * would score about 1 dB higher over the whole frame on VAElight, but only through the borders; inside a
 * 1/8 margin this convention wins by 0.1–1 dB, as it should for an encoder whose 1/8 grid is aligned 8×8 blocks.
 */
export function upsampleBilinear(planes: Float32Array, channels: number, inputHeight: number, inputWidth: number, outputHeight: number, outputWidth: number): Float32Array {
  const rows = sourcePositions(inputHeight, outputHeight);
  const columns = sourcePositions(inputWidth, outputWidth);
  const output = new Float32Array(channels * outputHeight * outputWidth);
  for (let channel = 0; channel < channels; channel++) {
    const input = channel * inputHeight * inputWidth;
    const target = channel * outputHeight * outputWidth;
    for (let y = 0; y < outputHeight; y++) {
      const top = input + rows.first[y]! * inputWidth;
      const bottom = input + rows.second[y]! * inputWidth;
      const down = rows.weight[y]!;
      for (let x = 0; x < outputWidth; x++) {
        const left = columns.first[x]!;
        const right = columns.second[x]!;
        const across = columns.weight[x]!;
        const upper = planes[top + left]! + (planes[top + right]! - planes[top + left]!) * across;
        const lower = planes[bottom + left]! + (planes[bottom + right]! - planes[bottom + left]!) * across;
        output[target + y * outputWidth + x] = upper + (lower - upper) * down;
      }
    }
  }
  return output;
}

function sourcePositions(inputSize: number, outputSize: number): { first: Int32Array; second: Int32Array; weight: Float64Array } {
  const first = new Int32Array(outputSize);
  const second = new Int32Array(outputSize);
  const weight = new Float64Array(outputSize);
  const scale = inputSize / outputSize;
  for (let i = 0; i < outputSize; i++) {
    const position = Math.max(0, (i + 0.5) * scale - 0.5);
    first[i] = Math.min(Math.floor(position), inputSize - 1);
    second[i] = Math.min(first[i]! + 1, inputSize - 1);
    weight[i] = position - first[i]!;
  }
  return { first, second, weight };
}

function checkLatents(latents: Float32Array, { channels, height, width }: LatentShape): void {
  if (channels !== 4) throw new InvalidArgumentError({ argument: 'shape.channels', value: channels, message: `\`shape.channels\` must be 4 (SD 1.x/2.x latents) for the preview decoder, got ${channels}` });
  if (latents.length !== channels * height * width) {
    throw new InvalidArgumentError({ argument: 'latents', value: latents.length, message: `\`latents\` must hold ${channels}×${height}×${width} = ${channels * height * width} values for that shape, got ${latents.length}` });
  }
}

/** Planar floats in [-1,1] → interleaved bytes. */
function planesToRgb(planes: Float32Array, width: number, height: number): RgbImage {
  const pixels = width * height;
  const data = new Uint8Array(pixels * 3);
  for (let channel = 0; channel < 3; channel++) {
    for (let i = 0; i < pixels; i++) {
      const unit = (planes[channel * pixels + i]! + 1) / 2;
      data[i * 3 + channel] = Math.round((unit < 0 ? 0 : unit > 1 ? 1 : unit) * 255);
    }
  }
  return { data, width, height };
}
