// diffusers 0.29 PNDMScheduler: Runge-Kutta warm-up steps (unless skip_prk_steps), then linear multistep (`pndm`).
import { noiseAtAlpha } from '../denoisers/parameterisation.js';
import type { NoiseSource, Scheduler, SchedulerConfig, StepResult } from './scheduler.js';
import { f32, numpyArange, numpyLinspace, roundHalfEven, sqrt32 } from './numerics.js';
import {
  addNoiseAtAlpha,
  alphasCumprodFromConfig,
  checkSteps,
  choice,
  option,
  timestepSpacings,
  type TimestepSpacing,
} from './noise-schedule.js';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';

/** The Runge-Kutta warm-up runs on the last four timesteps (PNDM's order). */
const warmUpOrder = 4;

export class PndmScheduler implements Scheduler {
  readonly name = 'pndm' as const;
  readonly sigmas: number[] = [];
  readonly initNoiseSigma = 1;
  timesteps: number[] = [];
  private readonly trainSteps: number;
  private readonly spacing: TimestepSpacing;
  private readonly stepsOffset: number;
  private readonly skipRungeKutta: boolean;
  private readonly predictionType: 'epsilon' | 'v_prediction';
  private readonly alphasCumprod: Float32Array;
  private readonly finalAlphaCumprod: number;
  private stepCount = 0;
  private rungeKuttaTimesteps: number[] = [];
  /** Past model outputs (diffusers' `ets`), newest last. */
  private history: Float32Array[] = [];
  private counter = 0;
  private runningOutput: Float32Array | undefined;
  private heldSample: Float32Array | undefined;

  constructor(config: SchedulerConfig) {
    this.trainSteps = option(config, 'num_train_timesteps', 1000);
    this.spacing = choice(config, 'timestep_spacing', 'leading', timestepSpacings);
    this.stepsOffset = option(config, 'steps_offset', 0);
    this.skipRungeKutta = option(config, 'skip_prk_steps', false);
    this.predictionType = choice(config, 'prediction_type', 'epsilon', ['epsilon', 'v_prediction']);
    this.alphasCumprod = alphasCumprodFromConfig(config, { betaStart: 0.0001, betaEnd: 0.02, betaSchedule: 'linear' });
    this.finalAlphaCumprod = option(config, 'set_alpha_to_one', false) ? 1 : this.alphasCumprod[0]!;
  }

  setTimesteps(steps: number): void {
    checkSteps(steps);
    if (!this.skipRungeKutta && steps < warmUpOrder) {
      throw new InvalidArgumentError({ argument: 'steps', value: steps, message: `\`steps\` must be at least ${warmUpOrder} for PNDM with skip_prk_steps false, got ${steps}` });
    }
    this.stepCount = steps;
    const N = this.trainSteps;
    let ascending: number[];
    if (this.spacing === 'linspace') ascending = numpyLinspace(0, N - 1, steps).map(roundHalfEven);
    else if (this.spacing === 'leading') ascending = Array.from({ length: steps }, (_, index) => index * Math.floor(N / steps) + this.stepsOffset);
    else ascending = numpyArange(N, 0, -N / steps).map((time) => roundHalfEven(time) - 1).reverse();
    if (this.skipRungeKutta) {
      // The second timestep repeats: PLMS's first step is a two-evaluation (Heun-like) step.
      this.rungeKuttaTimesteps = [];
      const repeated = [...ascending.slice(0, -1), ...ascending.slice(-2, -1), ...ascending.slice(-1)];
      this.timesteps = repeated.reverse();
    } else {
      // Each of the last four intervals gets the four Runge-Kutta evaluations: start, two midpoints, end.
      const half = Math.floor(Math.floor(N / steps) / 2);
      const points = ascending.slice(-warmUpOrder).flatMap((time) => [time, time + half]);
      this.rungeKuttaTimesteps = points.slice(0, -1).flatMap((time) => [time, time]).slice(1, -1).reverse();
      this.timesteps = [...this.rungeKuttaTimesteps, ...ascending.slice(0, -3).reverse()];
    }
    this.history = [];
    this.counter = 0;
    this.runningOutput = undefined;
    this.heldSample = undefined;
  }

  /** PNDM keys everything on the counter and timestep values, so a begin index changes nothing. */
  setBeginIndex(): void {}

  scaleModelInput(sample: Float32Array): Float32Array {
    return sample;
  }

