// The pieces diffusers' discrete-time schedulers share: config reading, betas, alphas_cumprod, timestep spacing, Karras sigmas.
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import type { SchedulerConfig } from './scheduler.js';
import {
  cumulativeProduct,
  f32,
  numpyArange,
  numpyLinspace,
  roundHalfEven,
  sqrt32,
  torchLinspaceFloat32,
} from './numerics.js';

/** A config value, or `fallback` where the config lacks it or holds null (diffusers' default). */
export function option<T>(config: SchedulerConfig, field: string, fallback: T): T {
  const value = config[field];
  return value === undefined || value === null ? fallback : (value as T);
}

/** A config value that must be one of `known`; anything else is refused with the list. */
export function choice<const T extends string>(
  config: SchedulerConfig,
  field: string,
  fallback: T,
  known: readonly T[],
): T {
  const value = option<unknown>(config, field, fallback);
  if (typeof value === 'string' && (known as readonly string[]).includes(value)) return value as T;
  throw new InvalidArgumentError({
    argument: field,
    value,
    message: `scheduler config \`${field}\` must be one of ${known.map((name) => `'${name}'`).join(', ')}, got ${JSON.stringify(value)}`,
  });
}

/** Refuses a config setting this port does not implement, rather than silently sampling differently. */
export function unsupported(field: string, value: unknown, reason: string): never {
  throw new InvalidArgumentError({ argument: field, value, message: `scheduler config \`${field}\` = ${JSON.stringify(value)} is not supported: ${reason}` });
}

/** Refuses a step count below 1 (or above `maximum`). */
export function checkSteps(steps: number, maximum = Number.POSITIVE_INFINITY): void {
  if (!Number.isInteger(steps) || steps < 1 || steps > maximum) {
    const bound = Number.isFinite(maximum) ? ` and at most ${maximum}` : '';
    throw new InvalidArgumentError({ argument: 'steps', value: steps, message: `\`steps\` must be an integer of at least 1${bound}, got ${steps}` });
  }
}

// The parameterisation is the denoiser's business; schedulers only read which one their config names.
export { predictionTypes, type PredictionType } from '../denoisers/parameterisation.js';
export const timestepSpacings = ['leading', 'trailing', 'linspace'] as const;
export type TimestepSpacing = (typeof timestepSpacings)[number];

/** Defaults of the beta settings, which differ between scheduler classes. */
export interface BetaDefaults {
  betaStart: number;
  betaEnd: number;
  betaSchedule: 'linear' | 'scaled_linear' | 'squaredcos_cap_v2';
}

/** diffusers' `betas_for_alpha_bar` with the cosine transform (squaredcos_cap_v2), in float64 then float32. */
function cosineBetas(trainSteps: number): Float32Array {
  const alphaBar = (time: number) => Math.cos(((time + 0.008) / 1.008) * Math.PI / 2) ** 2;
  const betas = new Float32Array(trainSteps);
  for (let index = 0; index < trainSteps; index++) {
    betas[index] = Math.min(1 - alphaBar((index + 1) / trainSteps) / alphaBar(index / trainSteps), 0.999);
  }
  return betas;
}

/** The training betas (float32) from `trained_betas` or `beta_schedule`. */
export function betasFromConfig(config: SchedulerConfig, defaults: BetaDefaults): Float32Array {
  const trainSteps = option(config, 'num_train_timesteps', 1000);
  const trained = option<readonly number[] | null>(config, 'trained_betas', null);
  if (trained) return Float32Array.from(trained);
  const start = option(config, 'beta_start', defaults.betaStart);
  const end = option(config, 'beta_end', defaults.betaEnd);
  const schedule = choice(config, 'beta_schedule', defaults.betaSchedule, ['linear', 'scaled_linear', 'squaredcos_cap_v2']);
  if (schedule === 'linear') return torchLinspaceFloat32(start, end, trainSteps);
  if (schedule === 'scaled_linear') return torchLinspaceFloat32(start ** 0.5, end ** 0.5, trainSteps).map((root) => f32(root * root));
  return cosineBetas(trainSteps);
}

/** diffusers' `rescale_zero_terminal_snr`: shifts the schedule so the last timestep is pure noise. */
export function rescaleZeroTerminalSnr(betas: Float32Array): Float32Array {
  const roots = cumulativeProduct(betas.map((beta) => f32(1 - beta))).map(sqrt32);
  const first = roots[0]!;
  const last = roots[roots.length - 1]!;
  const factor = f32(first / f32(first - last));
  const alphaBars = roots.map((root) => {
    const rescaled = f32(f32(root - last) * factor);
    return f32(rescaled * rescaled);
  });
  return alphaBars.map((alphaBar, index) => f32(1 - (index === 0 ? alphaBar : f32(alphaBar / alphaBars[index - 1]!))));
}

