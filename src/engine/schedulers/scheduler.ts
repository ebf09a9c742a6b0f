// The contract every scheduler port meets: diffusers' set_timesteps / scale_model_input / step, on flat float32 arrays.
import type { SamplerName } from './sampler-names.js';

/** Returns `size` standard normal values, as torch.randn of a tensor shaped like the sample would. */
export type NoiseSource = (size: number) => Float32Array;

/** What `step` returns, named as in diffusers' scheduler outputs. */
export interface StepResult {
  /** The sample at the next (less noisy) timestep. */
  prevSample: Float32Array;
  /** The model's estimate of the clean sample (LCM's `denoised`), where the scheduler forms one. */
  predOriginalSample?: Float32Array;
}

/**
 * A scheduler's settings as diffusers' `scheduler_config.json` spells them. Fields a scheduler does
 * not know are ignored, as diffusers ignores them; absent or null fields take that scheduler's default.
 */
export interface SchedulerConfig {
  num_train_timesteps?: number;
  beta_start?: number;
  beta_end?: number;
  /** `linear`, `scaled_linear` or `squaredcos_cap_v2`. */
  beta_schedule?: string;
  trained_betas?: readonly number[] | null;
  /** `epsilon`, `v_prediction` or `sample`. */
  prediction_type?: string;
  /** `leading`, `trailing` or `linspace`. */
  timestep_spacing?: string;
  steps_offset?: number;
  rescale_betas_zero_snr?: boolean;
  use_karras_sigmas?: boolean;
  [field: string]: unknown;
}

/** What a schedule may depend on besides the step count. */
export interface ScheduleOptions {
  /** The denoiser's image tokens ((h/2)·(w/2) for FLUX's packed latents); see FlowMatchEulerDiscreteScheduler. */
  imageSequenceLength?: number;
}

/** A stateful sampler: create one per generation, call `setTimesteps`, then `step` once per timestep in order. */
export interface Scheduler {
  /** The sampler name this scheduler was created under. */
  readonly name: SamplerName;
  /** After `setTimesteps`: the timesteps the denoiser sees, in order, as diffusers' `scheduler.timesteps`. */
  readonly timesteps: readonly number[];
  /** The noise levels of Karras-style schedulers (one more than timesteps); empty for the others. */
  readonly sigmas: readonly number[];
  /** Factor for the initial Gaussian latents (`latents * initNoiseSigma`). */
  readonly initNoiseSigma: number;
  /**
   * Builds the schedule for `steps` denoising steps and resets the step state. `imageSequenceLength`
   * (the denoiser's image tokens) is read only by schedules that shift with the image size (FLUX's).
   */
  setTimesteps(steps: number, options?: ScheduleOptions): void;
  /** Where a pipeline starts part-way into the schedule (img2img); diffusers' `set_begin_index`. */
  setBeginIndex(index: number): void;
  /** The denoiser input for `timestep`; may return `sample` itself when no scaling applies. */
  scaleModelInput(sample: Float32Array, timestep: number): Float32Array;
  /** One denoising step; draws from `noise` exactly when diffusers' step draws from its generator. */
  step(modelOutput: Float32Array, timestep: number, sample: Float32Array, noise: NoiseSource): StepResult;
  /** Noises a clean sample to the level of `timestep` (img2img, inpainting); diffusers' `add_noise`. */
  addNoise(original: Float32Array, noise: Float32Array, timestep: number): Float32Array;
}
