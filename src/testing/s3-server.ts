// A throwaway S3-compatible server (s3rver) on 127.0.0.1, for tests of the S3 blob store.
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Credentials s3rver knows; it does not check SigV4 signatures, only the key id. */
export const s3rverCredentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

export interface S3ServerOptions {
  /** Buckets created before the server answers. */
  buckets?: string[];
}

export interface TestS3Server {
  /** Base URL to pass as the S3 client's `endpoint` (with `forcePathStyle: true`). */
  endpoint: string;
  /** Bucket and key of every object written (PUT, POST or copy), in order. */
  writes: { bucket: string; key: string }[];
  /** Stops the server and removes its folder. */
  close(): Promise<void>;
}

/** The part of s3rver's API used here; the package ships no types. */
interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
  on(event: 'event', listener: (event: S3rverEvent) => void): void;
  httpServer?: Server;
}
interface S3rverEvent {
  Records: { eventName: string; s3: { bucket: { name: string }; object: { key: string } } }[];
}
type S3rverConstructor = new (options: Record<string, unknown>) => S3rverInstance;

// s3rver is CommonJS without types; require keeps the untyped import to this one line.
const S3rver = createRequire(import.meta.url)('s3rver') as S3rverConstructor;

export async function startS3Server({ buckets = [] }: S3ServerOptions = {}): Promise<TestS3Server> {
  const directory = await mkdtemp(join(tmpdir(), 'pixelpipe-s3rver-'));
  const server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory, configureBuckets: buckets.map((name) => ({ name })) });
  const writes: TestS3Server['writes'] = [];
  server.on('event', (event) => {
    for (const record of event.Records) {
      if (record.eventName.startsWith('ObjectCreated:')) writes.push({ bucket: record.s3.bucket.name, key: record.s3.object.key });
    }
  });
  let address: AddressInfo;
  try {
    address = await server.run();
  } catch (error) {
    await rm(directory, { recursive: true, force: true });
    throw error;
  }
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    writes,
    async close() {
      // Keep-alive sockets of clients that were not destroyed would hold close() open.
      server.httpServer?.closeAllConnections();
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
