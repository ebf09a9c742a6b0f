// The memory estimate: what it reads from model folders, how it grows, and that it covers the peak a real run measures.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFile, cp, mkdtemp, rm } from 'node:fs/promises';
import { statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { repoRoot, sharedFile, testData } from '../../testing/paths.js';
import { estimatePeakMemory, largestSizeThatFits, readMemoryProfile } from './memory-estimate.js';

const mib = 2 ** 20;

test('the profile follows the configs: attention levels and heads, channels, size rule and default guidance', async () => {
  const sd15 = await readMemoryProfile(testData('fixtures', 'tiny-sd15'));
  // Attention in the second down block and the mid block, both at level 1; attention_head_dim 8 is a head count.
  assert.deepEqual(sd15.attention, [{ level: 1, heads: 8 }, { level: 1, heads: 8 }]);
  assert.deepEqual([sd15.unetChannels, sd15.vaeChannels, sd15.vaeScaleFactor, sd15.sizeMultiple, sd15.defaultGuidance], [32, 16, 8, 16, 7.5]);
  assert.equal((await readMemoryProfile(testData('fixtures', 'tiny-sd-turbo'))).defaultGuidance, 0, 'trailing spacing: a Turbo model, no guidance');
  assert.equal((await readMemoryProfile(testData('fixtures', 'tiny-sdxl'))).defaultGuidance, 5);
  assert.ok(sd15.weightBytes > 4 * mib && sd15.encoderBytes > 0);
});

test('the full-size SD-Turbo UNet: 5, 10 and 20 heads at levels 0 to 2 and the mid block, with 320 channels at full resolution', async (t) => {
  const skeleton = sharedFile(t, 'fixtures', 'skeletons', 'sd-turbo-unet', 'config.json');
  if (!skeleton) return;
  const folder = await mkdtemp(join(tmpdir(), 'pixelpipe-profile-'));
  t.after(() => rm(folder, { recursive: true, force: true }));
  // The tiny model's files with the full-size UNet's and VAE's configs: the profile reads configs, not weights.
  await cp(testData('fixtures', 'tiny-sd15'), folder, { recursive: true });
  await copyFile(skeleton, join(folder, 'unet', 'config.json'));
  await copyFile(join(skeleton, '..', '..', 'sd-turbo-vae-decoder', 'config.json'), join(folder, 'vae_decoder', 'config.json'));
  const profile = await readMemoryProfile(folder);
  assert.deepEqual(profile.attention, [{ level: 0, heads: 5 }, { level: 1, heads: 10 }, { level: 2, heads: 20 }, { level: 3, heads: 20 }]);
  assert.equal(profile.unetChannels, 320);
  assert.equal(profile.sizeMultiple, 64);
  // Level 0 dominates: 5 heads over 9216 cells at 768² is 1620 MiB per score matrix (bench/memory-calibration.md measured 5170 MiB of activation).
  const estimate = estimatePeakMemory(profile, { width: 768, height: 768, guidance: 0 });
  assert.match(estimate.driver, /UNet self-attention over 9216 latent cells × 5 heads \(1620 MiB per score matrix\)/);
  assert.ok(estimate.parts.unet >= 5170 * mib && estimate.parts.unet <= 1.6 * 5170 * mib, `UNet term ${(estimate.parts.unet / mib).toFixed(0)} MiB against 5170 measured`);
});

test('attention memory grows with the square of the latent cells; guidance doubles the UNet; the tiled VAE stops growing', async () => {
  const profile = await readMemoryProfile(testData('fixtures', 'tiny-sd15'));
  const at = (width: number, height: number, guidance = 0) => estimatePeakMemory(profile, { width, height, guidance });
  const ratio = at(2048, 1024).parts.unet / at(1024, 512).parts.unet;
  assert.ok(ratio > 14 && ratio < 16.5, `UNet ×${ratio.toFixed(1)} for ×4 the cells`);
  assert.ok(Math.abs(at(1024, 512, 7.5).parts.unet / at(1024, 512).parts.unet - 2) < 0.01);
  // Above 1024² the VAE works in 512-pixel tiles, so its term is one tile's whatever the size.
  assert.equal(at(2048, 2048).parts.vaeDecode, at(1536, 1536).parts.vaeDecode);
  assert.ok(at(1024, 1024).parts.vaeDecode > at(1536, 1536).parts.vaeDecode);
  assert.equal(estimatePeakMemory(profile, { width: 512, height: 512, guidance: 0, edit: true }).parts.vaeEncode, at(512, 512).parts.vaeDecode);
});

test('the largest size that fits is the biggest at the aspect ratio whose estimate is within the budget', async () => {
  const profile = await readMemoryProfile(testData('fixtures', 'tiny-sd15'));
  const budget = 6 * 2 ** 30;
  const request = { width: 4096, height: 1024, guidance: 0 };
  const fits = largestSizeThatFits(profile, request, budget)!;
  assert.equal(fits.width % 16, 0);
  assert.equal(fits.height, Math.round(fits.width / 4 / 16) * 16);
  assert.ok(estimatePeakMemory(profile, { ...request, ...fits }).totalBytes <= budget);
  const wider = fits.width + 16;
  assert.ok(estimatePeakMemory(profile, { ...request, width: wider, height: Math.round(wider / 4 / 16) * 16 }).totalBytes > budget);
  assert.equal(largestSizeThatFits(profile, request, 10 * mib), undefined, 'not even the smallest size fits in 10 MiB');
});

test('the estimate covers the peak a real text-to-image run of the tiny model reaches, without overshooting threefold', async () => {
  // A fresh process, so its peak is this run's alone.
  const script = `
    import { loadStableDiffusion } from ${JSON.stringify(join(repoRoot, 'src/engine/families/stable-diffusion.ts'))};
    import { textToImage } from ${JSON.stringify(join(repoRoot, 'src/engine/pipelines/text-to-image.ts'))};
    import { readFileSync } from 'node:fs';
    const model = await loadStableDiffusion(${JSON.stringify(testData('fixtures', 'tiny-sd15'))});
    await textToImage(model, { prompt: 'a red cube', width: 512, height: 512, steps: 1, guidance: 7.5, sampler: 'euler', seed: 1n });
    process.stdout.write(/VmHWM:\\s+(\\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))[1]);`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const code = await new Promise((resolve) => child.on('exit', resolve));
  assert.equal(code, 0);
  const measured = Number(output) * 1024;
  const estimate = estimatePeakMemory(await readMemoryProfile(testData('fixtures', 'tiny-sd15')), { width: 512, height: 512, guidance: 7.5 }).totalBytes;
  assert.ok(estimate >= measured, `estimate ${(estimate / mib).toFixed(0)} MiB below the measured peak ${(measured / mib).toFixed(0)} MiB`);
  assert.ok(estimate <= 3 * measured, `estimate ${(estimate / mib).toFixed(0)} MiB is over three times the measured ${(measured / mib).toFixed(0)} MiB`);
});

test('transformer families (SD3, FLUX.1) get an estimate from their transformer config: joint attention over image and text tokens, no inpainting channels', async () => {
  for (const [fixture, family, batchWithGuidance] of [['tiny-sd3', 'stable-diffusion-3', 2], ['tiny-flux', 'flux', 1]] as const) {
    const profile = await readMemoryProfile(testData('fixtures', fixture));
    assert.equal(profile.family, family);
    assert.equal(profile.unetInputChannels, profile.latentChannels, `${fixture}: the transformer takes the latent as it is`);
    assert.equal(profile.latentChannels, 16);
    assert.equal(profile.sizeMultiple, 16);
    assert.ok(profile.weightBytes > statSync(testData('fixtures', fixture, 'transformer', 'model.onnx')).size);
    const [attention] = profile.attention;
    assert.deepEqual({ ...attention, heads: undefined }, { level: 1, heads: undefined, textTokens: family === 'flux' ? 512 : 333 });
    const guided = estimatePeakMemory(profile, { width: 1024, height: 1024, guidance: 5 });
    const unguided = estimatePeakMemory(profile, { width: 1024, height: 1024, guidance: 1 });
    assert.ok(Number.isFinite(guided.totalBytes) && guided.totalBytes > 0);
    assert.equal(guided.parts.unet > unguided.parts.unet, batchWithGuidance === 2, `${fixture}: guidance doubles the batch only with classifier-free guidance`);
  }
});
