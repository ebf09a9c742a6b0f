import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testData } from '../../testing/paths.js';
import { createLocal } from '../../providers/local/local-provider.js';
import { loadModel } from '../families/model-loader.js';
import { warmUp } from './warm-up.js';

const work = mkdtempSync(join(tmpdir(), 'pixelpipe-warm-up-'));
test.after(() => rmSync(work, { recursive: true, force: true }));

test('a warm-up runs every session a default call uses once, at the default size and guidance', async () => {
  const model = await loadModel(testData('fixtures', 'tiny-sd15'));
  const report = await warmUp(model);
  assert.deepEqual([report.width, report.height], [model.defaultWidth, model.defaultHeight]);
  // Guidance 7.5 by default: one UNet call on the batch of two (conditional and unconditional).
  assert.deepEqual(Object.fromEntries(Object.entries(report.runs).map(([name, runs]) => [name, runs.length])), { textEncoder: 1, unet: 1, vaeDecoder: 1 });
  await Promise.all(model.sessions.map((session) => session.release()));
});

test('an inpainting model warms up through inpainting, its VAE encoder included', async () => {
  const model = await loadModel(testData('fixtures', 'tiny-sd15-inpaint'));
  const report = await warmUp(model, { width: 64, height: 64 });
  assert.deepEqual(Object.keys(report.runs).sort(), ['textEncoder', 'unet', 'vaeDecoder', 'vaeEncoder']);
  await Promise.all(model.sessions.map((session) => session.release()));
});

test('a local model warms up once per load, and its sessions come from the graph cache the warm-up filled', async () => {
  const graphCache = join(work, 'graphs');
  const local = createLocal({ graphCache });
  const model = local.imageModel('tiny-sd15', { folder: testData('fixtures', 'tiny-sd15') });
  const first = await model.warm();
  assert.ok(first && first.milliseconds > 0);
  assert.equal(await model.warm(), undefined, 'already warm: nothing runs again');
  assert.equal(readdirSync(graphCache).filter((name) => /^[0-9a-f]{32}$/.test(name)).length, 3, 'text encoder, UNet and VAE decoder, each optimised once');
  const loaded = await model.load();
  assert.deepEqual(loaded.sessions.map((session) => session.graphCacheOutcome), ['built', 'built', 'built']);
  // Released and loaded again (a later process): every session is read back, and the warm-up runs again.
  await model.release();
  assert.ok(await model.warm());
  assert.deepEqual((await model.load()).sessions.map((session) => session.graphCacheOutcome), ['hit', 'hit', 'hit']);
  await local.close();
});
