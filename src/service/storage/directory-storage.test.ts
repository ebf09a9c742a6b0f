// The directory store: the shared conformance suite, plus what only files can show (atomic writes, stray files).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import { describeBlob } from './blob-key.js';
import { DirectoryStorage, temporaryFileName } from './directory-storage.js';
import { collect, storageConformance } from './storage.case.js';

async function temporaryRoot(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'pixelpipe-blobs-'));
}

storageConformance({
  name: 'directory',
  downloadableUrls: false,
  async setup() {
    const root = await temporaryRoot();
    const storage = new DirectoryStorage({ root });
    return {
      storage,
      async close() {
        await storage.close();
        await rm(root, { recursive: true, force: true });
      },
    };
  },
});

describe('directory storage', () => {
  const withStore = async (body: (storage: DirectoryStorage, root: string) => Promise<void>) => {
    const root = await temporaryRoot();
    try {
      await body(new DirectoryStorage({ root }), root);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  };

  test('a write cut short by a crash leaves a temporary file that is never a blob', async () => {
    await withStore(async (storage, root) => {
      const kept = await storage.put(new Uint8Array(randomBytes(100)), { mediaType: 'image/png' });
      const bytes = new Uint8Array(randomBytes(5000));
      const interrupted = describeBlob(bytes, 'image/png');
      // What a crash between open and rename leaves: part of the bytes under the temporary name.
      const finalPath = join(root, ...interrupted.key.split('/'));
      const leftover = join(dirname(finalPath), temporaryFileName(basename(finalPath)));
      await mkdir(dirname(finalPath), { recursive: true });
      await writeFile(leftover, bytes.subarray(0, 1234));

      assert.equal(await storage.get(interrupted.key), undefined);
      assert.equal(await storage.head(interrupted.key), undefined);
      assert.deepEqual(await collect(storage.list()), [kept.key]);
      const folderPrefix = interrupted.key.slice(0, 'sha256/ab/cd/'.length);
      assert.deepEqual(await collect(storage.list(folderPrefix)), [kept.key].filter((key) => key.startsWith(folderPrefix)));

      // Putting the bytes again publishes them whole; the leftover stays invisible.
      const stored = await storage.put(bytes, { mediaType: 'image/png' });
      assert.equal(stored.key, interrupted.key);
      assert.ok(Buffer.from((await storage.get(stored.key))!.bytes).equals(Buffer.from(bytes)));
      assert.deepEqual((await collect(storage.list())).sort(), [kept.key, stored.key].sort());
      const names = await readdir(dirname(finalPath));
      assert.ok(names.includes(basename(finalPath)) && names.includes(basename(leftover)), names.join(', '));
    });
  });

  test('a second put of the same bytes does not rewrite the file', async () => {
    await withStore(async (storage, root) => {
      const bytes = new Uint8Array(randomBytes(100));
      const { key } = await storage.put(bytes, { mediaType: 'image/png' });
      const path = join(root, ...key.split('/'));
      const longAgo = new Date('2001-01-01T00:00:00Z');
      await utimes(path, longAgo, longAgo);
      await storage.put(bytes, { mediaType: 'image/png' });
      assert.equal((await stat(path)).mtime.getTime(), longAgo.getTime());
    });
  });

  test('a hash folder removed behind the store\'s back after a put into it is made again by the next put', async () => {
    await withStore(async (storage, root) => {
      const bytes = new Uint8Array(randomBytes(100));
      await storage.put(bytes, { mediaType: 'image/png' });
      await rm(join(root, 'sha256'), { recursive: true });
      // The same bytes go to the same folder, which this store has written into before.
      const { key } = await storage.put(bytes, { mediaType: 'image/png' });
      assert.deepEqual((await storage.get(key))?.bytes, bytes);
    });
  });

  test('puts leave no temporary files behind, and files that are not blobs are not listed', async () => {
    await withStore(async (storage, root) => {
      const bytes = new Uint8Array(randomBytes(1 << 16));
      const results = await Promise.all(Array.from({ length: 8 }, () => storage.put(bytes, { mediaType: 'image/png' })));
      const folder = dirname(join(root, ...results[0]!.key.split('/')));
      assert.deepEqual(await readdir(folder), [results[0]!.key.split('/').pop()]);
      await writeFile(join(root, 'notes.txt'), 'not a blob');
      await writeFile(join(folder, 'stray.png'), 'not a blob');
      assert.deepEqual(await collect(storage.list()), [results[0]!.key]);
    });
  });

  test('an empty or missing root is refused, naming `root`', () => {
    assert.throws(() => new DirectoryStorage({ root: '' }), (error: unknown) => (error as { argument?: string }).argument === 'root');
  });

  test('a store whose folder does not exist yet lists nothing and finds nothing', async () => {
    const storage = new DirectoryStorage({ root: join(tmpdir(), `pixelpipe-absent-${process.pid}-${Date.now()}`) });
    assert.deepEqual(await collect(storage.list()), []);
    assert.equal(await storage.head(`sha256/00/00/${'0'.repeat(64)}.png`), undefined);
  });
});
