// diffusers 0.29 DPMSolverMultistepScheduler as DPM-Solver++(2M), optionally on Karras sigmas (`dpmpp_2m`, `dpmpp_2m_karras`).
import { denoisedAtAlpha } from '../denoisers/parameterisation.js';
import type { SamplerName } from './sampler-names.js';
import type { NoiseSource, Scheduler, SchedulerConfig, StepResult } from './scheduler.js';
import { StepIndexedScheduler } from './step-index.js';
import { f32, interpolateOnIndexGrid, numpyArange, numpyLinspace, roundHalfEven, sqrt32 } from './numerics.js';
import {
  alphasCumprodFromConfig,
  checkSteps,
  choice,
  karrasSigmas,
  logSigmasOf,
  option,
  predictionTypes,
  sigmaToTimestep,
  timestepSpacings,
  trainingSigmas,
  unsupported,
  type PredictionType,
  type TimestepSpacing,
} from './noise-schedule.js';

/** alpha_t, sigma_t and lambda_t = log(alpha_t / sigma_t) of a noise level, in float32 as diffusers has them. */
function levels(sigma: number): { alpha: number; sigma: number; lambda: number } {
  const alpha = f32(1 / sqrt32(f32(f32(sigma * sigma) + 1)));
  const scaled = f32(sigma * alpha);
  return { alpha, sigma: scaled, lambda: f32(f32(Math.log(alpha)) - f32(Math.log(scaled))) };
}

/** Python writes infinities into JSON configs as the strings `-inf` and `inf`. */
function parseInfinity(value: number | string): number {
  if (typeof value === 'number') return value;
  const text = value.trim().toLowerCase();
  if (text === '-inf' || text === '-infinity') return Number.NEGATIVE_INFINITY;
  if (text === 'inf' || text === 'infinity') return Number.POSITIVE_INFINITY;
  return Number(text);
}

export class DpmSolverMultistepScheduler extends StepIndexedScheduler implements Scheduler {
  readonly name: SamplerName;
  readonly initNoiseSigma = 1;
  sigmas: number[] = [];
  private readonly trainSteps: number;
  private readonly predictionType: PredictionType;
  private readonly spacing: TimestepSpacing;
  private readonly stepsOffset: number;
  private readonly midpoint: boolean;
  private readonly lowerOrderFinal: boolean;
  private readonly eulerAtFinal: boolean;
  private readonly useKarrasSigmas: boolean;
  private readonly useLuLambdas: boolean;
  private readonly finalSigmas: 'zero' | 'sigma_min';
  private readonly sigmaMin: number | null;
  private readonly sigmaMax: number | null;
  private readonly lambdaMinClipped: number;
  private readonly alphasCumprod: Float32Array;
  private readonly trainSigmas: Float32Array;
  private previousOutput: Float32Array | undefined;

  /**
   * `name` fixes the solver: DPM-Solver++ of order 2, on Karras sigmas exactly for `dpmpp_2m_karras`.
   * The config's algorithm_type, solver_order and use_karras_sigmas are overridden so the name means one thing.
   */
  constructor(config: SchedulerConfig, name: 'dpmpp_2m' | 'dpmpp_2m_karras' = 'dpmpp_2m') {
    super();
    this.name = name;
    this.trainSteps = option(config, 'num_train_timesteps', 1000);
    this.predictionType = choice(config, 'prediction_type', 'epsilon', predictionTypes);
    this.spacing = choice(config, 'timestep_spacing', 'linspace', timestepSpacings);
    this.stepsOffset = option(config, 'steps_offset', 0);
    // diffusers maps the legacy UniPC solver types onto midpoint.
    const solverType = choice(config, 'solver_type', 'midpoint', ['midpoint', 'heun', 'logrho', 'bh1', 'bh2']);
    this.midpoint = solverType !== 'heun';
    this.lowerOrderFinal = option(config, 'lower_order_final', true);
    this.eulerAtFinal = option(config, 'euler_at_final', false);
    this.useKarrasSigmas = name === 'dpmpp_2m_karras';
    this.useLuLambdas = !this.useKarrasSigmas && option(config, 'use_lu_lambdas', false);
    this.finalSigmas = choice(config, 'final_sigmas_type', 'zero', ['zero', 'sigma_min']);
    this.sigmaMin = option<number | null>(config, 'sigma_min', null);
    this.sigmaMax = option<number | null>(config, 'sigma_max', null);
    this.lambdaMinClipped = parseInfinity(option<number | string>(config, 'lambda_min_clipped', Number.NEGATIVE_INFINITY));
    if (option(config, 'thresholding', false)) unsupported('thresholding', true, 'dynamic thresholding suits pixel-space models only; set it to false');
    const varianceType = option<string | null>(config, 'variance_type', null);
    if (varianceType !== null) unsupported('variance_type', varianceType, 'learned-variance models are not supported');
    this.alphasCumprod = alphasCumprodFromConfig(config, { betaStart: 0.0001, betaEnd: 0.02, betaSchedule: 'linear' });
    if (option(config, 'rescale_betas_zero_snr', false)) this.alphasCumprod[this.alphasCumprod.length - 1] = 2 ** -24;
    this.trainSigmas = trainingSigmas(this.alphasCumprod);
  }

