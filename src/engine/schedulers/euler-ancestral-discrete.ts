// diffusers 0.29 EulerAncestralDiscreteScheduler: an Euler step to sigma_down plus fresh noise of sigma_up (`euler_a`).
import type { NoiseSource, SchedulerConfig, StepResult } from './scheduler.js';
import { EulerDiscreteScheduler } from './euler-discrete.js';
import { f32, sqrt32 } from './numerics.js';
import { unsupported } from './noise-schedule.js';

export class EulerAncestralDiscreteScheduler extends EulerDiscreteScheduler {
  constructor(config: SchedulerConfig) {
    // The ancestral class has none of Euler's sigma options, so copied-over values must not apply.
    super(
      {
        ...config,
        interpolation_type: 'linear',
        use_karras_sigmas: false,
        sigma_min: null,
        sigma_max: null,
        final_sigmas_type: 'zero',
        timestep_type: 'discrete',
      },
      'euler_a',
    );
    if (this.predictionType === 'sample') unsupported('prediction_type', 'sample', 'diffusers does not implement it for EulerAncestralDiscreteScheduler');
  }

  override step(modelOutput: Float32Array, timestep: number, sample: Float32Array, noise: NoiseSource): StepResult {
    const index = this.currentIndex(timestep);
    const sigma = this.sigmas[index]!;
    const sigmaNext = this.sigmas[index + 1]!;
    const predOriginalSample = this.predictOriginal(modelOutput, sample, sigma);
    const sigmaSquared = f32(sigma * sigma);
    const nextSquared = f32(sigmaNext * sigmaNext);
    const sigmaUp = sqrt32(f32(f32(nextSquared * f32(sigmaSquared - nextSquared)) / sigmaSquared));
    const sigmaDown = sqrt32(f32(nextSquared - f32(sigmaUp * sigmaUp)));
    const delta = f32(sigmaDown - sigma);
    const fresh = noise(sample.length);
    const prevSample = new Float32Array(sample.length);
    for (let i = 0; i < sample.length; i++) {
      const derivative = f32(f32(sample[i]! - predOriginalSample[i]!) / sigma);
      const deterministic = f32(sample[i]! + f32(derivative * delta));
      prevSample[i] = f32(deterministic + f32(fresh[i]! * sigmaUp));
    }
    this.stepIndex = index + 1;
    return { prevSample, predOriginalSample };
  }
}
