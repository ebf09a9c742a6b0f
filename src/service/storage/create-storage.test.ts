// Choosing the blob store from configuration.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { isInvalidArgument } from '../../testing/assertions.js';
import { createStorage, defaultStorageConfig, type StorageConfig } from './create-storage.js';
import { DirectoryStorage } from './directory-storage.js';
import { S3Storage } from './s3-storage.js';

test('createStorage makes the store the type names', async () => {
  const directory = createStorage({ type: 'directory', root: 'blobs' });
  assert.ok(directory instanceof DirectoryStorage);
  const s3 = createStorage({ type: 's3', bucket: 'images', endpoint: 'http://127.0.0.1:9', forcePathStyle: true, credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
  assert.ok(s3 instanceof S3Storage);
  await Promise.all([directory.close(), s3.close()]);
});

test('an unknown type is refused, listing the known ones', () => {
  assert.throws(() => createStorage({ type: 'gcs' } as unknown as StorageConfig), isInvalidArgument('type', /one of directory, s3, got "gcs"/));
});

test('by default blobs live in the blobs folder of the data directory', () => {
  assert.deepEqual(defaultStorageConfig(join('data', 'pixelpipe')), { type: 'directory', root: join('data', 'pixelpipe', 'blobs') });
});