  setTimesteps(steps: number): void {
    checkSteps(steps);
    // Timesteps whose lambda falls below lambda_min_clipped are cut from the end of the schedule.
    const lambdas = Array.from(this.alphasCumprod, (alpha) => f32(f32(Math.log(sqrt32(alpha))) - f32(Math.log(sqrt32(f32(1 - alpha))))));
    const clipped = lambdas.reverse().filter((lambda) => lambda < this.lambdaMinClipped).length;
    const lastTimestep = this.trainSteps - clipped;
    let timesteps: number[];
    if (this.spacing === 'linspace') {
      timesteps = numpyLinspace(0, lastTimestep - 1, steps + 1).map(roundHalfEven).reverse().slice(0, -1);
    } else if (this.spacing === 'leading') {
      const ratio = Math.floor(lastTimestep / (steps + 1));
      timesteps = Array.from({ length: steps }, (_, index) => (steps - index) * ratio + this.stepsOffset);
    } else {
      timesteps = numpyArange(lastTimestep, 0, -this.trainSteps / steps).map((time) => roundHalfEven(time) - 1);
    }
    const train = this.trainSigmas;
    const logSigmas = logSigmasOf(train);
    let sigmas: number[];
    if (this.useKarrasSigmas) {
      sigmas = karrasSigmas(this.sigmaMin ?? train[0]!, this.sigmaMax ?? train[train.length - 1]!, steps);
      timesteps = sigmas.map((sigma) => roundHalfEven(sigmaToTimestep(sigma, logSigmas)));
    } else if (this.useLuLambdas) {
      // Evenly spaced in log-sigma (half-lambda) from the largest training sigma to the smallest.
      const logMin = logSigmas[0]!;
      const logMax = logSigmas[logSigmas.length - 1]!;
      sigmas = numpyLinspace(0, 1, steps).map((ramp) => Math.exp(logMax + ramp * (logMin - logMax)));
      timesteps = sigmas.map((sigma) => roundHalfEven(sigmaToTimestep(sigma, logSigmas)));
    } else {
      sigmas = timesteps.map((time) => interpolateOnIndexGrid(time, train));
    }
    const last = this.finalSigmas === 'zero' ? 0 : train[0]!;
    this.sigmas = [...sigmas, last].map(f32);
    this.timesteps = timesteps;
    this.previousOutput = undefined;
    this.resetStepIndex();
  }

  step(modelOutput: Float32Array, timestep: number, sample: Float32Array, _noise: NoiseSource): StepResult {
    const index = this.currentIndex(timestep);
    const count = this.timesteps.length;
    // Few-step schedules are unstable at second order near the end; diffusers drops to first order there.
    const lowerOrderFinal =
      index === count - 1 && (this.eulerAtFinal || (this.lowerOrderFinal && count < 15) || this.finalSigmas === 'zero');
    const current = this.predictOriginal(modelOutput, sample, this.sigmas[index]!);
    const target = levels(this.sigmas[index + 1]!);
    const source = levels(this.sigmas[index]!);
    const h = f32(target.lambda - source.lambda);
    const sampleFactor = f32(target.sigma / source.sigma);
    const expMinusOne = f32(f32(Math.exp(-h)) - 1);
    const firstFactor = f32(target.alpha * expMinusOne);
    let prevSample: Float32Array;
    if (this.previousOutput === undefined || lowerOrderFinal) {
      prevSample = sample.map((value, i) => f32(sampleFactor * value) - f32(firstFactor * current[i]!));
    } else {
      const previousLevel = levels(this.sigmas[index - 1]!);
      const ratio = f32(f32(source.lambda - previousLevel.lambda) / h);
      const inverseRatio = f32(1 / ratio);
      const previous = this.previousOutput;
      // Midpoint subtracts half the first-order factor times D1; Heun adds its own factor (negated here).
      const secondFactor = this.midpoint
        ? f32(0.5 * firstFactor)
        : f32(-target.alpha * f32(f32(expMinusOne / h) + 1));
      prevSample = sample.map((value, i) => {
        const difference = f32(inverseRatio * f32(current[i]! - previous[i]!));
        return f32(f32(sampleFactor * value) - f32(firstFactor * current[i]!)) - f32(secondFactor * difference);
      });
    }
    this.previousOutput = current;
    this.stepIndex = index + 1;
    return { prevSample, predOriginalSample: current };
  }

  addNoise(original: Float32Array, noise: Float32Array, timestep: number): Float32Array {
    const { alpha, sigma } = levels(this.sigmas[this.noiseIndex(timestep)]!);
    return original.map((value, i) => f32(alpha * value) + f32(sigma * noise[i]!));
  }

  /** DPM-Solver++ works on the x0 prediction, whatever the model's parameterisation. */
  private predictOriginal(modelOutput: Float32Array, sample: Float32Array, sigmaValue: number): Float32Array {
    const { alpha, sigma } = levels(sigmaValue);
    return denoisedAtAlpha(this.predictionType, modelOutput, sample, alpha, sigma);
  }

  /** DPM's `index_for_timestep`: the last step when the timestep is absent, the second match when repeated. */
  protected override indexFor(timestep: number): number {
    const matches = this.timesteps.flatMap((candidate, index) => (candidate === timestep ? [index] : []));
    if (matches.length === 0) return this.timesteps.length - 1;
    return matches[matches.length > 1 ? 1 : 0]!;
  }
}
