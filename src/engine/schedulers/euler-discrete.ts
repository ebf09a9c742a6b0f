// diffusers 0.29 EulerDiscreteScheduler: k-diffusion's Euler method on the sigma schedule (`euler`).
import type { SamplerName } from './sampler-names.js';
import type { NoiseSource, Scheduler, SchedulerConfig, StepResult } from './scheduler.js';
import { StepIndexedScheduler } from './step-index.js';
import { denoisedAtSigma } from '../denoisers/parameterisation.js';
import { f32, interpolateOnIndexGrid, sqrt32, torchLinspaceFloat32 } from './numerics.js';
import {
  alphasCumprodFromConfig,
  checkSteps,
  choice,
  karrasSigmas,
  logSigmasOf,
  option,
  predictionTypes,
  sigmaToTimestep,
  spacedTimesteps,
  timestepSpacings,
  trainingSigmas,
  type PredictionType,
  type TimestepSpacing,
} from './noise-schedule.js';

export class EulerDiscreteScheduler extends StepIndexedScheduler implements Scheduler {
  readonly name: SamplerName;
  sigmas: number[] = [];
  protected readonly predictionType: PredictionType;
  private readonly trainSteps: number;
  private readonly spacing: TimestepSpacing;
  private readonly stepsOffset: number;
  private readonly interpolation: 'linear' | 'log_linear';
  private readonly useKarrasSigmas: boolean;
  private readonly sigmaMin: number | null;
  private readonly sigmaMax: number | null;
  private readonly finalSigmas: 'zero' | 'sigma_min';
  private readonly continuousTimesteps: boolean;
  private readonly trainSigmas: Float32Array;

  constructor(config: SchedulerConfig, name: SamplerName = 'euler') {
    super();
    this.name = name;
    this.trainSteps = option(config, 'num_train_timesteps', 1000);
    this.predictionType = choice(config, 'prediction_type', 'epsilon', predictionTypes);
    this.spacing = choice(config, 'timestep_spacing', 'linspace', timestepSpacings);
    this.stepsOffset = option(config, 'steps_offset', 0);
    this.interpolation = choice(config, 'interpolation_type', 'linear', ['linear', 'log_linear']);
    this.useKarrasSigmas = option(config, 'use_karras_sigmas', false);
    this.sigmaMin = option<number | null>(config, 'sigma_min', null);
    this.sigmaMax = option<number | null>(config, 'sigma_max', null);
    this.finalSigmas = choice(config, 'final_sigmas_type', 'zero', ['zero', 'sigma_min']);
    const timestepType = choice(config, 'timestep_type', 'discrete', ['discrete', 'continuous']);
    // diffusers uses EDM's c_noise = log(sigma) / 4 only for v-prediction models.
    this.continuousTimesteps = timestepType === 'continuous' && this.predictionType === 'v_prediction';
    const alphasCumprod = alphasCumprodFromConfig(config, { betaStart: 0.0001, betaEnd: 0.02, betaSchedule: 'linear' });
    // A zero terminal SNR would make the first sigma infinite; diffusers pins it to fp16's smallest subnormal.
    if (option(config, 'rescale_betas_zero_snr', false)) alphasCumprod[alphasCumprod.length - 1] = 2 ** -24;
    this.trainSigmas = trainingSigmas(alphasCumprod);
  }

  get initNoiseSigma(): number {
    const maximum = Math.max(...this.sigmas);
    if (this.spacing === 'linspace' || this.spacing === 'trailing') return maximum;
    return sqrt32(f32(f32(maximum * maximum) + 1));
  }

  setTimesteps(steps: number): void {
    checkSteps(steps);
    let timesteps = spacedTimesteps(this.spacing, this.trainSteps, steps, this.stepsOffset).map(f32);
    const train = this.trainSigmas;
    let sigmas =
      this.interpolation === 'linear'
        ? timesteps.map((time) => interpolateOnIndexGrid(time, train))
        : Array.from(
            torchLinspaceFloat32(f32(Math.log(train[train.length - 1]!)), f32(Math.log(train[0]!)), steps + 1),
            (logSigma) => f32(Math.exp(logSigma)),
          );
    if (this.useKarrasSigmas) {
      sigmas = karrasSigmas(this.sigmaMin ?? sigmas[sigmas.length - 1]!, this.sigmaMax ?? sigmas[0]!, steps);
      const logSigmas = logSigmasOf(train);
      timesteps = sigmas.map((sigma) => sigmaToTimestep(sigma, logSigmas));
    }
    const last = this.finalSigmas === 'zero' ? 0 : train[0]!;
    this.sigmas = [...sigmas, last].map(f32);
    this.timesteps = this.continuousTimesteps
      ? this.sigmas.slice(0, -1).map((sigma) => f32(0.25 * f32(Math.log(sigma))))
      : timesteps.map(f32);
    this.resetStepIndex();
  }

  override scaleModelInput(sample: Float32Array, timestep: number): Float32Array {
    const sigma = this.sigmas[this.currentIndex(timestep)]!;
    const divisor = sqrt32(f32(f32(sigma * sigma) + 1));
    return sample.map((value) => value / divisor);
  }

  step(modelOutput: Float32Array, timestep: number, sample: Float32Array, noise: NoiseSource): StepResult {
    const index = this.currentIndex(timestep);
    const sigma = this.sigmas[index]!;
    // diffusers draws churn noise on every step even when s_churn is 0, so the generator advances.
    noise(sample.length);
    const predOriginalSample = this.predictOriginal(modelOutput, sample, sigma);
    const delta = f32(this.sigmas[index + 1]! - sigma);
    const prevSample = new Float32Array(sample.length);
    for (let i = 0; i < sample.length; i++) {
      const derivative = f32(f32(sample[i]! - predOriginalSample[i]!) / sigma);
      prevSample[i] = f32(sample[i]! + f32(derivative * delta));
    }
    this.stepIndex = index + 1;
    return { prevSample, predOriginalSample };
  }

  addNoise(original: Float32Array, noise: Float32Array, timestep: number): Float32Array {
    const sigma = this.sigmas[this.noiseIndex(timestep)]!;
    return original.map((value, i) => f32(value + f32(noise[i]! * sigma)));
  }

  /** x0 from the model output at noise level `sigma`, as the model's parameterisation defines it. */
  protected predictOriginal(modelOutput: Float32Array, sample: Float32Array, sigma: number): Float32Array {
    return denoisedAtSigma(this.predictionType, modelOutput, sample, sigma);
  }

  /** Euler's scaleModelInput needs the step index too, so the error names both callers. */
  protected override currentIndex(timestep: number): number {
    return super.currentIndex(timestep, 'scaleModelInput or step');
  }
}
