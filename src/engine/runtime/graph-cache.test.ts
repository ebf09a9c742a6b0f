import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testData } from '../../testing/paths.js';
import { GraphCache, onnxRuntimeVersion } from './graph-cache.js';
import { OnnxModel } from './onnx-model.js';
import { modelFiles } from './weight-hash.js';

const work = mkdtempSync(join(tmpdir(), 'pixelpipe-graph-cache-'));
test.after(() => rmSync(work, { recursive: true, force: true }));

// The tiny UNet: big enough for `all` to rewrite it (NCHWc convolutions), small enough to build in a second.
const unetPath = testData('fixtures', 'tiny-sd15', 'unet', 'model.onnx');
const feeds = {
  sample: { data: Float32Array.from({ length: 4 * 8 * 8 }, (_, i) => Math.sin(i * 0.37)), dims: [1, 4, 8, 8] },
  timestep: { data: [501], dims: [] },
  encoder_hidden_states: { data: Float32Array.from({ length: 77 * 32 }, (_, i) => Math.cos(i * 0.11)), dims: [1, 77, 32] },
};

const entries = (directory: string) => readdirSync(directory).filter((name) => /^[0-9a-f]{32}$/.test(name));

async function run(model: OnnxModel): Promise<Float32Array> {
  return Object.values(await model.run(feeds))[0]!;
}

test('a graph is built at level all once, saved, and loaded from the cache after, with the same outputs', async () => {
  const directory = join(work, 'cache');
  const built = await OnnxModel.load(unetPath, 'unet', { graphCache: new GraphCache(directory) }, 'all');
  assert.equal(built.graphCacheOutcome, 'built');
  const [entry] = entries(directory);
  assert.ok(entry, 'one entry is saved');
  const saved = JSON.parse(readFileSync(join(directory, entry, 'entry.json'), 'utf8')) as { key: Record<string, string> };
  const modelHash = createHash('sha256');
  for (const file of modelFiles(unetPath)) modelHash.update(readFileSync(file));
  assert.deepEqual(Object.keys(saved.key).sort(), ['cpu', 'executionProvider', 'level', 'model', 'onnxruntime']);
  assert.equal(saved.key.model, modelHash.digest('hex'));
  assert.equal(saved.key.onnxruntime, onnxRuntimeVersion());
  assert.equal(saved.key.executionProvider, 'cpu');
  assert.ok(statSync(join(directory, entry, 'model.onnx.data')).size > 1_000_000, 'the weights are saved beside the graph');

  // A new cache object on the same folder, as a later process: it finds the entry and builds nothing.
  const cached = await OnnxModel.load(unetPath, 'unet', { graphCache: new GraphCache(directory) }, 'all');
  assert.equal(cached.graphCacheOutcome, 'hit');
  assert.deepEqual(entries(directory), [entry]);
  const plain = await OnnxModel.load(unetPath, 'unet', {}, 'extended');
  const [fromBuilt, fromCache, fromPlain] = [await run(built), await run(cached), await run(plain)];
  assert.deepEqual(fromCache, fromBuilt, 'the saved graph computes exactly what the graph it was saved from does');
  const largest = fromPlain.reduce((worst, value, i) => Math.max(worst, Math.abs(value - fromCache[i]!)), 0);
  assert.ok(largest < 1e-4, `level all agrees with extended within float rounding (largest difference ${largest})`);
  await Promise.all([built, cached, plain].map((model) => model.release()));
});

test('a changed runtime, CPU or model is another key, and builds another entry', async () => {
  const directory = join(work, 'keys');
  const load = (path: string, machine = {}) => OnnxModel.load(path, 'unet', { graphCache: new GraphCache(directory, undefined, machine) }, 'all');
  const first = await load(unetPath);
  assert.equal(first.graphCacheOutcome, 'built');
  for (const machine of [{ onnxruntime: '0.0.0-other' }, { cpu: 'another-cpu' }]) {
    const other = await load(unetPath, machine);
    assert.equal(other.graphCacheOutcome, 'built', `a key with ${JSON.stringify(machine)} finds nothing to reuse`);
    await other.release();
  }
  // The same graph with other weights (a fine-tune): the model hash changes.
  const copy = join(work, 'fine-tune', 'unet');
  cpSync(join(unetPath, '..'), copy, { recursive: true });
  const bytes = readFileSync(join(copy, 'model.onnx'));
  bytes[bytes.length - 5] = bytes[bytes.length - 5]! ^ 1;
  writeFileSync(join(copy, 'model.onnx'), bytes);
  const tuned = await load(join(copy, 'model.onnx'));
  assert.equal(tuned.graphCacheOutcome, 'built');
  assert.equal(entries(directory).length, 4);
  assert.equal((await load(unetPath)).graphCacheOutcome, 'hit', 'the first key still finds its entry');
  await Promise.all([first, tuned].map((model) => model.release()));
});

test('a damaged entry is removed and built again, never fatal', async () => {
  const directory = join(work, 'damaged');
  const load = () => OnnxModel.load(unetPath, 'unet', { graphCache: new GraphCache(directory) }, 'all');
  await (await load()).release();
  const [entry] = entries(directory);
  // Truncated weights (a full disk, a killed copy): known from the size the entry recorded.
  truncateSync(join(directory, entry!, 'model.onnx.data'), 1000);
  const afterTruncation = await load();
  assert.equal(afterTruncation.graphCacheOutcome, 'rebuilt');
  assert.deepEqual(await run(afterTruncation), await run(await OnnxModel.load(unetPath, 'unet', {}, 'all')));
  // A graph of the right size that is no ONNX model: ONNX Runtime refuses it, and the entry is built again.
  const graph = join(directory, entry!, 'model.onnx');
  writeFileSync(graph, Buffer.alloc(statSync(graph).size, 0xff));
  const afterGarbage = await load();
  assert.equal(afterGarbage.graphCacheOutcome, 'rebuilt');
  assert.equal((await load()).graphCacheOutcome, 'hit');
  assert.deepEqual(readdirSync(directory).filter((name) => name.startsWith('.building')), [], 'no staging folder is left behind');
  await Promise.all([afterTruncation, afterGarbage].map((model) => model.release()));
});
