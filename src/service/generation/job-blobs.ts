// Which blobs each job has written, so an attempt that never finished (a crash, an error, a cancel) leaves none behind.
import type { Queryable } from '../database/database.js';
import type { BlobStorage } from '../storage/blob-storage.js';

/** Notes that `jobId` is about to store `blobKey`; call before `put`, so a crash after it still leaves a trace. */
export async function noteJobBlob(database: Queryable, jobId: string, blobKey: string): Promise<void> {
  await database.query('INSERT INTO pixelpipe.job_blobs (job_id, blob_key) VALUES ($1, $2) ON CONFLICT DO NOTHING', [jobId, blobKey]);
}

/** Forgets a job's notes once its records (which now hold the keys) are stored; run in the same transaction. */
export async function forgetJobBlobs(database: Queryable, jobId: string): Promise<void> {
  await database.query('DELETE FROM pixelpipe.job_blobs WHERE job_id = $1', [jobId]);
}

/**
 * Deletes the blobs `jobId` wrote that no record and no other unfinished job refers to.
 * Keys are content hashes, so the same bytes from another job share a blob: those are kept.
 */
export async function deleteJobBlobs(database: Queryable, storage: BlobStorage, jobId: string): Promise<string[]> {
  const rows = await database.query<{ blob_key: string }>('DELETE FROM pixelpipe.job_blobs WHERE job_id = $1 RETURNING blob_key', [jobId]);
  const deleted: string[] = [];
  for (const { blob_key: key } of rows) {
    const [used] = await database.query<{ used: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM pixelpipe.records WHERE blob_key = $1) OR EXISTS (SELECT 1 FROM pixelpipe.job_blobs WHERE blob_key = $1) AS used`,
      [key],
    );
    if (used?.used) continue;
    await storage.delete(key);
    deleted.push(key);
  }
  return deleted;
}
