// Blobs as files under a root folder: the embedded default, needing no service.
import { randomUUID } from 'node:crypto';
import type { Dirent } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { checkExpiry, checkPrefix, checkRange, describeBlob, isBlobKey, parseKey, resolveRange } from './blob-key.js';
import type { BlobContent, BlobHead, BlobStorage, GetOptions, PutOptions, StoredBlob, UrlOptions } from './blob-storage.js';

/** Settings of the directory store. */
export interface DirectoryStorageConfig {
  /** Folder the blobs live under; created on the first `put`. Relative paths resolve against the working directory once, at creation. */
  root: string;
}

/**
 * The name a blob is written under before it is renamed to `finalName`. It starts with a dot and
 * ends in `.tmp`, so it never parses as a key: a crash mid-write leaves a file that no `get`,
 * `head` or `list` sees. Unique per write, so concurrent puts of the same bytes never share one.
 */
export function temporaryFileName(finalName: string): string {
  return `.${finalName}.${randomUUID()}.tmp`;
}

/**
 * The media type is not stored beside the file: the key's extension maps one-to-one to it, so one
 * file per blob is the whole state, one rename publishes it, and no sidecar can go missing or
 * disagree with its blob.
 */
export class DirectoryStorage implements BlobStorage {
  /** Absolute folder the blobs live under. */
  readonly root: string;
  // Folders this store made or wrote into: a put into one of them opens its file at once. At most
  // 65,792 (256 first-level folders and 256 under each), a few MiB at worst.
  readonly #folders = new Set<string>();

  constructor({ root }: DirectoryStorageConfig) {
    if (typeof root !== 'string' || root.trim() === '') {
      throw new InvalidArgumentError({ argument: 'root', value: root, message: `\`root\` must name the folder to keep blobs in, got ${JSON.stringify(root)}` });
    }
    this.root = resolve(root);
  }

  async put(bytes: Uint8Array, { mediaType }: PutOptions): Promise<StoredBlob> {
    const blob = describeBlob(bytes, mediaType);
    const path = this.pathOf(blob.key);
    if (await isFile(path)) return blob;
    const folder = dirname(path);
    const temporaryPath = join(folder, temporaryFileName(basename(path)));
    let published = false;
    try {
      // A folder not known yet is made first, rather than after a failed open: content-addressed
      // keys spread the first thousands of blobs over thousands of folders, and a failed open costs
      // an error object on top of the mkdir. A known folder removed behind this store's back is made again.
      if (!this.#folders.has(folder)) await mkdir(folder, { recursive: true });
      const handle = await open(temporaryPath, 'wx').catch(async (error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') throw error;
        await mkdir(folder, { recursive: true });
        return await open(temporaryPath, 'wx');
      });
      this.#folders.add(folder);
      try {
        await handle.writeFile(bytes);
        // Flushed before the rename, so after a power loss the final name never points at missing data.
        await handle.sync();
      } finally {
        await handle.close();
      }
      await publish(temporaryPath, path);
      published = true;
    } finally {
      if (!published) await rm(temporaryPath, { force: true });
    }
    return blob;
  }

  async get(key: string, { range }: GetOptions = {}): Promise<BlobContent | undefined> {
    const { mediaType } = parseKey(key);
    if (range) checkRange(range);
    const handle = await open(this.pathOf(key), 'r').catch(undefinedWhenMissing);
    if (!handle) return undefined;
    try {
      const { size } = await handle.stat();
      if (!range) return { bytes: new Uint8Array(await handle.readFile()), size, mediaType };
      const read = resolveRange(range, size);
      const bytes = new Uint8Array(read.end - read.start + 1);
      let filled = 0;
      while (filled < bytes.byteLength) {
        const { bytesRead } = await handle.read(bytes, filled, bytes.byteLength - filled, read.start + filled);
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
      return { bytes: bytes.subarray(0, filled), size, mediaType, range: read };
    } finally {
      await handle.close();
    }
  }

  async head(key: string): Promise<BlobHead | undefined> {
    const { sha256, mediaType } = parseKey(key);
    const stats = await stat(this.pathOf(key)).catch(undefinedWhenMissing);
    if (!stats?.isFile()) return undefined;
    return { size: stats.size, mediaType, sha256 };
  }

  async delete(key: string): Promise<void> {
    parseKey(key);
    // Empty hash folders stay: removing one could race a put that has just created it.
    await rm(this.pathOf(key), { force: true });
  }

  async *list(prefix = ''): AsyncGenerator<string> {
    checkPrefix(prefix);
    // Walk only the folder the prefix pins down; the rest of the prefix filters names.
    const folder = prefix.slice(0, prefix.lastIndexOf('/') + 1);
    for await (const key of this.walk(folder)) {
      if (key.startsWith(prefix)) yield key;
    }
  }

  async url(key: string, { expiresInSeconds = 3600 }: UrlOptions = {}): Promise<string | undefined> {
    parseKey(key);
    checkExpiry(expiresInSeconds);
    return undefined;
  }

  async close(): Promise<void> {}

  private pathOf(key: string): string {
    return join(this.root, ...key.split('/'));
  }

  private async *walk(folder: string): AsyncGenerator<string> {
    const entries: Dirent[] | undefined = await readdir(join(this.root, folder), { withFileTypes: true }).catch(undefinedWhenMissing);
    for (const entry of (entries ?? []).sort((left, right) => (left.name < right.name ? -1 : 1))) {
      const key = `${folder}${entry.name}`;
      if (entry.isDirectory()) yield* this.walk(`${key}/`);
      else if (entry.isFile() && isBlobKey(key)) yield key;
    }
  }
}

async function publish(temporaryPath: string, path: string): Promise<void> {
  try {
    await rename(temporaryPath, path);
  } catch (error) {
    // Windows refuses to rename over a file another put just published; its bytes are the same.
    if (!(await isFile(path))) throw error;
  }
}

async function isFile(path: string): Promise<boolean> {
  const stats = await stat(path).catch(undefinedWhenMissing);
  return stats?.isFile() ?? false;
}

function undefinedWhenMissing(error: unknown): undefined {
  const code = (error as { code?: unknown }).code;
  // ENOTDIR: a file stands where a hash folder would be, so the blob cannot be there either.
  if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
  throw error;
}
