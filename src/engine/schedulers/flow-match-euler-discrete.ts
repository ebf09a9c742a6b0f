// diffusers FlowMatchEulerDiscreteScheduler: Euler steps along a rectified-flow velocity, sigma from 1 to 0 (`flowmatch_euler`);
// SD3's fixed shift as diffusers 0.29 applies it, and FLUX's resolution-dependent shift (0.30's `use_dynamic_shifting`).
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { denoisedAtSigma } from '../denoisers/parameterisation.js';
import type { NoiseSource, ScheduleOptions, Scheduler, SchedulerConfig, StepResult } from './scheduler.js';
import { f32, numpyLinspace } from './numerics.js';
import { checkSteps, option } from './noise-schedule.js';
import { StepIndexedScheduler } from './step-index.js';

/** Flow matching feeds the sample to the model unscaled, as the base's scaleModelInput does. */
export class FlowMatchEulerDiscreteScheduler extends StepIndexedScheduler implements Scheduler {
  readonly name = 'flowmatch_euler' as const;
  readonly initNoiseSigma = 1;
  sigmas: number[] = [];
  private readonly trainSteps: number;
  private readonly shift: number;
  private readonly sigmaMin: number;
  private readonly sigmaMax: number;
  private readonly dynamicShift: DynamicShift | undefined;

  constructor(config: SchedulerConfig) {
    super();
    // The velocity → x0 conversion lives with the other parameterisations; only `flow` fits this sampler.
    const predictionType = config.prediction_type ?? 'flow';
    if (predictionType !== 'flow') {
      throw new InvalidArgumentError({
        argument: 'sampler',
        value: 'flowmatch_euler',
        message: `\`sampler\` flowmatch_euler integrates a flow-matching model's velocity, but this model predicts ${JSON.stringify(predictionType)}; choose a noise-prediction sampler such as euler`,
      });
    }
    this.trainSteps = option(config, 'num_train_timesteps', 1000);
    this.shift = option(config, 'shift', 1);
    this.dynamicShift = option(config, 'use_dynamic_shifting', false)
      ? {
          baseShift: option(config, 'base_shift', 0.5),
          maxShift: option(config, 'max_shift', 1.15),
          baseImageSequenceLength: option(config, 'base_image_seq_len', 256),
          maxImageSequenceLength: option(config, 'max_image_seq_len', 4096),
        }
      : undefined;
    // diffusers 0.29 shifts the training sigmas here and the inference sigmas again in set_timesteps.
    const shifted = (time: number) => {
      const sigma = f32(f32(time) / this.trainSteps);
      return f32(f32(this.shift * sigma) / f32(1 + f32((this.shift - 1) * sigma)));
    };
    this.sigmaMax = shifted(this.trainSteps);
    this.sigmaMin = shifted(1);
  }

  /** True when the schedule depends on the image size: `setTimesteps` then needs `imageSequenceLength`. */
  get usesDynamicShifting(): boolean {
    return this.dynamicShift !== undefined;
  }

  /**
   * `imageSequenceLength` is the number of packed latent tokens ((h/2)·(w/2) for FLUX); only a config
   * with `use_dynamic_shifting` reads it, and such a config cannot build a schedule without it.
   */
  setTimesteps(steps: number, { imageSequenceLength }: ScheduleOptions = {}): void {
    checkSteps(steps);
    if (this.dynamicShift) {
      this.setDynamicTimesteps(steps, this.dynamicShift, imageSequenceLength);
      return;
    }
    const times = numpyLinspace(this.sigmaMax * this.trainSteps, this.sigmaMin * this.trainSteps, steps);
    const sigmas = times.map((time) => {
      const sigma = time / this.trainSteps;
      return f32((this.shift * sigma) / (1 + (this.shift - 1) * sigma));
    });
    this.timesteps = sigmas.map((sigma) => f32(sigma * this.trainSteps));
    this.sigmas = [...sigmas, 0];
    this.resetStepIndex();
  }

  // FluxPipeline passes sigmas = linspace(1, 1/n, n) and mu, and diffusers 0.30 shifts them in float64
  // (NumPy) before casting to float32; the fixed shift is not applied on top.
  private setDynamicTimesteps(steps: number, shift: DynamicShift, imageSequenceLength: number | undefined): void {
    if (imageSequenceLength === undefined || !Number.isInteger(imageSequenceLength) || imageSequenceLength < 1) {
      throw new InvalidArgumentError({
        argument: 'imageSequenceLength',
        value: imageSequenceLength,
        message: `\`imageSequenceLength\` must be a positive integer (the packed latent token count) for a scheduler config with use_dynamic_shifting, got ${imageSequenceLength}`,
      });
    }
    const mu = dynamicShiftMu(imageSequenceLength, shift);
    const expMu = Math.exp(mu);
    const sigmas = numpyLinspace(1, 1 / steps, steps).map((sigma) => f32(expMu / (expMu + (1 / sigma - 1))));
    this.timesteps = sigmas.map((sigma) => f32(sigma * this.trainSteps));
    this.sigmas = [...sigmas, 0];
    this.resetStepIndex();
  }

  step(modelOutput: Float32Array, timestep: number, sample: Float32Array, noise: NoiseSource): StepResult {
    const index = this.currentIndex(timestep);
    const sigma = this.sigmas[index]!;
    // diffusers 0.29 draws churn noise (unused at s_churn = 0) and goes through x0 and a derivative
    // rather than adding the velocity directly; both matter for bit-exact results.
    noise(sample.length);
    const delta = f32(this.sigmas[index + 1]! - sigma);
    const predOriginalSample = denoisedAtSigma('flow', modelOutput, sample, sigma);
    const prevSample = sample.map((value, i) => {
      const derivative = f32(f32(value - predOriginalSample[i]!) / sigma);
      return value + f32(derivative * delta);
    });
    this.stepIndex = index + 1;
    return { prevSample, predOriginalSample };
  }

  /** diffusers' `scale_noise`: the straight line between sample and noise at the timestep's sigma. */
  addNoise(original: Float32Array, noise: Float32Array, timestep: number): Float32Array {
    const sigma = this.sigmas[this.noiseIndex(timestep)]!;
    const keep = f32(1 - sigma);
    return original.map((value, i) => f32(sigma * noise[i]!) + f32(keep * value));
  }
}

interface DynamicShift {
  baseShift: number;
  maxShift: number;
  baseImageSequenceLength: number;
  maxImageSequenceLength: number;
}

/** FluxPipeline's `calculate_shift`: mu grows linearly with the token count, from base_shift to max_shift. */
function dynamicShiftMu(imageSequenceLength: number, shift: DynamicShift): number {
  const slope = (shift.maxShift - shift.baseShift) / (shift.maxImageSequenceLength - shift.baseImageSequenceLength);
  const intercept = shift.baseShift - slope * shift.baseImageSequenceLength;
  return imageSequenceLength * slope + intercept;
}
