// The embedded backend: the shared conformance suite in memory, plus what only PGlite has (data directory, one connection).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { isInvalidArgument } from '../../testing/assertions.js';
import { waitFor } from '../jobs/queue-harness.case.js';
import { processStartTime } from '../process-identity.js';
import { createDatabase, defaultDatabaseConfig, type DatabaseConfig } from './create-database.js';
import { databaseConformance } from './database.case.js';
import { lockFileName } from './data-directory-lock.js';
import { migrate } from './migrations.js';
import { PGliteDatabase } from './pglite-database.js';

// Starting PGlite costs about a second (initdb), so the tests share one in-memory database, emptied
// before each conformance test.
let shared: Promise<PGliteDatabase> | undefined;
const sharedDatabase = () => (shared ??= PGliteDatabase.open());
after(async () => (await shared)?.close());

databaseConformance({
  name: 'pglite',
  kind: 'pglite',
  async open() {
    const database = await sharedDatabase();
    await database.exec('DROP SCHEMA IF EXISTS pixelpipe CASCADE; DROP SCHEMA public CASCADE; CREATE SCHEMA public;');
    return { database, connectAgain: async () => database, close: async () => undefined };
  },
});

describe('pglite database', () => {
  const withDirectory = async (body: (dataDir: string) => Promise<void>) => {
    const dataDir = await mkdtemp(join(tmpdir(), 'pixelpipe-pglite-'));
    try {
      await body(dataDir);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  };

  test('data in a data directory survives close and reopen, and the lock file goes with the holder', async () => {
    await withDirectory(async (dataDir) => {
      const first = await PGliteDatabase.open({ dataDir });
      assert.equal(first.dataDir, dataDir);
      assert.deepEqual(JSON.parse(await readFile(join(dataDir, lockFileName), 'utf8')), { pid: process.pid, host: hostname(), start: processStartTime(process.pid) });
      await migrate(first);
      await first.query(`INSERT INTO pixelpipe.api_keys (name, hash) VALUES ('ci', 'sha256:abc')`);
      await first.close();
      await assert.rejects(readFile(join(dataDir, lockFileName)), { code: 'ENOENT' });

      const second = await PGliteDatabase.open({ dataDir });
      try {
        assert.deepEqual(await second.query('SELECT name FROM pixelpipe.api_keys'), [{ name: 'ci' }]);
        assert.deepEqual((await migrate(second)).applied, []);
      } finally {
        await second.close();
      }
    });
  });

  test('a data directory open in this process or held by a live process is refused, naming `dataDir`', async () => {
    await withDirectory(async (dataDir) => {
      const holder = await PGliteDatabase.open({ dataDir });
      try {
        await assert.rejects(PGliteDatabase.open({ dataDir }), isInvalidArgument('dataDir', /in use by another database in this process.*PIXELPIPE_DATABASE_URL/));
      } finally {
        await holder.close();
      }
      // The test runner that started this process is alive on this host.
      await writeFile(join(dataDir, lockFileName), JSON.stringify({ pid: process.ppid, host: hostname() }));
      await assert.rejects(createDatabase({ type: 'pglite', dataDir }), isInvalidArgument('dataDir', new RegExp(`in use by process ${process.ppid} on .*its lock: .*admin socket.*PIXELPIPE_DATABASE_URL`)));
    });
  });

  test('a lock file left by a process that died, a zombie, a reused pid, or cut short, is taken over', async (t) => {
    // `sleep 0.1` ends under a parent (the exec'd `sleep 30`) that never reaps it: a zombie.
    const parent = spawn('sh', ['-c', 'sleep 0.1 & echo $!; exec sleep 30'], { stdio: ['ignore', 'pipe', 'ignore'] });
    t.after(() => void parent.kill('SIGKILL'));
    const zombie = { pid: Number((await once(parent.stdout!, 'data'))[0].toString().trim()) };
    await waitFor('the child to become a zombie', async () => (await readFile(`/proc/${zombie.pid}/stat`, 'utf8')).split(') ')[1]!.startsWith('Z'));
    await withDirectory(async (dataDir) => {
      const leftovers = [
        JSON.stringify({ pid: 2 ** 22 + 12345, host: hostname() }),
        '{"pid":',
        // An earlier process that had this pid (a restarted container).
        JSON.stringify({ pid: process.pid, host: hostname() }),
        // A live process that got the dead holder's pid: its start time differs.
        JSON.stringify({ pid: process.ppid, host: hostname(), start: '1' }),
        // A holder killed but not yet reaped by its parent: a zombie holds nothing.
        JSON.stringify({ pid: zombie.pid, host: hostname() }),
      ];
      for (const leftover of leftovers) {
        await writeFile(join(dataDir, lockFileName), leftover);
        const database = await PGliteDatabase.open({ dataDir });
        await database.close();
      }
    });
  });

  test('using the database directly inside its own transaction is refused instead of waiting forever', async () => {
    const database = await sharedDatabase();
    await assert.rejects(
      database.transaction(async () => {
        await database.query('SELECT 1');
      }),
      /inside its own transaction/,
    );
    assert.deepEqual(await database.query('SELECT 1 AS one'), [{ one: 1 }]);
  });

  test('close waits for queued statements, and a closed database refuses new ones', async () => {
    const database = await PGliteDatabase.open();
    const pending = database.query<{ value: number }>('SELECT 41 + 1 AS value');
    await database.close();
    assert.deepEqual(await pending, [{ value: 42 }]);
    await assert.rejects(database.query('SELECT 1'), /closed/);
    await database.close();
  });

  test('a statement with parameters, run again and again, reads each run\'s values and follows changes to its table', async () => {
    const database = await PGliteDatabase.open();
    try {
      await database.exec('CREATE TABLE things (id uuid PRIMARY KEY, data jsonb, at timestamptz, tags text[], n bigint, ok boolean)');
      const insert = 'INSERT INTO things (id, data, at, tags, n, ok) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id';
      const rows = [
        ['00000000-0000-4000-8000-000000000001', { a: 1, nested: ['x'] }, new Date('2026-01-02T03:04:05.678Z'), ['p', 'q r'], '9007199254740993', true],
        ['00000000-0000-4000-8000-000000000002', null, null, null, null, false],
      ];
      for (const values of rows) assert.deepEqual(await database.query(insert, values), [{ id: values[0] }]);
      const select = 'SELECT * FROM things WHERE id = ANY($1::uuid[]) ORDER BY id';
      const read = await database.query(select, [rows.map((values) => values[0])]);
      assert.deepEqual(read, [
        { id: rows[0]![0], data: { a: 1, nested: ['x'] }, at: new Date('2026-01-02T03:04:05.678Z'), tags: ['p', 'q r'], n: 9007199254740993n, ok: true },
        { id: rows[1]![0], data: null, at: null, tags: null, n: null, ok: false },
      ]);
      // A failed run inside a transaction leaves the connection usable once rolled back.
      await assert.rejects(database.transaction((transaction) => transaction.query(insert, rows[0])), /duplicate key/);
      // The table changes under a statement already made: it reads the new column.
      await database.exec('ALTER TABLE things ADD COLUMN extra text DEFAULT \'x\'');
      const after = await database.query<{ extra: string }>(select, [[rows[1]![0]]]);
      assert.equal(after[0]!.extra, 'x');
    } finally {
      await database.close();
    }
  });

  test('createDatabase picks PGlite by default and refuses an unknown type, listing the known ones', async () => {
    assert.deepEqual(defaultDatabaseConfig({ dataDirectory: '/srv/pixelpipe' }), { type: 'pglite', dataDir: join('/srv/pixelpipe', 'database') });
    assert.deepEqual(defaultDatabaseConfig({ dataDirectory: '/srv/pixelpipe', url: 'postgres://db/pixelpipe' }), { type: 'postgres', url: 'postgres://db/pixelpipe' });
    await assert.rejects(createDatabase({ type: 'sqlite' } as unknown as DatabaseConfig), isInvalidArgument('type', /one of pglite, postgres, got "sqlite"/));
  });
});
