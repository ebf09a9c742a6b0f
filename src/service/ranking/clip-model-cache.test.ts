// The CLIP model cache: one load per folder while any ranker holds it, sessions released with the last holder.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidModelError } from '../../spec/errors/invalid-model-error.js';
import { testData } from '../../testing/paths.js';
import { leaseClipModel } from './clip-model-cache.js';

const clipFolder = testData('fixtures', 'tiny-clip');

test('two leases on one folder get one model; after both release, a new lease loads afresh', async () => {
  const first = leaseClipModel(clipFolder);
  const second = leaseClipModel(`${clipFolder}/`);
  const model = await first.get();
  assert.equal(await second.get(), model);
  await first.release();
  assert.equal(await second.get(), model, 'still held by the second lease');
  await second.release();
  const third = leaseClipModel(clipFolder);
  try {
    assert.notEqual(await third.get(), model);
  } finally {
    await third.release();
  }
});

test('a failed load is not cached: the error reaches every caller and the next get tries again', async () => {
  const lease = leaseClipModel(testData('fixtures', 'no-such-clip'));
  await assert.rejects(lease.get(), (error: unknown) => InvalidModelError.isInstance(error));
  await assert.rejects(lease.get(), (error: unknown) => InvalidModelError.isInstance(error));
  await lease.release();
});
