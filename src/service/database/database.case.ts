// The conformance suite every database backend runs: PGlite and PostgreSQL keep the same contract.
import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { isInvalidArgument } from '../../testing/assertions.js';
import { together, type Database, type DatabaseKind } from './database.js';
import { migrate, migrations, type Migration } from './migrations.js';

/** A fresh, empty database for one test. */
export interface DatabaseFixture {
  /** The database under test, with nothing in it. */
  database: Database;
  /** Another handle on the same database, as a second process would open it (PGlite, being one connection, gives the same one). */
  connectAgain(): Promise<Database>;
  /** Closes every handle and removes the database. */
  close(): Promise<void>;
}

export interface DatabaseCase {
  /** Shown in test names, e.g. `pglite`. */
  name: string;
  /** The backend's `kind`. */
  kind: DatabaseKind;
  /** A fresh database for each test; undefined when the test was skipped (no server configured). */
  open(t: TestContext): Promise<DatabaseFixture | undefined>;
}

const delay = (milliseconds: number) => new Promise((resolve) => setTimeout(resolve, milliseconds));

/** Registers the suite for one backend. */
export function databaseConformance(databaseCase: DatabaseCase): void {
  const run = async (t: TestContext, body: (database: Database, fixture: DatabaseFixture) => Promise<void>): Promise<void> => {
    const fixture = await databaseCase.open(t);
    if (!fixture) return;
    try {
      await body(fixture.database, fixture);
    } finally {
      await fixture.close();
    }
  };
  const count = async (database: Database, table: string) => (await database.query<{ count: number }>(`SELECT count(*)::int AS count FROM ${table}`))[0]!.count;

  describe(`database conformance: ${databaseCase.name}`, () => {
    test('query binds parameters and gives rows with JSON, numbers and times decoded', (t) =>
      run(t, async (database) => {
        assert.equal(database.kind, databaseCase.kind);
        await database.exec('CREATE TABLE things (id serial PRIMARY KEY, name text NOT NULL, details jsonb, made timestamptz NOT NULL DEFAULT now())');
        await database.query('INSERT INTO things (name, details) VALUES ($1, $2), ($3, $4)', ['a', JSON.stringify({ tags: ['x'] }), 'b', JSON.stringify([1, 2])]);
        const rows = await database.query<{ id: number; name: string; details: unknown; made: Date }>('SELECT id, name, details, made FROM things ORDER BY id');
        assert.deepEqual(rows.map(({ id, name, details }) => ({ id, name, details })), [
          { id: 1, name: 'a', details: { tags: ['x'] } },
          { id: 2, name: 'b', details: [1, 2] },
        ]);
        assert.ok(rows[0]!.made instanceof Date);
        assert.deepEqual(await database.query('SELECT count(*)::int AS count FROM things WHERE name = $1', ['b']), [{ count: 1 }]);
        assert.deepEqual(await database.query('SELECT 1 AS one WHERE false'), []);
      }));

    test('exec runs several statements; a statement error rejects with the server message', (t) =>
      run(t, async (database) => {
        await database.exec('CREATE TABLE a (x int); CREATE TABLE b (y int); INSERT INTO a VALUES (1), (2);');
        assert.deepEqual(await database.query('SELECT (SELECT count(*) FROM a)::int AS a, (SELECT count(*) FROM b)::int AS b'), [{ a: 2, b: 0 }]);
        await assert.rejects(database.query('SELECT * FROM missing_table'), /missing_table/);
        await assert.rejects(database.exec('INSERT INTO a VALUES (3); SELECT 1/0;'), /division by zero/);
        // Statements of one exec run as one transaction: the insert before the error is gone.
        assert.equal(await count(database, 'a'), 2);
      }));

    test('a failed BEGIN ... COMMIT string (as pg-boss sends) leaves no aborted transaction behind', (t) =>
      run(t, async (database) => {
        await database.exec('CREATE TABLE a (x int)');
        await assert.rejects(database.exec('BEGIN; INSERT INTO a VALUES (1); SELECT 1/0; COMMIT;'), /division by zero/);
        assert.equal(await count(database, 'a'), 0);
        const adapter = database.pgBossAdapter();
        assert.ok(adapter);
        await assert.rejects(adapter.executeSql('BEGIN; INSERT INTO a VALUES (1); SELECT 1/0; COMMIT;'), /division by zero/);
        assert.deepEqual((await adapter.executeSql('SELECT count(*)::int AS count FROM a WHERE x >= $1', [0])).rows, [{ count: 0 }]);
        assert.deepEqual((await adapter.executeSql('INSERT INTO a VALUES (5); SELECT x FROM a')).rows, [{ x: 5 }]);
      }));

    test('a transaction commits its statements together and returns what its callback returns', (t) =>
      run(t, async (database) => {
        await database.exec('CREATE TABLE a (x int)');
        const result = await database.transaction(async (transaction) => {
          await transaction.query('INSERT INTO a VALUES ($1)', [1]);
          await transaction.exec('INSERT INTO a VALUES (2); INSERT INTO a VALUES (3);');
          await transaction.pgBossAdapter().executeSql('INSERT INTO a VALUES ($1)', [4]);
          return (await transaction.query<{ count: number }>('SELECT count(*)::int AS count FROM a'))[0]!.count;
        });
        assert.equal(result, 4);
        assert.equal(await count(database, 'a'), 4);
      }));

    test('a transaction whose callback throws rolls back every statement and rethrows', (t) =>
      run(t, async (database) => {
        await database.exec('CREATE TABLE a (x int)');
        const failure = new Error('changed my mind');
        await assert.rejects(
          database.transaction(async (transaction) => {
            await transaction.query('INSERT INTO a VALUES (1)');
            await transaction.pgBossAdapter().executeSql('INSERT INTO a VALUES ($1)', [2]);
            throw failure;
          }),
          (error) => error === failure,
        );
        await assert.rejects(database.transaction((transaction) => transaction.query('INSERT INTO a VALUES (1), (1/0)')), /division by zero/);
        assert.equal(await count(database, 'a'), 0);
        // The connection is usable again afterwards.
        await database.transaction((transaction) => transaction.query('INSERT INTO a VALUES (9)'));
        assert.deepEqual(await database.query('SELECT x FROM a'), [{ x: 9 }]);
      }));

    test('afterCommit callbacks run once the transaction has committed, in order, and never after a rollback', (t) =>
      run(t, async (database) => {
        await database.exec('CREATE TABLE a (x int)');
        const seen: string[] = [];
        await database.transaction(async (transaction) => {
          await transaction.query('INSERT INTO a VALUES (1)');
          transaction.afterCommit(() => seen.push('first'));
          transaction.afterCommit(() => seen.push('second'));
          // Not yet: the row is not committed.
          assert.deepEqual(seen, []);
        });
        assert.deepEqual(seen, ['first', 'second']);
        await assert.rejects(
          database.transaction(async (transaction) => {
            transaction.afterCommit(() => seen.push('rolled back'));
            await transaction.query('INSERT INTO a VALUES (1/0)');
          }),
          /division by zero/,
        );
        assert.deepEqual(seen, ['first', 'second']);
        assert.equal(await count(database, 'a'), 1);
      }));

    test('statements sent together in a transaction run in call order; together gives the first failure and rolls back', (t) =>
      run(t, async (database) => {
        await database.exec('CREATE TABLE a (x int)');
        // A statement never run before (on PGlite it is parsed first) and an already prepared one behind it.
        await database.query('SELECT count(*)::int AS count FROM a WHERE x > $1', [0]);
        const answers = await database.transaction((transaction) =>
          together([
            transaction.query('INSERT INTO a SELECT generate_series(1, $1::int)', [3]),
            transaction.query<{ count: number }>('SELECT count(*)::int AS count FROM a WHERE x > $1', [0]),
            transaction.exec('INSERT INTO a VALUES (10)'),
            transaction.query<{ total: number }>('SELECT sum(x)::int AS total FROM a'),
          ]),
        );
        assert.deepEqual([answers[1], answers[3]], [[{ count: 3 }], [{ total: 16 }]]);
        // The error thrown is the statement's own, not the "transaction is aborted" of those sent after it.
        await assert.rejects(
          database.transaction((transaction) =>
            together([transaction.query('INSERT INTO a VALUES (20)'), transaction.query('SELECT 1/0'), transaction.query('INSERT INTO a VALUES (21)')]),
          ),
          /division by zero/,
        );
        assert.equal(await count(database, 'a'), 4);
      }));

    test('queries running beside a transaction never see its uncommitted rows', (t) =>
      run(t, async (database) => {
        await database.exec('CREATE TABLE a (x int)');
        let inserted!: () => void;
        const insertedPromise = new Promise<void>((resolve) => (inserted = resolve));
        const transaction = database.transaction(async (transaction) => {
          await transaction.query('INSERT INTO a VALUES (1)');
          inserted();
          await delay(100);
          throw new Error('roll back');
        });
        await insertedPromise;
        // On PGlite these wait for the transaction to end; on a server they run beside it. Neither sees the row.
        const beside = await Promise.all(Array.from({ length: 5 }, () => count(database, 'a')));
        await assert.rejects(transaction, /roll back/);
        assert.deepEqual(beside, [0, 0, 0, 0, 0]);
      }));

    test('concurrent transactions each see a consistent counter: no lost updates', (t) =>
      run(t, async (database) => {
        await database.exec('CREATE TABLE counter (id int PRIMARY KEY, value int NOT NULL); INSERT INTO counter VALUES (1, 0);');
        await Promise.all(
          Array.from({ length: 20 }, () =>
            database.transaction(async (transaction) => {
              const [row] = await transaction.query<{ value: number }>('SELECT value FROM counter WHERE id = 1 FOR UPDATE');
              await delay(1);
              await transaction.query('UPDATE counter SET value = $1 WHERE id = 1', [row!.value + 1]);
            }),
          ),
        );
        assert.deepEqual(await database.query('SELECT value FROM counter'), [{ value: 20 }]);
      }));

    test('migrate applies every migration once, in order, and a second run applies none', (t) =>
      run(t, async (database) => {
        const latest = migrations.at(-1)!.version;
        assert.deepEqual(await migrate(database), { applied: migrations.map((migration) => migration.version), version: latest });
        assert.deepEqual(await migrate(database), { applied: [], version: latest });
        const recorded = await database.query<{ version: number; name: string; applied_at: Date }>('SELECT version, name, applied_at FROM pixelpipe.schema_migrations ORDER BY version');
        assert.deepEqual(recorded.map(({ version, name }) => ({ version, name })), migrations.map(({ version, name }) => ({ version, name })));
        assert.ok(recorded.every((row) => row.applied_at instanceof Date));
        const tables = await database.query<{ table_name: string }>(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'pixelpipe' ORDER BY table_name`);
        assert.deepEqual(tables.map((row) => row.table_name), ['api_key_usage', 'api_keys', 'audit_log', 'idempotency_keys', 'job_attempts', 'job_blobs', 'job_events', 'records', 'schema_migrations', 'service_secrets', 'webhook_deliveries', 'workers']);
      }));

    test('the records table refuses a second record for the same image of the same job', (t) =>
      run(t, async (database) => {
        await migrate(database);
        const insert = (jobId: string | null, imageIndex: number) =>
          database.query(
            `INSERT INTO pixelpipe.records (job_id, image_index, request, provider, model_id, blob_key, sha256, media_type, width, height)
             VALUES ($1, $2, $3, 'local', 'sd-turbo', 'sha256/ab/cd/x.png', 'sha256:x', 'image/png', 512, 512)`,
            [jobId, imageIndex, JSON.stringify({ prompt: 'a red fox' })],
          );
        const jobId = '6f1c7f7e-96a4-4c6b-9d55-2c1b7f0c7a10';
        await insert(jobId, 0);
        await insert(jobId, 1);
        await assert.rejects(insert(jobId, 0), /records_job_image|duplicate key/);
        // Generations made without the queue have no job and never collide.
        await insert(null, 0);
        await insert(null, 0);
        assert.equal(await count(database, 'pixelpipe.records'), 4);
      }));

    test('two processes migrating at once apply each migration exactly once between them', (t) =>
      run(t, async (database, fixture) => {
        const other = await fixture.connectAgain();
        const reports = await Promise.all([migrate(database), migrate(other), migrate(database)]);
        const applied = reports.flatMap((report) => report.applied).sort((a, b) => a - b);
        assert.deepEqual(applied, migrations.map((migration) => migration.version));
        assert.ok(reports.every((report) => report.version === migrations.at(-1)!.version));
        assert.equal(await count(database, 'pixelpipe.schema_migrations'), migrations.length);
      }));

    test('a migration that fails rolls back whole, is not recorded, and stops the run', (t) =>
      run(t, async (database) => {
        const latest = migrations.at(-1)!.version;
        const broken: Migration = { version: latest + 1, name: 'broken', sql: 'CREATE TABLE pixelpipe.half_done (x int); SELECT 1/0;' };
        const later: Migration = { version: latest + 2, name: 'later', sql: 'CREATE TABLE pixelpipe.never (x int);' };
        await assert.rejects(migrate(database, { migrations: [...migrations, broken, later] }), /division by zero/);
        const tables = await database.query(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'pixelpipe' AND table_name IN ('half_done', 'never')`);
        assert.deepEqual(tables, []);
        assert.deepEqual(await migrate(database), { applied: [], version: latest });
        await assert.rejects(migrate(database, { migrations: [later, broken] }), isInvalidArgument('migrations', /rising versions/));
      }));
  });
}
