// ControlNets as denoiser conditioning: which run at a step (the guidance window), their summed residuals, and zeros for a UNet run without any.
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { InvalidModelError } from '../../spec/errors/invalid-model-error.js';
import type { OnnxModel, RunListener } from '../runtime/onnx-model.js';
import type { TextEmbeddings } from '../text-encoders/clip-text-encoder.js';
import { downResidualInput, midResidualInput, type ControlNetModel, type ControlResiduals } from './controlnet-model.js';

/** One ControlNet of a call, with its prepared control image. */
export interface ControlInput {
  net: ControlNetModel;
  /** The control image as [3, H, W] floats in [0, 1] (not [-1, 1]), at the output size. */
  image: { data: Float32Array; width: number; height: number };
  /** diffusers' `controlnet_conditioning_scale`, A1111's weight, ComfyUI's strength. */
  scale: number;
  /** The guidance window as fractions of the steps run: diffusers' `control_guidance_start`/`end`, ComfyUI's and A1111's `start_percent`/`end_percent`. */
  start: number;
  end: number;
}

/**
 * The controls that run at step `index` of `count`, as diffusers' `controlnet_keep`: a control is off
 * when `index / count < start` or `(index + 1) / count > end`. Off, its residuals are zero, so it is not run.
 */
export function activeControls(controls: readonly ControlInput[], index: number, count: number): ControlInput[] {
  return controls.filter(({ start, end }) => !(index / count < start || (index + 1) / count > end));
}

/** Runs each control on the UNet's batch and sums their residuals (diffusers' MultiControlNetModel), in float32. */
export async function summedResiduals(controls: readonly ControlInput[], sample: Float32Array, sampleDims: readonly number[], timestep: number, context: TextEmbeddings, onRun?: RunListener): Promise<ControlResiduals | undefined> {
  let sum: ControlResiduals | undefined;
  for (const control of controls) {
    const residuals = await control.net.residuals(sample, sampleDims, timestep, context, control.image, control.scale, onRun);
    if (!sum) {
      sum = residuals;
      continue;
    }
    for (const [name, residual] of residuals) {
      const total = sum.get(name);
      if (!total || total.data.length !== residual.data.length) {
        throw new InvalidModelError({ model: control.net.path, file: control.net.path, message: `${control.net.path} returns ${name} of shape [${residual.dims.join(', ')}], which does not match the other ControlNets' [${total?.dims.join(', ') ?? 'none'}]; ControlNets used together must fit the same UNet` });
      }
      for (let i = 0; i < total.data.length; i++) total.data[i] = total.data[i]! + residual.data[i]!;
    }
  }
  return sum;
}

/** What a UNet exported with residual inputs takes: their names, and each one's [channels, height, width] for a latent size. */
export interface ResidualLayout {
  names: readonly string[];
  shape(name: string, latentHeight: number, latentWidth: number): [number, number, number];
}

/**
 * The residual inputs of a UNet (`down_block_0..N`, `mid_block_additional_residual`), or undefined when
 * it has none. Their shapes follow diffusers' UNet from its config: conv_in's output, then per down
 * block `layers_per_block` resnet outputs and (all but the last block) the downsampler's, halving each time.
 */
export function residualLayout(model: OnnxModel, config: Record<string, unknown>, location: string): ResidualLayout | undefined {
  if (!model.hasInput(midResidualInput)) return undefined;
  const names: string[] = [];
  for (let index = 0; model.hasInput(downResidualInput(index)); index++) names.push(downResidualInput(index));
  const channels = Array.isArray(config.block_out_channels) ? (config.block_out_channels as number[]) : [320, 640, 1280, 1280];
  const layers = typeof config.layers_per_block === 'number' ? config.layers_per_block : 2;
  // [channels, halvings] of each down residual, then the mid block's.
  const down: Array<[number, number]> = [[channels[0]!, 0]];
  channels.forEach((width, block) => {
    for (let layer = 0; layer < layers; layer++) down.push([width, block]);
    if (block < channels.length - 1) down.push([width, block + 1]);
  });
  const mid: [number, number] = [channels[channels.length - 1]!, channels.length - 1];
  if (down.length !== names.length) {
    throw new InvalidModelError({ model: location, file: 'unet/model.onnx', message: `${location}: the UNet takes ${names.length} down-block residuals, but its config.json (block_out_channels ${JSON.stringify(channels)}, layers_per_block ${layers}) makes ${down.length}` });
  }
  const halve = (side: number, times: number) => { for (let i = 0; i < times; i++) side = Math.ceil(side / 2); return side; };
  return {
    names: [...names, midResidualInput],
    shape(name, latentHeight, latentWidth) {
      const [width, halvings] = name === midResidualInput ? mid : down[names.indexOf(name)]!;
      return [width, halve(latentHeight, halvings), halve(latentWidth, halvings)];
    },
  };
}

/** What `checkControls` reads of a loaded model. */
interface ControlTarget {
  name: string;
  folder: string;
  modelFamily: { id: string; displayName: string };
  unet: { residuals?: ResidualLayout } | object;
}

/**
 * Refuses controls a model cannot take, naming both: ControlNets run on SD 1.x/2.x models whose UNet
 * was exported with residual inputs, with a matching cross-attention width and control images at the output size.
 */
export function checkControls(model: ControlTarget, controls: readonly ControlInput[], size: { width: number; height: number }, contextSize?: number): void {
  if (controls.length === 0) return;
  const first = controls[0]!.net;
  if (model.modelFamily.id !== 'stable-diffusion') {
    throw new InvalidArgumentError({
      argument: 'controls',
      value: first.path,
      message: `ControlNet ${first.name} (for ${first.baseFamily}) cannot be used with ${model.name} (${model.modelFamily.displayName}): pixelpipe runs ControlNets on SD 1.x/2.x models only, with a UNet exported with residual inputs; choose such a model or leave out the ControlNet`,
    });
  }
  if (!('residuals' in model.unet) || !model.unet.residuals) {
    throw new InvalidArgumentError({
      argument: 'controls',
      value: first.path,
      message: `${model.name}'s UNet takes no ControlNet residuals (inputs down_block_0..N and mid_block_additional_residual): ControlNet ${first.name} needs a UNet exported with them (see docs/controlnet.md)`,
    });
  }
  for (const { net, image } of controls) {
    if (net.baseFamily !== 'SD 1.x/2.x') {
      throw new InvalidArgumentError({ argument: 'controls', value: net.path, message: `ControlNet ${net.name} is for ${net.baseFamily}; ${model.name} is ${model.modelFamily.displayName}` });
    }
    const residualCount = model.unet.residuals.names.length - 1;
    if (net.downCount !== residualCount) {
      throw new InvalidArgumentError({ argument: 'controls', value: net.path, message: `ControlNet ${net.name} returns ${net.downCount} down-block residuals; ${model.name}'s UNet takes ${residualCount}: they are not for the same base model` });
    }
    if (contextSize !== undefined && net.crossAttentionDim !== undefined && net.crossAttentionDim !== contextSize) {
      throw new InvalidArgumentError({ argument: 'controls', value: net.path, message: `ControlNet ${net.name} takes ${net.crossAttentionDim}-wide text embeddings (cross_attention_dim); ${model.name}'s text encoder gives ${contextSize}: they are for different bases (SD 1.x: 768, SD 2.x: 1024)` });
    }
    if (image.width !== size.width || image.height !== size.height) {
      throw new InvalidArgumentError({ argument: 'controls', value: net.path, message: `the control image for ${net.name} is ${image.width}×${image.height}; it must be the output size ${size.width}×${size.height} (prepareControlImage resizes it)` });
    }
  }
}
