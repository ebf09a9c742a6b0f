// Inpainting: regenerate the masked region, with a 9-channel inpainting UNet or by re-noising the kept region (diffusers' order).
import type { LoadedModel } from '../families/model-loader.js';
import { StageTimer } from '../runtime/stage-timer.js';
import { TorchGenerator } from '../tensor/torch-random.js';
import { inGraphSamplingNote, rgbToModelInput } from '../vae/vae-encoder.js';
import { createSampler, decodeToRgb, denoise, scheduleForStrength, denoiserConditioning, type KnownRegion, checkEditing, checkFastDecoder } from './denoise.js';
import type { ImageToImageOptions } from './image-to-image.js';
import { encodePrompts } from './prompt-conditioning.js';
import type { PipelineOutput } from './text-to-image.js';

export interface InpaintOptions extends ImageToImageOptions {
  /** One value per pixel of the image, 1 = regenerate, 0 = keep (binarised as diffusers does: ≥ 0.5 is 1). */
  mask: Float32Array;
}

export async function inpaint(model: LoadedModel, options: InpaintOptions): Promise<PipelineOutput> {
  const { prompt, negativePrompt, width, height, steps, guidance, sampler, seed, signal, onStep, onInitialLatents, image, mask, strength, fastDecoder } = options;
  checkEditing(model, 'inpainting');
  if (fastDecoder) checkFastDecoder(model.modelFamily, model.name);
  const timer = options.timer ?? new StageTimer();
  const encoded = options.encoded ?? (await encodePrompts(model, prompt, negativePrompt, guidance, timer));
  const scheduler = createSampler(model, sampler);
  const timesteps = scheduleForStrength(scheduler, steps, strength, model.modelFamily.editing.strengthRounding);

  // Prepare the mask: binary at pixel resolution, nearest-sampled to the latent grid (torch's F.interpolate default).
  const factor = model.vaeScaleFactor;
  const shape = { channels: model.latentChannels, height: height / factor, width: width / factor };
  const cells = shape.height * shape.width;
  const binary = mask.map((value) => (value < 0.5 ? 0 : 1));
  const latentMask = new Float32Array(cells);
  for (let y = 0; y < shape.height; y++) {
    for (let x = 0; x < shape.width; x++) latentMask[y * shape.width + x] = binary[y * factor * width + x * factor]!;
  }
  const pixels = rgbToModelInput(image);
  const maskedPixels = pixels.map((value, i) => (binary[i % (width * height)]! < 0.5 ? value : 0));

  // Prepare latents, drawing from the generator in diffusers' order: image latents (when needed), noise, masked-image latents.
  const dedicated = model.unet.inputChannels === model.latentChannels + 1 + model.latentChannels;
  const fullStrength = strength === 1;
  const generator = new TorchGenerator(seed);
  const encoder = await model.vaeEncoder();
  const imageLatents = !dedicated || !fullStrength ? await timer.measure('vaeEncode', () => encoder.encode(pixels, image, generator, timer.onRun)) : undefined;
  const noise = generator.randn([1, shape.channels, shape.height, shape.width]);
  const latents = fullStrength ? noise.map((value) => value * Math.fround(scheduler.initNoiseSigma)) : scheduler.addNoise(imageLatents!, noise, timesteps[0]!);
  onInitialLatents?.(latents);
  let concat: { data: Float32Array; channels: number } | undefined;
  let knownRegion: KnownRegion | undefined;
  if (dedicated) {
    const maskedLatents = await timer.measure('vaeEncode', () => encoder.encode(maskedPixels, image, generator, timer.onRun));
    const data = new Float32Array(cells + maskedLatents.length);
    data.set(latentMask, 0);
    data.set(maskedLatents, cells);
    concat = { data, channels: 1 + model.latentChannels };
  } else {
    // diffusers encodes the masked image for ordinary UNets too, without using it; draw its noise so later draws line up.
    generator.randn([1, shape.channels, shape.height, shape.width]);
    knownRegion = { imageLatents: imageLatents!, noise, mask: latentMask };
  }

  // Denoise, then decode (the caller composites the kept pixels back if it wants them exact; the fast decoder,
  // when given, decodes the final latents the same way, as diffusers pastes nothing back by default).
  const conditioning = { ...denoiserConditioning(model, encoded, width, height), concat };
  const final = await denoise(model, { scheduler, timesteps, latents, shape, conditioning, guidance, generator, timer, signal, onStep, knownRegion });
  const notes: string[] = [];
  if (encoder.samplesInGraph) notes.push(inGraphSamplingNote);
  const decoded = await decodeToRgb(model, final, shape, timer, notes, fastDecoder);
  return { ...decoded, timesteps, notes };
}
