import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { readPngText } from '../engine/image/png.js';
import type { GenerationRecord } from '../providers/local/local-record.js';
import { InvalidArgumentError } from '../spec/errors/invalid-argument-error.js';
import { InvalidModelError } from '../spec/errors/invalid-model-error.js';
import { isInvalidArgument } from '../testing/assertions.js';
import { rawRgb } from '../testing/images.js';
import { startMockApiServer } from '../testing/mock-api-server.js';
import { testData } from '../testing/paths.js';
import { createPixelpipe, generate } from './pixelpipe.js';

const folder = testData('fixtures', 'tiny-sd15');
const cacheDir = mkdtempSync(join(tmpdir(), 'pixelpipe-service-'));
test.after(() => rmSync(cacheDir, { recursive: true, force: true }));

test('the library generates from a folder; a seed as a decimal string above 2^53 is exact', async () => {
  const pixelpipe = createPixelpipe({ cacheDir });
  try {
    const result = await pixelpipe.generate({ model: folder, prompt: 'a red cube', seed: '9007199254740993', steps: 2, sampler: 'euler' });
    assert.deepEqual(result.model, { id: folder, folder: resolve(folder), source: 'folder' });
    assert.equal(result.images[0]!.settings.seed, '9007199254740993');
    assert.equal(result.images[0]!.mediaType, 'image/png');
  } finally {
    await pixelpipe.close();
  }
});

test('a model given as an absolute folder is recorded by the folder\'s name, with its hash, never by its path', async () => {
  const pixelpipe = createPixelpipe({ cacheDir });
  try {
    const absolute = resolve(folder);
    const result = await pixelpipe.generate({ model: absolute, prompt: 'a red cube', seed: 5, steps: 1, sampler: 'euler' });
    const text = readPngText(result.images[0]!.bytes);
    const record = JSON.parse(text.pixelpipe!) as GenerationRecord;
    assert.equal(record.model.id, 'tiny-sd15');
    assert.match(record.model.hash, /^sha256:[0-9a-f]{64}$/);
    assert.equal(result.response.modelId, 'tiny-sd15');
    assert.equal(result.model.id, absolute, 'result.model still says what the caller named');
    assert.ok(!text.pixelpipe!.includes(absolute) && !text.pixelpipe!.includes('/test-data/'), 'no server path in the record');
    assert.match(text.parameters!, /, Model: tiny-sd15, Version: pixelpipe$/);
    assert.ok(!text.parameters!.includes('/'), 'no path in A1111\'s parameters');
  } finally {
    await pixelpipe.close();
  }
});

test('the same seed gives the same pixels through the one-off generate() and a kept instance', async () => {
  const options = { model: `local:${folder}`, prompt: 'a red cube', seed: 11, steps: 2, sampler: 'dpmpp_2m', cacheDir };
  const first = await generate(options);
  const pixelpipe = createPixelpipe({ cacheDir });
  const second = await pixelpipe.generate(options);
  await pixelpipe.close();
  const [a, b] = await Promise.all([rawRgb(first.images[0]!.bytes), rawRgb(second.images[0]!.bytes)]);
  assert.ok(a.data.equals(b.data));
});

test('a path-like model that does not exist is a missing folder, not a hub lookup', async () => {
  const pixelpipe = createPixelpipe({ cacheDir, hubUrl: 'http://127.0.0.1:9' });
  await assert.rejects(pixelpipe.generate({ model: './no/such/model', prompt: 'x' }), (error: unknown) => InvalidModelError.isInstance(error) && /does not exist/.test(error.message));
});

test('a malformed model id is refused naming the value', async () => {
  const pixelpipe = createPixelpipe({ cacheDir, hubUrl: 'http://127.0.0.1:9' });
  await assert.rejects(pixelpipe.resolveModel('not a/valid id'), (error: unknown) => InvalidArgumentError.isInstance(error) && error.message.includes('not a/valid id'));
});

test('the UNet hash is remembered beside the model cache and recomputed when the file changes', async () => {
  const { cpSync, readFileSync, utimesSync, writeFileSync } = await import('node:fs');
  const { createHash } = await import('node:crypto');
  const copy = join(cacheDir, 'tiny-copy');
  cpSync(folder, copy, { recursive: true });
  const recordHash = async () => {
    const pixelpipe = createPixelpipe({ cacheDir });
    try {
      return (await pixelpipe.generate({ model: copy, prompt: 'a red cube', seed: 1, steps: 1 })).response.modelHash;
    } finally {
      await pixelpipe.close();
    }
  };
  const realHash = createHash('sha256').update(readFileSync(join(copy, 'unet', 'model.onnx'))).digest('hex');
  assert.equal(await recordHash(), `sha256:${realHash}`);
  const store = join(cacheDir, 'weight-hashes.json');
  const entries = JSON.parse(readFileSync(store, 'utf8')) as Record<string, string>;
  const key = Object.keys(entries).find((candidate) => candidate.startsWith(join(copy, 'unet')))!;
  assert.equal(entries[key], realHash);
  writeFileSync(store, JSON.stringify({ ...entries, [key]: 'f'.repeat(64) })); // a stored value is used as is
  assert.equal(await recordHash(), `sha256:${'f'.repeat(64)}`);
  utimesSync(join(copy, 'unet', 'model.onnx'), new Date(), new Date(Date.now() + 5000)); // touched: hashed again
  assert.equal(await recordHash(), `sha256:${realHash}`);
});

test('a registry alias resolves to its repo, with or without a revision', async () => {
  const { findRegistryEntry } = await import('./models/model-registry.js');
  const entry = findRegistryEntry('sd15')!;
  const notices: string[] = [];
  const pixelpipe = createPixelpipe({ cacheDir, hubUrl: 'http://127.0.0.1:9', onNotice: (message) => notices.push(message) });
  // nothing is cached and the hub is unreachable: the pull fails, but the notice shows what was resolved
  await assert.rejects(pixelpipe.resolveModel('sd15'));
  await assert.rejects(pixelpipe.resolveModel('sd15@main'));
  assert.match(notices[0]!, new RegExp(`^${entry.repoId} is not in the model cache`));
  assert.match(notices[1]!, new RegExp(`^${entry.repoId} is not in the model cache`));
});

test('check runs a hosted provider\'s own up-front refusals with no request to it; a setting it would only warn about passes', async () => {
  const server = await startMockApiServer();
  const pixelpipe = createPixelpipe({ cacheDir, providers: { stability: { apiKey: 'sk-test', baseURL: server.url } } });
  try {
    await assert.rejects(pixelpipe.check({ model: 'stability:core', n: 1, inputSize: { width: 64, height: 64 } }), isInvalidArgument('images', /`mask`.*`extend`/));
    await assert.rejects(pixelpipe.check({ model: 'stability:core', n: 1, seed: '4294967295' }), isInvalidArgument('seed', /at most 4294967294/));
    await assert.rejects(pixelpipe.check({ model: 'stability:ultra', n: 1, prompt: '  ' }), isInvalidArgument('prompt', /non-empty/));
    assert.equal(await pixelpipe.check({ model: 'stability:core', n: 2, steps: 30, sampler: 'euler', inputSize: { width: 64, height: 64 }, masked: true }), undefined);
    // A fallback list is checked by its candidates when it runs: the next may take what one refuses.
    assert.equal(await pixelpipe.check({ model: 'stability:core,stability:ultra', n: 1, inputSize: { width: 64, height: 64 } }), undefined);
    assert.deepEqual(server.requests, []);
  } finally {
    await pixelpipe.close();
    await server.close();
  }
});