  step(modelOutput: Float32Array, timestep: number, sample: Float32Array, _noise: NoiseSource): StepResult {
    if (this.stepCount === 0) throw new Error('call setTimesteps before step');
    const prevSample =
      this.counter < this.rungeKuttaTimesteps.length && !this.skipRungeKutta
        ? this.rungeKuttaStep(modelOutput, timestep, sample)
        : this.linearMultistep(modelOutput, timestep, sample);
    this.counter += 1;
    return { prevSample };
  }

  addNoise(original: Float32Array, noise: Float32Array, timestep: number): Float32Array {
    return addNoiseAtAlpha(original, noise, this.alphasCumprod[timestep]!);
  }

  private rungeKuttaStep(modelOutput: Float32Array, timestep: number, sample: Float32Array): Float32Array {
    const phase = this.counter % 4;
    const previous = timestep - (this.counter % 2 ? 0 : Math.floor(Math.floor(this.trainSteps / this.stepCount) / 2));
    const start = this.rungeKuttaTimesteps[this.counter - phase]!;
    const sixth = f32(1 / 6);
    const third = f32(1 / 3);
    let output = modelOutput;
    if (phase === 0) {
      this.runningOutput = modelOutput.map((value) => sixth * value);
      this.history.push(modelOutput);
      this.heldSample = sample;
    } else if (phase === 1 || phase === 2) {
      const running = this.runningOutput!;
      this.runningOutput = modelOutput.map((value, i) => running[i]! + f32(third * value));
    } else {
      const running = this.runningOutput!;
      output = modelOutput.map((value, i) => running[i]! + f32(sixth * value));
      this.runningOutput = undefined;
    }
    return this.previousSample(this.heldSample ?? sample, start, previous, output);
  }

  private linearMultistep(modelOutput: Float32Array, timestep: number, sample: Float32Array): Float32Array {
    const interval = Math.floor(this.trainSteps / this.stepCount);
    let current = timestep;
    let previous = timestep - interval;
    if (this.counter !== 1) {
      this.history = [...this.history.slice(-3), modelOutput];
    } else {
      // The repeated timestep redoes the first interval with the averaged output.
      previous = timestep;
      current = timestep + interval;
    }
    const history = this.history;
    const [e1, e2, e3, e4] = [history.at(-1)!, history.at(-2)!, history.at(-3)!, history.at(-4)!];
    let output: Float32Array;
    let from = sample;
    if (history.length === 1 && this.counter === 0) {
      output = modelOutput;
      this.heldSample = sample;
    } else if (history.length === 1 && this.counter === 1) {
      output = modelOutput.map((value, i) => f32(value + e1[i]!) / 2);
      from = this.heldSample!;
      this.heldSample = undefined;
    } else if (history.length === 2) {
      output = e1.map((value, i) => f32(f32(3 * value) - e2[i]!) / 2);
    } else if (history.length === 3) {
      output = e1.map((value, i) => f32(f32(f32(23 * value) - f32(16 * e2[i]!)) + f32(5 * e3[i]!)) / 12);
    } else {
      const factor = f32(1 / 24);
      output = e1.map((value, i) => {
        const sum = f32(f32(f32(f32(55 * value) - f32(59 * e2[i]!)) + f32(37 * e3[i]!)) - f32(9 * e4[i]!));
        return factor * sum;
      });
    }
    return this.previousSample(from, current, previous, output);
  }

  /** The PNDM transfer from `timestep` to `previous` given a (combined) noise estimate. */
  private previousSample(sample: Float32Array, timestep: number, previous: number, modelOutput: Float32Array): Float32Array {
    const alpha = this.alphasCumprod[timestep]!;
    const alphaPrevious = previous >= 0 ? this.alphasCumprod[previous]! : this.finalAlphaCumprod;
    const beta = f32(1 - alpha);
    const betaPrevious = f32(1 - alphaPrevious);
    // PNDM combines noise estimates, so a v-prediction output is turned into ε first.
    const epsilon = noiseAtAlpha(this.predictionType, modelOutput, sample, sqrt32(alpha), sqrt32(beta));
    const sampleFactor = sqrt32(f32(alphaPrevious / alpha));
    const denominator = f32(f32(alpha * sqrt32(betaPrevious)) + sqrt32(f32(f32(alpha * beta) * alphaPrevious)));
    const difference = f32(alphaPrevious - alpha);
    return sample.map((value, i) => f32(sampleFactor * value) - f32(f32(difference * epsilon[i]!) / denominator));
  }
}
