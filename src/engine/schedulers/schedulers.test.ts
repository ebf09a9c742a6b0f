// Replays diffusers 0.29.2's scheduler runs (test-data/conformance/schedulers.json) through the ports, value by value.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { testData } from '../../testing/paths.js';
import { TorchGenerator } from '../tensor/torch-random.js';
import { createScheduler, samplerForSchedulerClass, samplerNames, type SamplerName, type SchedulerConfig } from './index.js';

interface ReferenceStep {
  i: number;
  t: number;
  scale_factor: number;
  model_output: number[];
  prev_sample: number[];
  pred_original_sample?: number[];
}

interface ReferenceRun {
  class: string;
  config: SchedulerConfig;
  num_inference_steps: number;
  timesteps: number[];
  sigmas?: number[] | null;
  init_noise_sigma: number | null;
  x0: number[];
  x_init: number[];
  steps?: ReferenceStep[];
  final?: number[];
}

interface PipelineRun {
  id: string;
  scheduler_class: string;
  scheduler_config: SchedulerConfig;
  call: { num_inference_steps: number; strength?: number };
  timesteps_seen: number[];
}

const tolerance = 1e-6;
/** Values this close to zero are compared absolutely: they come from cancellations of O(1..100) terms. */
const absoluteFloor = 1e-4;

const reference = JSON.parse(readFileSync(testData('conformance', 'schedulers.json'), 'utf8')) as { runs: Record<string, ReferenceRun> };
let worst = { error: 0, where: 'every value (bit-exact)' };

/** Fails when any value differs from diffusers' by more than 1e-6 relative (absolute below the floor). */
function assertClose(actual: ArrayLike<number>, expected: readonly number[], where: string): void {
  assert.equal(actual.length, expected.length, `${where}: length`);
  for (let index = 0; index < expected.length; index++) {
    const error = Math.abs(actual[index]! - expected[index]!) / Math.max(Math.abs(expected[index]!), absoluteFloor);
    if (error > worst.error) worst = { error, where: `${where}[${index}]` };
    assert.ok(error <= tolerance, `${where}[${index}]: got ${actual[index]}, diffusers ${expected[index]} (relative error ${error.toExponential(2)})`);
  }
}

/** The conformance data's fake denoiser: `0.1 * x + 0.01 * t`, in float32 as torch computes it. */
function fakeModel(input: Float32Array, timestep: number): Float32Array {
  const bias = Math.fround(0.01 * timestep);
  const weight = Math.fround(0.1);
  return input.map((value) => Math.fround(weight * value) + bias);
}

describe('schedulers match diffusers 0.29.2', () => {
  for (const [key, run] of Object.entries(reference.runs)) {
    it(key, () => {
      const name = samplerForSchedulerClass(run.class, run.config);
      assert.ok(name, `no sampler for ${run.class}`);
      assert.equal(name.replace('euler_a', 'euler_ancestral'), key.split('/')[0]);
      const scheduler = createScheduler(name, run.config);
      scheduler.setTimesteps(run.num_inference_steps);
      assertClose(scheduler.timesteps, run.timesteps, `${key} timesteps`);
      if (run.sigmas) assertClose(scheduler.sigmas, run.sigmas, `${key} sigmas`);
      if (run.init_noise_sigma !== null) assertClose([scheduler.initNoiseSigma], [run.init_noise_sigma], `${key} init_noise_sigma`);
      if (!run.steps) return;

      const generator = new TorchGenerator(7n);
      const noise = (size: number) => {
        assert.equal(size, 64);
        return generator.randn([1, 4, 4, 4]);
      };
      let sample: Float32Array = Float32Array.from(run.x0, (value) => Math.fround(value * scheduler.initNoiseSigma));
      assertClose(sample, run.x_init, `${key} x_init`);
      assert.equal(run.steps.length, scheduler.timesteps.length);
      for (const expected of run.steps) {
        const where = `${key} step ${expected.i}`;
        const timestep = scheduler.timesteps[expected.i]!;
        assertClose([timestep], [expected.t], `${where} t`);
        const input = scheduler.scaleModelInput(sample, timestep);
        assertClose(scheduler.scaleModelInput(Float32Array.of(1), timestep), [expected.scale_factor], `${where} scale_factor`);
        const modelOutput = fakeModel(input, timestep);
        assertClose(modelOutput, expected.model_output, `${where} model_output`);
        const result = scheduler.step(modelOutput, timestep, sample, noise);
        assertClose(result.prevSample, expected.prev_sample, `${where} prev_sample`);
        if (expected.pred_original_sample) {
          assert.ok(result.predOriginalSample, `${where}: no pred_original_sample`);
          assertClose(result.predOriginalSample, expected.pred_original_sample, `${where} pred_original_sample`);
        }
        sample = result.prevSample;
      }
      assertClose(sample, run.final!, `${key} final`);
    });
  }

  it('reports the worst error seen', () => {
    console.log(`worst relative error against diffusers: ${worst.error.toExponential(2)} at ${worst.where}`);
    assert.ok(worst.error <= tolerance);
  });
});

