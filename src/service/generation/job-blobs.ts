// Which blobs each job has written, so an attempt that never finished (a crash, an error, a cancel) leaves none behind.
import type { Queryable } from '../database/database.js';
import { GroupCommit } from '../database/group-commit.js';
import type { BlobStorage } from '../storage/blob-storage.js';

/**
 * Gives `note(jobId, blobKey)`: notes that a job is about to store a blob; await it before `put`, so a
 * crash after it still leaves a trace. Notes made together are written in one statement (one commit
 * instead of one each: see database/group-commit.ts).
 */
export function jobBlobNotes(database: Queryable): (jobId: string, blobKey: string) => Promise<void> {
  const notes = new GroupCommit<{ job_id: string; blob_key: string }, void>(async (batch) => {
    await database.query(
      'INSERT INTO pixelpipe.job_blobs (job_id, blob_key) SELECT x.job_id, x.blob_key FROM jsonb_to_recordset($1::jsonb) AS x(job_id uuid, blob_key text) ON CONFLICT DO NOTHING',
      [JSON.stringify(batch)],
    );
    return batch.map(() => undefined);
  });
  return (jobId, blobKey) => notes.add({ job_id: jobId, blob_key: blobKey });
}

/** Forgets jobs' notes once their records (which now hold the keys) are stored; run in the same transaction. */
export async function forgetJobBlobs(database: Queryable, jobIds: string[]): Promise<void> {
  await database.query('DELETE FROM pixelpipe.job_blobs WHERE job_id = ANY($1::uuid[])', [jobIds]);
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
