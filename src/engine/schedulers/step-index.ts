// diffusers' step_index / begin_index bookkeeping, shared by the schedulers that walk their timesteps by position.
import { indexForTimestep } from './noise-schedule.js';

/**
 * The position state of a diffusers scheduler with `_step_index` and `_begin_index`: the step index is
 * found from the timestep (or the begin index) on first use and advanced by each `step`.
 */
export abstract class StepIndexedScheduler {
  timesteps: number[] = [];
  /** The index of the timestep the next `step` works on; undefined until first use. */
  protected stepIndex: number | undefined;
  private beginIndex: number | undefined;

  setBeginIndex(index: number): void {
    this.beginIndex = index;
  }

  /** Most of these schedulers feed the sample to the model unscaled. */
  scaleModelInput(sample: Float32Array, _timestep: number): Float32Array {
    return sample;
  }

  /** Forgets the position; `setTimesteps` calls it with each new schedule, as diffusers does. */
  protected resetStepIndex(): void {
    this.stepIndex = undefined;
    this.beginIndex = undefined;
  }

  /** The step index, found from the timestep (or the begin index) on first use, as diffusers' `_init_step_index`. */
  protected currentIndex(timestep: number, caller = 'step'): number {
    if (this.timesteps.length === 0) throw new Error(`call setTimesteps before ${caller}`);
    this.stepIndex ??= this.beginIndex ?? this.indexFor(timestep);
    return this.stepIndex;
  }

  /** The index `add_noise` uses: looked up from the timestep unless a begin index was set. */
  protected noiseIndex(timestep: number): number {
    return this.beginIndex === undefined ? this.indexFor(timestep) : (this.stepIndex ?? this.beginIndex);
  }

  /** diffusers' `index_for_timestep`; a scheduler whose lookup differs overrides it. */
  protected indexFor(timestep: number): number {
    return indexForTimestep(this.timesteps, timestep);
  }
}
