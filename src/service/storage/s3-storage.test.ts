// The S3 store against s3rver on 127.0.0.1: the shared conformance suite, plus where objects land in the bucket.
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { s3rverCredentials, startS3Server, type TestS3Server } from '../../testing/s3-server.js';
import { S3Storage, type S3StorageConfig } from './s3-storage.js';
import { collect, storageConformance } from './storage.case.js';

const bucket = 'pixelpipe-test';
let server: TestS3Server;

before(async () => {
  server = await startS3Server({ buckets: [bucket] });
});
after(async () => {
  await server.close();
});

function storeSettings(overrides: Partial<S3StorageConfig> = {}): S3StorageConfig {
  return { bucket, endpoint: server.endpoint, forcePathStyle: true, credentials: s3rverCredentials, ...overrides };
}

// One server for the file; each test gets its own folder in the bucket, so tests never see each other's blobs.
storageConformance({
  name: 's3',
  downloadableUrls: true,
  async setup() {
    const prefix = `run-${randomUUID()}/`;
    const storage = new S3Storage(storeSettings({ prefix }));
    return {
      storage,
      writesOf: (key) => server.writes.filter((write) => write.bucket === bucket && write.key === `${prefix}${key}`).length,
      async close() {
        for await (const key of storage.list()) await storage.delete(key);
        await storage.close();
      },
    };
  },
});

describe('s3 storage', () => {
  test('objects land under the prefix with their Content-Type, and keys handed out leave the prefix off', async () => {
    const storage = new S3Storage(storeSettings({ prefix: '/tenant-a/images/' }));
    const client = new S3Client({ region: 'us-east-1', endpoint: server.endpoint, forcePathStyle: true, credentials: s3rverCredentials });
    try {
      assert.equal(storage.prefix, 'tenant-a/images/');
      const stored = await storage.put(new Uint8Array(randomBytes(64)), { mediaType: 'image/jpeg' });
      assert.match(stored.key, /^sha256\//);
      const object = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: `tenant-a/images/${stored.key}` }));
      assert.equal(object.ContentType, 'image/jpeg');
      assert.equal(object.ContentLength, 64);
      assert.ok((await collect(storage.list())).includes(stored.key));
      await storage.delete(stored.key);
    } finally {
      client.destroy();
      await storage.close();
    }
  });

  test('without a prefix, keys are object keys at the bucket root, and objects that are not blobs are not listed', async () => {
    const storage = new S3Storage(storeSettings());
    const prefixed = new S3Storage(storeSettings({ prefix: 'elsewhere' }));
    try {
      const stored = await storage.put(new Uint8Array(randomBytes(32)), { mediaType: 'image/png' });
      const other = await prefixed.put(new Uint8Array(randomBytes(32)), { mediaType: 'image/png' });
      const listed = await collect(storage.list());
      assert.ok(listed.includes(stored.key));
      assert.ok(!listed.some((key) => key.includes('elsewhere')), 'objects under another folder do not parse as blob keys');
      assert.ok(!(await collect(prefixed.list())).includes(stored.key));
      await storage.delete(stored.key);
      await prefixed.delete(other.key);
    } finally {
      await storage.close();
      await prefixed.close();
    }
  });

  test('a missing bucket is an error, not an absent blob', async () => {
    const storage = new S3Storage(storeSettings({ bucket: 'no-such-bucket' }));
    try {
      await assert.rejects(storage.get(`sha256/00/00/${'0'.repeat(64)}.png`), (error: unknown) => (error as Error).name === 'NoSuchBucket');
    } finally {
      await storage.close();
    }
  });

  test('settings that cannot work are refused, naming them', () => {
    assert.throws(() => new S3Storage({ bucket: '' }), (error: unknown) => (error as { argument?: string }).argument === 'bucket');
    assert.throws(() => new S3Storage({ bucket, prefix: '../up' }), (error: unknown) => (error as { argument?: string }).argument === 'prefix');
  });
});
