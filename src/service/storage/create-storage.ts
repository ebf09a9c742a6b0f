// Chooses the blob store from configuration: a local directory by default, any S3-compatible bucket at scale.
import { join } from 'node:path';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import type { BlobStorage } from './blob-storage.js';
import { DirectoryStorage, type DirectoryStorageConfig } from './directory-storage.js';
import { S3Storage, type S3StorageConfig } from './s3-storage.js';

/** Which store keeps the blobs, with its settings. */
export type StorageConfig = ({ type: 'directory' } & DirectoryStorageConfig) | ({ type: 's3' } & S3StorageConfig);

/** The values `type` may take. */
export const storageTypes: readonly StorageConfig['type'][] = ['directory', 's3'];

/** The store used when none is configured: the `blobs` folder inside the data directory. */
export function defaultStorageConfig(dataDirectory: string): StorageConfig {
  return { type: 'directory', root: join(dataDirectory, 'blobs') };
}

/** The store `config.type` names; an unknown type is refused with an `InvalidArgumentError` listing the known ones. */
export function createStorage(config: StorageConfig): BlobStorage {
  switch (config.type) {
    case 'directory':
      return new DirectoryStorage(config);
    case 's3':
      return new S3Storage(config);
    default: {
      const type = (config as { type?: unknown }).type;
      throw new InvalidArgumentError({
        argument: 'type',
        value: type,
        message: `storage \`type\` must be one of ${storageTypes.join(', ')}, got ${JSON.stringify(type)}`,
      });
    }
  }
}
