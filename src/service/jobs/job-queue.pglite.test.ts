// The job queue on embedded PGlite: the shared conformance suite on one in-memory database, plus durability across a restart.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { PGliteDatabase } from '../database/pglite-database.js';
import { JobQueue } from './job-queue.js';
import { queueConformance, waitFor } from './queue.case.js';

// Starting PGlite costs about a second, so the suite shares one; each test uses its own queue.
let shared: Promise<PGliteDatabase> | undefined;
after(async () => (await shared)?.close());

queueConformance({
  name: 'pglite',
  open: () => (shared ??= PGliteDatabase.open()),
  // One process, one connection: a "second process" is the same database.
  connectAgain: () => (shared ??= PGliteDatabase.open()),
});

describe('job queue on pglite', () => {
  test('jobs submitted within one millisecond keep submit order, though PGlite’s clock ticks in milliseconds', async () => {
    const database = await (shared ??= PGliteDatabase.open());
    const queue = new JobQueue({ database, queueName: 'same-millisecond' });
    try {
      await queue.start();
      // PGlite runs statements in call order, so these are created in this order, most within a millisecond or two.
      const submitted = await Promise.all(Array.from({ length: 40 }, (_, index) => queue.submit({ index })));
      const positions = await Promise.all(submitted.map(async ({ id }) => (await queue.get(id))!.position));
      assert.deepEqual(positions, submitted.map((_, index) => index + 1));
    } finally {
      await queue.stop();
    }
  });

  test('a job queued in a data directory survives closing the database and runs after reopening', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'pixelpipe-queue-'));
    try {
      const before = await PGliteDatabase.open({ dataDir });
      const first = new JobQueue({ database: before, maintenanceIntervalSeconds: 1 });
      await first.start();
      const { id } = await first.submit({ prompt: 'kept on disk' });
      await first.stop();
      await before.close();

      const reopened = await PGliteDatabase.open({ dataDir });
      const second = new JobQueue({ database: reopened, maintenanceIntervalSeconds: 1 });
      try {
        await second.start();
        assert.equal((await second.get(id))?.state, 'queued');
        await second.work(async ({ request }) => request, { pollingIntervalSeconds: 0.1 });
        await waitFor('the job to succeed', async () => (await second.get(id))?.state === 'succeeded');
        assert.deepEqual((await second.get(id))?.output, { prompt: 'kept on disk' });
      } finally {
        await second.stop();
        await reopened.close();
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
