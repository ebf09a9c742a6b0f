// What a denoiser's output means (ε, v, x0 or flow velocity) and how it becomes the quantity a sampler integrates.
//
// The samplers (schedulers/) only integrate: each asks for the clean-sample estimate x0 or the noise ε at
// its current noise level, in the form its maths uses, and this module turns the model's output into it.
// Every expression keeps diffusers' float32 rounding order, so conversions match its schedulers to the bit.
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';

const f32 = Math.fround;

/**
 * diffusers' `prediction_type` values, plus `flow`: the velocity ε − x0 that rectified-flow models
 * (SD3, FLUX) predict along x = (1 − σ)·x0 + σ·ε.
 */
export const parameterisations = ['epsilon', 'v_prediction', 'sample', 'flow'] as const;
export type Parameterisation = (typeof parameterisations)[number];

/** The ones a `scheduler_config.json` names in `prediction_type` for the noise-prediction (DDPM-trained) schedulers. */
export const predictionTypes = ['epsilon', 'v_prediction', 'sample'] as const;
export type PredictionType = (typeof predictionTypes)[number];

/**
 * x0 at noise level σ in k-diffusion's form, x = x0 + σ·ε with the model fed x / √(σ² + 1)
 * (Euler samplers). Flow velocity has the same x0 = x − σ·v in its own form, so it shares the line.
 * `sample` returns the model output itself, not a copy.
 */
export function denoisedAtSigma(parameterisation: Parameterisation, output: Float32Array, sample: Float32Array, sigma: number): Float32Array {
  switch (parameterisation) {
    case 'sample':
      return output;
    case 'epsilon':
    case 'flow':
      return sample.map((value, i) => value - f32(sigma * output[i]!));
    case 'v_prediction': {
      const variance = f32(f32(sigma * sigma) + 1);
      const outputFactor = f32(-sigma / f32(Math.sqrt(variance)));
      return sample.map((value, i) => f32(output[i]! * outputFactor) + f32(value / variance));
    }
  }
}

/**
 * x0 in the DDPM form x = α·x0 + σ·ε (α = √ᾱ, σ = √(1 − ᾱ)), as DDIM, LCM and DPM-Solver form it.
 * `sample` returns the model output itself, not a copy.
 */
export function denoisedAtAlpha(parameterisation: Parameterisation, output: Float32Array, sample: Float32Array, alpha: number, sigma: number): Float32Array {
  switch (parameterisation) {
    case 'sample':
      return output;
    case 'epsilon':
      return sample.map((value, i) => f32(value - f32(sigma * output[i]!)) / alpha);
    case 'v_prediction':
      return sample.map((value, i) => f32(alpha * value) - f32(sigma * output[i]!));
    case 'flow':
      return flowInDdpmForm();
  }
}

/** ε in the DDPM form x = α·x0 + σ·ε, as DDIM and PNDM use it. `epsilon` returns the model output itself. */
export function noiseAtAlpha(parameterisation: Parameterisation, output: Float32Array, sample: Float32Array, alpha: number, sigma: number): Float32Array {
  switch (parameterisation) {
    case 'epsilon':
      return output;
    case 'sample':
      return sample.map((value, i) => f32(value - f32(alpha * output[i]!)) / sigma);
    case 'v_prediction':
      return sample.map((value, i) => f32(alpha * output[i]!) + f32(sigma * value));
    case 'flow':
      return flowInDdpmForm();
  }
}

function flowInDdpmForm(): never {
  throw new InvalidArgumentError({ argument: 'sampler', value: undefined, message: 'a flow-matching model needs a flow-matching sampler (flowmatch_euler); DDPM samplers cannot integrate its velocity' });
}
