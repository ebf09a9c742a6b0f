// Picks a scheduler port by sampler name, and names the sampler a diffusers scheduler config describes.
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { DdimScheduler } from './ddim.js';
import { DpmSolverMultistepScheduler } from './dpm-solver-multistep.js';
import { EulerAncestralDiscreteScheduler } from './euler-ancestral-discrete.js';
import { EulerDiscreteScheduler } from './euler-discrete.js';
import { FlowMatchEulerDiscreteScheduler } from './flow-match-euler-discrete.js';
import { LcmScheduler } from './lcm.js';
import { PndmScheduler } from './pndm.js';
import { flowMatchSamplerNames, samplerNames, type SamplerName } from './sampler-names.js';
import type { Scheduler, SchedulerConfig } from './scheduler.js';

export { flowMatchSamplerNames, samplerNames, type SamplerName } from './sampler-names.js';
export type { NoiseSource, ScheduleOptions, Scheduler, SchedulerConfig, StepResult } from './scheduler.js';

/**
 * A fresh scheduler for one generation. `config` is the model's `scheduler_config.json` (any class's:
 * fields the chosen scheduler does not know are ignored, as diffusers' `from_config` ignores them).
 */
export function createScheduler(name: SamplerName, config: SchedulerConfig = {}): Scheduler {
  switch (name) {
    case 'euler':
      return new EulerDiscreteScheduler(config);
    case 'euler_a':
      return new EulerAncestralDiscreteScheduler(config);
    case 'ddim':
      return new DdimScheduler(config);
    case 'dpmpp_2m':
    case 'dpmpp_2m_karras':
      return new DpmSolverMultistepScheduler(config, name);
    case 'lcm':
      return new LcmScheduler(config);
    case 'pndm':
      return new PndmScheduler(config);
    case 'flowmatch_euler':
      return new FlowMatchEulerDiscreteScheduler(config);
    default:
      throw new InvalidArgumentError({
        argument: 'sampler',
        value: name,
        message: `unknown sampler ${JSON.stringify(name)}; known samplers: ${[...samplerNames, ...flowMatchSamplerNames].join(', ')}`,
      });
  }
}

/** True for a sampler name pixelpipe knows. */
export function isSamplerName(value: unknown): value is SamplerName {
  return typeof value === 'string' && ([...samplerNames, ...flowMatchSamplerNames] as readonly string[]).includes(value);
}

/**
 * The sampler that reproduces a diffusers scheduler class with its config, or undefined when no port
 * matches it exactly (another class, or a DPM-Solver variant other than DPM-Solver++ of order 2).
 */
export function samplerForSchedulerClass(className: string, config: SchedulerConfig = {}): SamplerName | undefined {
  switch (className) {
    case 'EulerDiscreteScheduler':
      return 'euler';
    case 'EulerAncestralDiscreteScheduler':
      return 'euler_a';
    case 'DDIMScheduler':
      return 'ddim';
    case 'LCMScheduler':
      return 'lcm';
    case 'PNDMScheduler':
      return 'pndm';
    case 'FlowMatchEulerDiscreteScheduler':
      return 'flowmatch_euler';
    case 'DPMSolverMultistepScheduler': {
      const algorithm = config.algorithm_type ?? 'dpmsolver++';
      const order = config.solver_order ?? 2;
      if ((algorithm !== 'dpmsolver++' && algorithm !== 'deis') || order !== 2) return undefined;
      return config.use_karras_sigmas ? 'dpmpp_2m_karras' : 'dpmpp_2m';
    }
    default:
      return undefined;
  }
}
