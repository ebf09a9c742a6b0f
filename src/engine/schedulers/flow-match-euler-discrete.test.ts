// FlowMatch Euler schedules against the SD3 (diffusers 0.29.2) and FLUX (0.30.3, dynamic shift) pipeline references.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { testData } from '../../testing/paths.js';
import type { SchedulerConfig } from './scheduler.js';
import { FlowMatchEulerDiscreteScheduler } from './flow-match-euler-discrete.js';

interface FlowRun {
  id: string;
  call: { num_inference_steps: number; width: number; height: number };
  scheduler_config: SchedulerConfig;
  timesteps_seen: number[];
}

function references(family: 'sd3' | 'flux'): FlowRun[] {
  return (JSON.parse(readFileSync(testData('conformance', 'pipelines', family, 'index.json'), 'utf8')) as { runs: FlowRun[] }).runs;
}

for (const run of references('sd3')) {
  test(`SD3 schedule (fixed shift, applied twice as in 0.29.2) equals the timesteps the transformer saw: ${run.id}`, () => {
    const scheduler = new FlowMatchEulerDiscreteScheduler(run.scheduler_config);
    assert.equal(scheduler.usesDynamicShifting, false);
    scheduler.setTimesteps(run.call.num_inference_steps);
    assert.deepEqual(scheduler.timesteps, run.timesteps_seen);
  });
}

for (const run of references('flux')) {
  test(`FLUX schedule (dynamic shift from the packed token count) equals the timesteps the transformer saw: ${run.id}`, () => {
    const scheduler = new FlowMatchEulerDiscreteScheduler(run.scheduler_config);
    assert.equal(scheduler.usesDynamicShifting, true);
    // 64×64 pixels → 8×8 latent → 4×4 packed tokens.
    const imageSequenceLength = (run.call.height / 16) * (run.call.width / 16);
    assert.equal(imageSequenceLength, 16);
    scheduler.setTimesteps(run.call.num_inference_steps, { imageSequenceLength });
    assert.deepEqual(scheduler.timesteps, run.timesteps_seen);
    assert.equal(scheduler.sigmas.length, run.timesteps_seen.length + 1);
    assert.equal(scheduler.sigmas.at(-1), 0, 'the last step goes to sigma 0');
  });
}

test('a dynamic-shift schedule without the token count is refused, naming the argument', () => {
  const scheduler = new FlowMatchEulerDiscreteScheduler(references('flux')[0]!.scheduler_config);
  assert.throws(() => scheduler.setTimesteps(4), { name: 'InvalidArgumentError', message: /imageSequenceLength/ });
});

test('the dynamic shift grows with the image: more tokens keep sigma higher at the same step', () => {
  const config = references('flux')[0]!.scheduler_config;
  const small = new FlowMatchEulerDiscreteScheduler(config);
  const large = new FlowMatchEulerDiscreteScheduler(config);
  small.setTimesteps(4, { imageSequenceLength: 256 });
  large.setTimesteps(4, { imageSequenceLength: 4096 });
  // At base_image_seq_len mu = base_shift 0.5: sigma' = e^0.5 / (e^0.5 + 1/sigma - 1), here at sigma = 0.5.
  const expected = Math.exp(0.5) / (Math.exp(0.5) + 1);
  assert.equal(small.sigmas[2], Math.fround(expected));
  assert.ok(large.sigmas[2]! > small.sigmas[2]!);
});
