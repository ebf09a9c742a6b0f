// The conformance suite every blob store runs: the directory and S3 stores keep the same contract.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { isInvalidArgument } from '../../testing/assertions.js';
import type { BlobStorage } from './blob-storage.js';

export interface StorageUnderTest {
  /** A fresh, empty store. */
  storage: BlobStorage;
  /** Closes the store and removes what it wrote. */
  close(): Promise<void>;
  /** How many times bytes were written under `key`, where the backend can tell; proves a second put skips the write. */
  writesOf?(key: string): number;
}

export interface StorageCase {
  /** Shown in test names, e.g. `directory`. */
  name: string;
  /** A fresh, empty store for each test. */
  setup(): Promise<StorageUnderTest>;
  /** True when `url` gives a URL that plain `fetch` downloads; false when it gives undefined. */
  downloadableUrls: boolean;
}

/** All keys a store lists, in the order listed. */
export async function collect(keys: AsyncIterable<string>): Promise<string[]> {
  const collected: string[] = [];
  for await (const key of keys) collected.push(key);
  return collected;
}

const keyShape = /^sha256\/([0-9a-f]{2})\/([0-9a-f]{2})\/([0-9a-f]{64})\.png$/;
const wellFormedMissingKey = `sha256/00/00/${'0'.repeat(64)}.png`;
const badKeys = ['../etc/passwd', '/etc/passwd', `sha256/../../${'0'.repeat(64)}.png`, `/sha256/00/00/${'0'.repeat(64)}.png`, 'C:\\blobs\\x.png', 'not-a-key', '', `sha256/ab/cd/${'0'.repeat(64)}.png`, `sha256/00/00/${'0'.repeat(64)}.exe`];

