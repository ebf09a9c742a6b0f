// diffusers 0.29 DDIMScheduler with eta = 0: the deterministic implicit sampler on alphas_cumprod (`ddim`).
import { denoisedAtAlpha, noiseAtAlpha } from '../denoisers/parameterisation.js';
import type { NoiseSource, Scheduler, SchedulerConfig, StepResult } from './scheduler.js';
import { clampInPlace, f32, numpyLinspace, roundHalfEven, sqrt32 } from './numerics.js';
import {
  addNoiseAtAlpha,
  alphasCumprodFromConfig,
  checkSteps,
  choice,
  option,
  predictionTypes,
  spacedTimesteps,
  timestepSpacings,
  unsupported,
  type PredictionType,
  type TimestepSpacing,
} from './noise-schedule.js';

export class DdimScheduler implements Scheduler {
  readonly name = 'ddim' as const;
  readonly sigmas: number[] = [];
  readonly initNoiseSigma = 1;
  timesteps: number[] = [];
  private readonly trainSteps: number;
  private readonly predictionType: PredictionType;
  private readonly spacing: TimestepSpacing;
  private readonly stepsOffset: number;
  private readonly clipRange: number | undefined;
  private readonly alphasCumprod: Float32Array;
  private readonly finalAlphaCumprod: number;
  private stepCount = 0;

  constructor(config: SchedulerConfig) {
    this.trainSteps = option(config, 'num_train_timesteps', 1000);
    this.predictionType = choice(config, 'prediction_type', 'epsilon', predictionTypes);
    this.spacing = choice(config, 'timestep_spacing', 'leading', timestepSpacings);
    this.stepsOffset = option(config, 'steps_offset', 0);
    if (option(config, 'thresholding', false)) unsupported('thresholding', true, 'dynamic thresholding suits pixel-space models only; set it to false');
    this.clipRange = option(config, 'clip_sample', true) ? option(config, 'clip_sample_range', 1) : undefined;
    this.alphasCumprod = alphasCumprodFromConfig(config, { betaStart: 0.0001, betaEnd: 0.02, betaSchedule: 'linear' });
    this.finalAlphaCumprod = option(config, 'set_alpha_to_one', true) ? 1 : this.alphasCumprod[0]!;
  }

  setTimesteps(steps: number): void {
    checkSteps(steps, this.trainSteps);
    this.stepCount = steps;
    // Unlike Euler, DDIM rounds linspace timesteps to integers.
    this.timesteps =
      this.spacing === 'linspace'
        ? numpyLinspace(0, this.trainSteps - 1, steps).map(roundHalfEven).reverse()
        : spacedTimesteps(this.spacing, this.trainSteps, steps, this.stepsOffset);
  }

  /** DDIM indexes by timestep value, so a begin index changes nothing. */
  setBeginIndex(): void {}

  scaleModelInput(sample: Float32Array): Float32Array {
    return sample;
  }

  step(modelOutput: Float32Array, timestep: number, sample: Float32Array, _noise: NoiseSource): StepResult {
    if (this.stepCount === 0) throw new Error('call setTimesteps before step');
    const previous = timestep - Math.floor(this.trainSteps / this.stepCount);
    const alpha = this.alphaAt(timestep);
    const alphaPrevious = previous >= 0 ? this.alphaAt(previous) : this.finalAlphaCumprod;
    const beta = f32(1 - alpha);
    const rootAlpha = sqrt32(alpha);
    const rootBeta = sqrt32(beta);
    let predOriginalSample = denoisedAtAlpha(this.predictionType, modelOutput, sample, rootAlpha, rootBeta);
    const predEpsilon = noiseAtAlpha(this.predictionType, modelOutput, sample, rootAlpha, rootBeta);
    if (this.clipRange !== undefined) {
      if (predOriginalSample === modelOutput) predOriginalSample = predOriginalSample.slice();
      clampInPlace(predOriginalSample, this.clipRange);
    }
    // With eta = 0 the variance term is zero: no noise is drawn.
    const directionFactor = sqrt32(f32(1 - alphaPrevious));
    const sampleFactor = sqrt32(alphaPrevious);
    const prevSample = predOriginalSample.map(
      (value, i) => f32(sampleFactor * value) + f32(directionFactor * predEpsilon[i]!),
    );
    return { prevSample, predOriginalSample };
  }

  addNoise(original: Float32Array, noise: Float32Array, timestep: number): Float32Array {
    return addNoiseAtAlpha(original, noise, this.alphaAt(timestep));
  }

  private alphaAt(timestep: number): number {
    const alpha = this.alphasCumprod[timestep];
    if (alpha === undefined) throw new Error(`timestep ${timestep} is outside 0..${this.trainSteps - 1}`);
    return alpha;
  }
}
