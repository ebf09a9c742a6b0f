// diffusers 0.29 LCMScheduler: latent consistency sampling, denoise then re-noise to the next timestep (`lcm`).
import { denoisedAtAlpha } from '../denoisers/parameterisation.js';
import type { NoiseSource, Scheduler, SchedulerConfig, StepResult } from './scheduler.js';
import { StepIndexedScheduler } from './step-index.js';
import { clampInPlace, f32, numpyLinspace, sqrt32 } from './numerics.js';
import {
  addNoiseAtAlpha,
  alphasCumprodFromConfig,
  checkSteps,
  choice,
  option,
  predictionTypes,
  unsupported,
  type PredictionType,
} from './noise-schedule.js';

/** LCM's data standard deviation in the consistency boundary conditions. */
const sigmaData = 0.5;

export class LcmScheduler extends StepIndexedScheduler implements Scheduler {
  readonly name = 'lcm' as const;
  readonly sigmas: number[] = [];
  readonly initNoiseSigma = 1;
  private readonly trainSteps: number;
  private readonly originalSteps: number;
  private readonly timestepScaling: number;
  private readonly predictionType: PredictionType;
  private readonly clipRange: number | undefined;
  private readonly alphasCumprod: Float32Array;
  private readonly finalAlphaCumprod: number;

  constructor(config: SchedulerConfig) {
    super();
    this.trainSteps = option(config, 'num_train_timesteps', 1000);
    this.originalSteps = option(config, 'original_inference_steps', 50);
    this.timestepScaling = option(config, 'timestep_scaling', 10);
    this.predictionType = choice(config, 'prediction_type', 'epsilon', predictionTypes);
    if (option(config, 'thresholding', false)) unsupported('thresholding', true, 'dynamic thresholding suits pixel-space models only; set it to false');
    this.clipRange = option(config, 'clip_sample', false) ? option(config, 'clip_sample_range', 1) : undefined;
    this.alphasCumprod = alphasCumprodFromConfig(config, { betaStart: 0.00085, betaEnd: 0.012, betaSchedule: 'scaled_linear' });
    this.finalAlphaCumprod = option(config, 'set_alpha_to_one', true) ? 1 : this.alphasCumprod[0]!;
    if (this.originalSteps > this.trainSteps) {
      unsupported('original_inference_steps', this.originalSteps, `it must not exceed num_train_timesteps (${this.trainSteps})`);
    }
  }

  /** LCM ignores timestep_spacing and steps_offset: it picks from the distillation schedule of `original_inference_steps`. */
  setTimesteps(steps: number): void {
    checkSteps(steps, this.originalSteps);
    const stride = Math.floor(this.trainSteps / this.originalSteps);
    const origin = Array.from({ length: this.originalSteps }, (_, index) => (this.originalSteps - index) * stride - 1);
    this.timesteps = numpyLinspace(0, origin.length, steps, false).map((position) => origin[Math.floor(position)]!);
    this.resetStepIndex();
  }

  step(modelOutput: Float32Array, timestep: number, sample: Float32Array, noise: NoiseSource): StepResult {
    const index = this.currentIndex(timestep);
    const previous = index + 1 < this.timesteps.length ? this.timesteps[index + 1]! : timestep;
    const alpha = this.alphasCumprod[timestep]!;
    const alphaPrevious = previous >= 0 ? this.alphasCumprod[previous]! : this.finalAlphaCumprod;
    const rootAlpha = sqrt32(alpha);
    const rootBeta = sqrt32(f32(1 - alpha));
    // Boundary conditions make the step the identity at t = 0 (c_skip = 1, c_out = 0).
    const scaled = f32(timestep * this.timestepScaling);
    const denominator = f32(f32(scaled * scaled) + sigmaData ** 2);
    const skip = f32(sigmaData ** 2 / denominator);
    const out = f32(scaled / sqrt32(denominator));
    let original = denoisedAtAlpha(this.predictionType, modelOutput, sample, rootAlpha, rootBeta);
    if (this.clipRange !== undefined) {
      // Clamping works in place: never on the caller's model output.
      if (original === modelOutput) original = original.slice();
      clampInPlace(original, this.clipRange);
    }
    const denoised = original.map((value, i) => f32(out * value) + f32(skip * sample[i]!));
    let prevSample = denoised;
    // No noise on the last step, which also makes one-step sampling deterministic.
    if (index !== this.timesteps.length - 1) {
      const fresh = noise(sample.length);
      const signal = sqrt32(alphaPrevious);
      const noiseLevel = sqrt32(f32(1 - alphaPrevious));
      prevSample = denoised.map((value, i) => f32(signal * value) + f32(noiseLevel * fresh[i]!));
    }
    this.stepIndex = index + 1;
    return { prevSample, predOriginalSample: denoised };
  }

  addNoise(original: Float32Array, noise: Float32Array, timestep: number): Float32Array {
    return addNoiseAtAlpha(original, noise, this.alphasCumprod[timestep]!);
  }
}