/** `alphas_cumprod` of a config; `rescale_betas_zero_snr` is applied here when asked. */
export function alphasCumprodFromConfig(config: SchedulerConfig, defaults: BetaDefaults): Float32Array {
  let betas = betasFromConfig(config, defaults);
  if (option(config, 'rescale_betas_zero_snr', false)) betas = rescaleZeroTerminalSnr(betas);
  return cumulativeProduct(betas.map((beta) => f32(1 - beta)));
}

/** The training noise levels `sqrt((1 - alphas_cumprod) / alphas_cumprod)`, ascending with t, in float32. */
export function trainingSigmas(alphasCumprod: Float32Array): Float32Array {
  return alphasCumprod.map((alpha) => sqrt32(f32(f32(1 - alpha) / alpha)));
}

/**
 * Inference timesteps, descending, as Euler-style schedulers space them: `linspace` unrounded,
 * `leading` on multiples of `trainSteps // steps` plus `steps_offset`, `trailing` counted from the end.
 */
export function spacedTimesteps(spacing: TimestepSpacing, trainSteps: number, steps: number, offset: number): number[] {
  if (spacing === 'linspace') return numpyLinspace(0, trainSteps - 1, steps).reverse();
  if (spacing === 'leading') {
    const ratio = Math.floor(trainSteps / steps);
    return Array.from({ length: steps }, (_, index) => (steps - 1 - index) * ratio + offset);
  }
  return numpyArange(trainSteps, 0, -trainSteps / steps).map((time) => roundHalfEven(time) - 1);
}

/** Karras et al.'s rho=7 noise levels between `sigmaMax` and `sigmaMin`, in float64. */
export function karrasSigmas(sigmaMin: number, sigmaMax: number, steps: number): number[] {
  const rho = 7;
  const minInverse = sigmaMin ** (1 / rho);
  const maxInverse = sigmaMax ** (1 / rho);
  return numpyLinspace(0, 1, steps).map((ramp) => (maxInverse + ramp * (minInverse - maxInverse)) ** rho);
}

/** diffusers' `_sigma_to_t`: the fractional training timestep whose log-sigma matches, by linear interpolation. */
export function sigmaToTimestep(sigma: number, logSigmas: ArrayLike<number>): number {
  const logSigma = Math.log(Math.max(sigma, 1e-10));
  let atOrBelow = 0;
  while (atOrBelow < logSigmas.length && logSigmas[atOrBelow]! <= logSigma) atOrBelow++;
  const low = Math.min(Math.max(atOrBelow - 1, 0), logSigmas.length - 2);
  const lowLog = logSigmas[low]!;
  const highLog = logSigmas[low + 1]!;
  const weight = Math.min(1, Math.max(0, (lowLog - logSigma) / (lowLog - highLog)));
  return (1 - weight) * low + weight * (low + 1);
}

/** `np.log` of a float32 array: the float32 logarithm of each training sigma. */
export function logSigmasOf(sigmas: Float32Array): Float32Array {
  return sigmas.map((sigma) => f32(Math.log(sigma)));
}

/**
 * diffusers' `index_for_timestep`: where `timestep` sits in the schedule; the second match when it
 * appears twice, so img2img starting on a repeated timestep does not skip a step.
 */
export function indexForTimestep(timesteps: readonly number[], timestep: number): number {
  const matches: number[] = [];
  timesteps.forEach((candidate, index) => {
    if (candidate === timestep) matches.push(index);
  });
  const index = matches[matches.length > 1 ? 1 : 0];
  if (index === undefined) {
    throw new InvalidArgumentError({ argument: 'timestep', value: timestep, message: `\`timestep\` ${timestep} is not one of the scheduler's timesteps [${timesteps.join(', ')}]` });
  }
  return index;
}

/** Noise for `original` at a cumulative alpha: `sqrt(a) * original + sqrt(1 - a) * noise` (DDPM-style add_noise). */
export function addNoiseAtAlpha(original: Float32Array, noise: Float32Array, alphaCumprod: number): Float32Array {
  const signal = sqrt32(alphaCumprod);
  const noiseLevel = sqrt32(f32(1 - alphaCumprod));
  const result = new Float32Array(original.length);
  for (let index = 0; index < original.length; index++) {
    result[index] = f32(f32(signal * original[index]!) + f32(noiseLevel * noise[index]!));
  }
  return result;
}