/** Registers the suite for one store; `setup` runs once per test. */
export function storageConformance(storageCase: StorageCase): void {
  const run = async (body: (storage: BlobStorage, underTest: StorageUnderTest) => Promise<void>): Promise<void> => {
    const underTest = await storageCase.setup();
    try {
      await body(underTest.storage, underTest);
    } finally {
      await underTest.close();
    }
  };

  describe(`storage conformance: ${storageCase.name}`, () => {
    test('put then get returns the bytes and media type under a key derived from the SHA-256', async () => {
      await run(async (storage) => {
        const bytes = new Uint8Array(randomBytes(1000));
        const sha256Hex = createHash('sha256').update(bytes).digest('hex');
        const stored = await storage.put(bytes, { mediaType: 'image/png' });
        assert.deepEqual(stored, { key: `sha256/${sha256Hex.slice(0, 2)}/${sha256Hex.slice(2, 4)}/${sha256Hex}.png`, sha256: `sha256:${sha256Hex}`, size: 1000, mediaType: 'image/png' });
        const read = await storage.get(stored.key);
        assert.ok(read);
        assert.deepEqual(Buffer.from(read.bytes), Buffer.from(bytes));
        assert.equal(read.size, 1000);
        assert.equal(read.mediaType, 'image/png');
        assert.equal(read.range, undefined);
      });
    });

    test('the same bytes twice give the same key and one object, written once', async () => {
      await run(async (storage, underTest) => {
        const bytes = new Uint8Array(randomBytes(300));
        const first = await storage.put(bytes, { mediaType: 'image/png' });
        const second = await storage.put(new Uint8Array(bytes), { mediaType: 'image/png' });
        assert.deepEqual(second, first);
        assert.deepEqual(await collect(storage.list()), [first.key]);
        if (underTest.writesOf) assert.equal(underTest.writesOf(first.key), 1, 'the second put must not write again');
      });
    });

    test('different bytes, or the same bytes as another media type, give different keys', async () => {
      await run(async (storage) => {
        const bytes = new Uint8Array(randomBytes(300));
        const other = new Uint8Array(bytes);
        other[0] = bytes[0]! ^ 1;
        const first = await storage.put(bytes, { mediaType: 'image/png' });
        const second = await storage.put(other, { mediaType: 'image/png' });
        const asJpeg = await storage.put(bytes, { mediaType: 'image/jpeg' });
        assert.notEqual(first.key, second.key);
        assert.match(asJpeg.key, /\.jpg$/);
        assert.equal(asJpeg.sha256, first.sha256);
        assert.equal((await storage.get(asJpeg.key))?.mediaType, 'image/jpeg');
        assert.deepEqual((await collect(storage.list())).sort(), [first.key, second.key, asJpeg.key].sort());
      });
    });

    test('head gives size, media type and hash without the bytes', async () => {
      await run(async (storage) => {
        const stored = await storage.put(new Uint8Array(randomBytes(777)), { mediaType: 'image/webp' });
        assert.deepEqual(await storage.head(stored.key), { size: 777, mediaType: 'image/webp', sha256: stored.sha256 });
        assert.equal(await storage.head(wellFormedMissingKey), undefined);
      });
    });

    test('ranges read the first bytes, the middle and an open end, clamped to the last byte', async () => {
      await run(async (storage) => {
        const bytes = new Uint8Array(randomBytes(1000));
        const { key } = await storage.put(bytes, { mediaType: 'image/png' });
        const expectRange = async (range: { start: number; end?: number }, start: number, end: number) => {
          const read = await storage.get(key, { range });
          assert.ok(read);
          assert.deepEqual(read.range, { start, end });
          assert.equal(read.size, 1000, 'size is the whole blob');
          assert.equal(read.mediaType, 'image/png');
          assert.deepEqual(Buffer.from(read.bytes), Buffer.from(bytes.subarray(start, end + 1)));
        };
        await expectRange({ start: 0, end: 9 }, 0, 9);
        await expectRange({ start: 100, end: 199 }, 100, 199);
        await expectRange({ start: 950 }, 950, 999);
        await expectRange({ start: 990, end: 5000 }, 990, 999);
        await expectRange({ start: 999, end: 999 }, 999, 999);
        await assert.rejects(storage.get(key, { range: { start: 1000 } }), isInvalidArgument('range', /inside the blob/));
        await assert.rejects(storage.get(key, { range: { start: 10, end: 5 } }), isInvalidArgument('range', /end/));
        await assert.rejects(storage.get(key, { range: { start: -1 } }), isInvalidArgument('range', /start/));
        assert.equal(await storage.get(wellFormedMissingKey, { range: { start: 0, end: 9 } }), undefined);
      });
    });

    test('a key never put reads as undefined', async () => {
      await run(async (storage) => {
        assert.equal(await storage.get(wellFormedMissingKey), undefined);
        assert.equal(await storage.head(wellFormedMissingKey), undefined);
      });
    });

    test('delete removes a blob and succeeds again when it is gone', async () => {
      await run(async (storage) => {
        const kept = await storage.put(new Uint8Array(randomBytes(50)), { mediaType: 'image/png' });
        const removed = await storage.put(new Uint8Array(randomBytes(50)), { mediaType: 'image/png' });
        await storage.delete(removed.key);
        assert.equal(await storage.get(removed.key), undefined);
        assert.equal(await storage.head(removed.key), undefined);
        await storage.delete(removed.key);
        await storage.delete(wellFormedMissingKey);
        assert.deepEqual(await collect(storage.list()), [kept.key]);
        assert.ok(await storage.get(kept.key));
      });
    });

    test('list finds every blob put, and only those under a prefix', async () => {
      await run(async (storage) => {
        assert.deepEqual(await collect(storage.list()), []);
        const keys: string[] = [];
        for (let index = 0; index < 5; index++) keys.push((await storage.put(new Uint8Array(randomBytes(20 + index)), { mediaType: 'image/png' })).key);
        const listed = await collect(storage.list());
        assert.deepEqual([...listed].sort(), [...keys].sort());
        for (const key of listed) assert.match(key, keyShape);
        const [chosen] = keys;
        for (const prefix of [chosen!.slice(0, 'sha256/ab/'.length), chosen!.slice(0, 'sha256/ab/cd/'.length), chosen!.slice(0, 'sha256/ab/cd/ef'.length), 'sha256/', chosen!.slice(0, 'sha256/a'.length)]) {
          const expected = keys.filter((key) => key.startsWith(prefix)).sort();
          assert.deepEqual((await collect(storage.list(prefix))).sort(), expected, `prefix ${prefix}`);
        }
        assert.deepEqual(await collect(storage.list('sha256/zz/')), []);
      });
    });

    test('keys, prefixes, media types and expiries that cannot work are refused, naming the argument', async () => {
      await run(async (storage) => {
        for (const key of badKeys) {
          await assert.rejects(storage.get(key), isInvalidArgument('key', /`key` must be/), `get ${key}`);
          await assert.rejects(storage.head(key), isInvalidArgument('key', /`key` must be/), `head ${key}`);
          await assert.rejects(storage.delete(key), isInvalidArgument('key', /`key` must be/), `delete ${key}`);
          await assert.rejects(storage.url(key, { expiresInSeconds: 60 }), isInvalidArgument('key', /`key` must be/), `url ${key}`);
        }
        await assert.rejects(storage.get('../etc/passwd'), isInvalidArgument('key', /without `\.` or `\.\.` segments/));
        for (const prefix of ['../', '/sha256/', 'sha256/../..', 'sha256/ab/*']) {
          await assert.rejects(collect(storage.list(prefix)), isInvalidArgument('prefix', /`prefix` must be/), `list ${prefix}`);
        }
        await assert.rejects(storage.put(new Uint8Array(4), { mediaType: 'text/html' }), isInvalidArgument('mediaType', /image\/png/));
        const normalized = await storage.put(new Uint8Array(randomBytes(8)), { mediaType: 'IMAGE/PNG; charset=binary' });
        assert.equal(normalized.mediaType, 'image/png');
        for (const expiresInSeconds of [0, -5, 1.5, 8 * 24 * 3600]) {
          await assert.rejects(storage.url(normalized.key, { expiresInSeconds }), isInvalidArgument('expiresInSeconds', /7 days/));
        }
      });
    });

    test('concurrent puts of the same bytes leave one intact blob', async () => {
      await run(async (storage) => {
        const bytes = new Uint8Array(randomBytes(1 << 20));
        const results = await Promise.all(Array.from({ length: 12 }, () => storage.put(bytes, { mediaType: 'image/png' })));
        const keys = new Set(results.map((result) => result.key));
        assert.equal(keys.size, 1);
        const [key] = keys;
        const read = await storage.get(key!);
        assert.ok(read);
        assert.equal(read.size, bytes.byteLength);
        assert.ok(Buffer.from(read.bytes).equals(Buffer.from(bytes)), 'the stored bytes must be the bytes put');
        assert.deepEqual(await collect(storage.list()), [key]);
      });
    });

    test(storageCase.downloadableUrls ? 'url gives a URL that plain fetch downloads' : 'url is undefined where the store cannot make one', async () => {
      await run(async (storage) => {
        const bytes = new Uint8Array(randomBytes(2048));
        const { key } = await storage.put(bytes, { mediaType: 'image/png' });
        const url = await storage.url(key, { expiresInSeconds: 60 });
        if (!storageCase.downloadableUrls) {
          assert.equal(url, undefined);
          assert.equal(await storage.url(key), undefined);
          return;
        }
        assert.ok(url);
        const response = await fetch(url);
        assert.equal(response.status, 200);
        assert.equal(response.headers.get('content-type'), 'image/png');
        assert.ok(Buffer.from(await response.arrayBuffer()).equals(Buffer.from(bytes)));
        assert.ok(await storage.url(key), 'expiresInSeconds has a default');
      });
    });
  });
}
