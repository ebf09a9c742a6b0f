// diffusers 0.29 FlowMatchEulerDiscreteScheduler: Euler steps along a rectified-flow velocity, sigma from 1 to 0 (`flowmatch_euler`).
import type { NoiseSource, Scheduler, SchedulerConfig, StepResult } from './scheduler.js';
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

  constructor(config: SchedulerConfig) {
    super();
    this.trainSteps = option(config, 'num_train_timesteps', 1000);
    this.shift = option(config, 'shift', 1);
    // diffusers 0.29 shifts the training sigmas here and the inference sigmas again in set_timesteps.
    const shifted = (time: number) => {
      const sigma = f32(f32(time) / this.trainSteps);
      return f32(f32(this.shift * sigma) / f32(1 + f32((this.shift - 1) * sigma)));
    };
    this.sigmaMax = shifted(this.trainSteps);
    this.sigmaMin = shifted(1);
  }

  setTimesteps(steps: number): void {
    checkSteps(steps);
    const times = numpyLinspace(this.sigmaMax * this.trainSteps, this.sigmaMin * this.trainSteps, steps);
    const sigmas = times.map((time) => {
      const sigma = time / this.trainSteps;
      return f32((this.shift * sigma) / (1 + (this.shift - 1) * sigma));
    });
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
    const predOriginalSample = sample.map((value, i) => value - f32(modelOutput[i]! * sigma));
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
