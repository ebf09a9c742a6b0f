// Image-to-image: encode the image, noise it to the strength's timestep, denoise the rest of the schedule (diffusers' order).
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import type { LoadedModel } from '../families/model-loader.js';
import type { RgbImage } from '../image/rgb-image.js';
import { StageTimer } from '../runtime/stage-timer.js';
import { TorchGenerator } from '../tensor/torch-random.js';
import { inGraphSamplingNote, rgbToModelInput } from '../vae/vae-encoder.js';
import { createSampler, decodeToRgb, denoise, scheduleForStrength, denoiserConditioning, checkEditing, checkFastDecoder } from './denoise.js';
import { encodePrompts } from './prompt-conditioning.js';
import type { PipelineOutput, TextToImageOptions } from './text-to-image.js';

export interface ImageToImageOptions extends TextToImageOptions {
  /** The starting image, already at `width` × `height`. */
  image: RgbImage;
  /** How much to change it, in (0, 1]: the fraction of the schedule that runs. */
  strength: number;
}

export async function imageToImage(model: LoadedModel, options: ImageToImageOptions): Promise<PipelineOutput> {
  const { prompt, negativePrompt, width, height, steps, guidance, sampler, seed, signal, onStep, onInitialLatents, image, strength, fastDecoder } = options;
  checkEditing(model, 'image-to-image');
  if (fastDecoder) checkFastDecoder(model.modelFamily, model.name);
  const timer = options.timer ?? new StageTimer();
  if (model.unet.inputChannels !== model.latentChannels) {
    throw new InvalidArgumentError({ argument: 'mask', value: undefined, message: `${model.name} is an inpainting model (its UNet takes ${model.unet.inputChannels} channels): give a \`mask\` as well as the image` });
  }
  const encoded = options.encoded ?? (await encodePrompts(model, prompt, negativePrompt, guidance, timer));

  // Schedule: skip the first steps so that `strength` of it runs (the family's pipeline says how it rounds).
  const shape = { channels: model.latentChannels, height: height / model.vaeScaleFactor, width: width / model.vaeScaleFactor };
  const scheduler = createSampler(model, sampler);
  const family = model.modelFamily;
  const timesteps = scheduleForStrength(scheduler, steps, strength, family.editing.strengthRounding, family.scheduleOptions?.(shape));

  // Prepare latents: the image's latents (posterior sampled from the generator, then (z − shift) · scale in the
  // encoder), then noise from the same generator, mixed at the first kept timestep (add_noise, or scale_noise for flow).
  const generator = new TorchGenerator(seed);
  const encoder = await model.vaeEncoder();
  const imageLatents = await timer.measure('vaeEncode', () => encoder.encode(rgbToModelInput(image), image, generator, timer.onRun));
  const latents = await timer.measure('samplerMath', () => scheduler.addNoise(imageLatents, generator.randn([1, shape.channels, shape.height, shape.width]), timesteps[0]!));
  onInitialLatents?.(latents);

  // Denoise the remaining timesteps.
  const conditioning = denoiserConditioning(model, encoded, width, height);
  const final = await denoise(model, { scheduler, timesteps, latents, shape, conditioning, guidance, generator, timer, signal, onStep });

  // Decode.
  const notes: string[] = [];
  if (encoder.samplesInGraph) notes.push(inGraphSamplingNote);
  const decoded = await decodeToRgb(model, final, shape, timer, notes, fastDecoder);
  return { ...decoded, timesteps, notes };
}