describe('pipeline scheduler configs', () => {
  const index = JSON.parse(readFileSync(testData('conformance', 'pipelines', 'index.json'), 'utf8')) as { runs: PipelineRun[] };
  for (const run of index.runs) {
    it(`${run.id} gives the timesteps the UNet saw`, () => {
      const name = samplerForSchedulerClass(run.scheduler_class, run.scheduler_config);
      assert.ok(name, `no sampler for ${run.scheduler_class}`);
      const steps = run.call.num_inference_steps;
      const scheduler = createScheduler(name, run.scheduler_config);
      scheduler.setTimesteps(steps);
      // img2img skips the first steps the way diffusers' get_timesteps does.
      const kept = Math.min(Math.floor(steps * (run.call.strength ?? 1)), steps);
      assert.deepEqual(scheduler.timesteps.slice(steps - kept), run.timesteps_seen);
    });
  }
});

describe('createScheduler', () => {
  it('refuses an unknown sampler, listing the known ones', () => {
    assert.throws(
      () => createScheduler('heun' as SamplerName, {}),
      (error: unknown) => {
        assert.ok(InvalidArgumentError.isInstance(error));
        assert.equal(error.argument, 'sampler');
        for (const name of samplerNames) assert.ok(error.message.includes(name), `message lacks ${name}: ${error.message}`);
        return true;
      },
    );
  });

  for (const name of samplerNames) {
    it(`${name} refuses fewer than one step`, () => {
      for (const steps of [0, -1, 2.5]) {
        assert.throws(() => createScheduler(name, {}).setTimesteps(steps), (error: unknown) => InvalidArgumentError.isInstance(error) && error.argument === 'steps');
      }
    });
  }

  it('refuses unknown values of enumerated config fields', () => {
    assert.throws(() => createScheduler('euler', { beta_schedule: 'cubic' }), /squaredcos_cap_v2/);
    assert.throws(() => createScheduler('ddim', { timestep_spacing: 'random' }), /leading/);
  });

  it('maps diffusers classes to samplers', () => {
    assert.equal(samplerForSchedulerClass('EulerDiscreteScheduler'), 'euler');
    assert.equal(samplerForSchedulerClass('DPMSolverMultistepScheduler', { use_karras_sigmas: true }), 'dpmpp_2m_karras');
    assert.equal(samplerForSchedulerClass('DPMSolverMultistepScheduler', { algorithm_type: 'sde-dpmsolver++' }), undefined);
    assert.equal(samplerForSchedulerClass('UniPCMultistepScheduler'), undefined);
  });
});

describe('noise schedules without reference runs', () => {
  it('rescale_betas_zero_snr makes the last timestep pure noise', () => {
    const scheduler = createScheduler('ddim', { beta_schedule: 'scaled_linear', beta_start: 0.00085, beta_end: 0.012, rescale_betas_zero_snr: true });
    scheduler.setTimesteps(1);
    const noise = new Float32Array([0.5, -2]);
    assert.deepEqual(Array.from(scheduler.addNoise(new Float32Array([3, 4]), noise, 999)), [0.5, -2]);
  });

  it('addNoise uses the sigma of the timestep (Euler)', () => {
    const scheduler = createScheduler('euler', { beta_schedule: 'scaled_linear', beta_start: 0.00085, beta_end: 0.012, timestep_spacing: 'leading', steps_offset: 1 });
    scheduler.setTimesteps(4);
    const noisy = scheduler.addNoise(new Float32Array([1]), new Float32Array([1]), scheduler.timesteps[2]!);
    assert.equal(noisy[0], Math.fround(1 + scheduler.sigmas[2]!));
  });

  it('squaredcos_cap_v2 and trained_betas build a schedule', () => {
    const cosine = createScheduler('ddim', { beta_schedule: 'squaredcos_cap_v2', num_train_timesteps: 100 });
    cosine.setTimesteps(10);
    assert.deepEqual(cosine.timesteps, [90, 80, 70, 60, 50, 40, 30, 20, 10, 0]);
    const trained = createScheduler('euler', { trained_betas: Array.from({ length: 10 }, () => 0.1), num_train_timesteps: 10 });
    trained.setTimesteps(2);
    const alphaBar = Math.fround(0.9) ** 10;
    assertClose([trained.sigmas[0]!], [Math.sqrt((1 - alphaBar) / alphaBar)], 'trained_betas sigma');
  });
});
