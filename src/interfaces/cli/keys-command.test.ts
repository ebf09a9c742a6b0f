// `pixelpipe keys`: create, list and revoke against a data directory, usage errors before the database opens, a held database.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test, type TestContext } from 'node:test';
import { lockFileName } from '../../service/database/data-directory-lock.js';
import { PGliteDatabase } from '../../service/database/pglite-database.js';
import type { ApiKeyInfo } from '../../service/image-service-types.js';
import { ApiKeyStore } from '../../service/keys/api-key-store.js';
import { NotFoundError } from '../../service/errors/not-found-error.js';
import { isInvalidArgument } from '../../testing/assertions.js';
import { runCli } from '../../testing/cli.js';
import { keysCommand, keysUsage } from './keys-command.js';

let work: string;
before(async () => (work = await mkdtemp(join(tmpdir(), 'pixelpipe-keys-cli-'))));
after(() => rm(work, { recursive: true, force: true }));

/** Runs the command in this process with its own output and environment (no PIXELPIPE_DATABASE_URL: PGlite). */
async function keys(argv: string[], environment: NodeJS.ProcessEnv) {
  let stdout = '';
  let stderr = '';
  await keysCommand(argv, { stdout: { write: (text: string) => (stdout += text) }, stderr: { write: (text: string) => (stderr += text) }, environment });
  return { stdout, stderr };
}

test('create prints the secret once, list shows the key without it, revoke stops it; --json gives the same as data', async () => {
  const dataDir = join(work, 'flow');
  const environment = { PIXELPIPE_DATA_DIR: dataDir };

  const created = await keys(['create', '--name', 'ci runner', '--rate-limit', '60', '--daily-quota', '500', '--max-concurrent', '2'], environment);
  const secret = created.stdout.trim();
  assert.match(secret, /^pp_[A-Za-z0-9_-]{43}$/);
  assert.match(created.stderr, /created key [0-9a-f-]{36} "ci runner" \(pp_.{7}…, 60\/min, 500 images\/day, 2 at once\)\. The secret is shown this once and cannot be shown again/);
  assert.match(created.stderr, /Authorization: Bearer/);

  const json = await keys(['create', '--name', 'dev', '--json'], environment);
  const made = JSON.parse(json.stdout) as { key: ApiKeyInfo; secret: string };
  assert.deepEqual(Object.keys(made.key).sort(), ['createdAt', 'id', 'name', 'prefix']);
  assert.equal(made.key.prefix, made.secret.slice(0, 10));
  assert.match(json.stderr, /cannot be shown again/);

  const listed = await keys(['list'], environment);
  assert.match(listed.stdout, /^PREFIX\s+ID\s+CREATED\s+STATUS\s+LIMITS\s+NAME\n/);
  assert.match(listed.stdout, new RegExp(`${secret.slice(0, 10)}\\s+[0-9a-f-]{36}\\s+\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ\\s+active\\s+60/min, 500 images/day, 2 at once\\s+ci runner\\n`));
  assert.match(listed.stdout, new RegExp(`${made.key.prefix}\\s+${made.key.id}\\s+\\S+\\s+active\\s+no limits\\s+dev\\n`));
  assert.ok(!listed.stdout.includes(secret) && !listed.stdout.includes(made.secret));

  const revoked = await keys(['revoke', secret.slice(0, 10)], environment);
  assert.match(revoked.stdout, /^revoked key [0-9a-f-]{36} "ci runner" \(pp_.{7}…\) at \d{4}-/);
  assert.deepEqual((JSON.parse((await keys(['list', '--json'], environment)).stdout) as ApiKeyInfo[]).map((key) => key.name), ['dev']);
  const all = JSON.parse((await keys(['list', '--all', '--json'], environment)).stdout) as ApiKeyInfo[];
  assert.deepEqual(all.map((key) => [key.name, key.revokedAt !== undefined]), [['ci runner', true], ['dev', false]]);
  assert.match((await keys(['list', '--all'], environment)).stdout, /revoked \d{4}-\d\d-\d\dT[\d:]+Z\s+60\/min.*ci runner/);
  assert.deepEqual(JSON.parse((await keys(['revoke', made.key.id, '--json'], environment)).stdout).name, 'dev');
  assert.match((await keys(['list'], environment)).stdout, /^no active keys; make one with `pixelpipe keys create --name NAME`/);

  // What the command wrote is what a server finds: the database is closed and the directory free again.
  const database = await PGliteDatabase.open({ dataDir: join(dataDir, 'database') });
  try {
    const store = new ApiKeyStore(database);
    assert.equal(await store.authenticate(secret), 'revoked');
    assert.equal(await store.authenticate(made.secret), 'revoked');
  } finally {
    await database.close();
  }
});

test('--data-dir overrides PIXELPIPE_DATA_DIR', async () => {
  // The data directory of the first test, so no second database is made (initdb takes seconds).
  const chosen = join(work, 'flow');
  const { stdout } = await keys(['create', '--name', 'elsewhere', '--data-dir', chosen], { PIXELPIPE_DATA_DIR: join(work, 'not-this-one') });
  assert.match(stdout, /^pp_/);
  assert.equal((await readdir(work)).includes('not-this-one'), false);
  assert.match((await keys(['list'], { PIXELPIPE_DATA_DIR: chosen })).stdout, /active\s+no limits\s+elsewhere/);
});

test('--admin makes an admin key, which list and --json say', async () => {
  const environment = { PIXELPIPE_DATA_DIR: join(work, 'flow') };
  const created = await keys(['create', '--name', 'operator', '--admin', '--json'], environment);
  const made = JSON.parse(created.stdout) as { key: ApiKeyInfo; secret: string };
  assert.equal(made.key.admin, true);
  assert.match(created.stderr, /created admin key /);
  assert.match((await keys(['list'], environment)).stdout, new RegExp(`${made.key.prefix}\\s+${made.key.id}\\s+\\S+\\s+active, admin\\s+no limits\\s+operator\\n`));
  await keys(['revoke', made.key.id], environment);
});

test('usage mistakes are refused with the flag, the fix and the usage, before the database is opened', async () => {
  const dataDir = join(work, 'untouched');
  const environment = { PIXELPIPE_DATA_DIR: dataDir };
  await assert.rejects(keys(['create', '--name', 'x', '--bogus'], environment), isInvalidArgument('argv', /Unknown option '--bogus'[^]*usage: pixelpipe keys create/));
  await assert.rejects(keys(['create', '--name'], environment), isInvalidArgument('argv', /--name/));
  await assert.rejects(keys(['create'], environment), isInvalidArgument('name', /needs --name NAME/));
  await assert.rejects(keys(['create', '--name', 'x', '--rate-limit', 'lots'], environment), isInvalidArgument('rate-limit', /`--rate-limit` must be a whole number of requests per minute from 1, got "lots"/));
  await assert.rejects(keys(['create', '--name', 'x', '--daily-quota', '0'], environment), isInvalidArgument('daily-quota', /got "0"/));
  await assert.rejects(keys(['create', '--name', 'x', '--max-concurrent', '1.5'], environment), isInvalidArgument('max-concurrent', /got "1.5"/));
  await assert.rejects(keys(['list', '--name', 'x'], environment), isInvalidArgument('name', /`--name` does not apply to `keys list`, which takes --all, --json/));
  await assert.rejects(keys(['create', '--name', 'x', 'extra'], environment), isInvalidArgument('argv', /takes no positional arguments, got "extra"/));
  await assert.rejects(keys(['revoke'], environment), isInvalidArgument('idOrPrefix', /one key id or prefix/));
  await assert.rejects(keys(['rotate'], environment), isInvalidArgument('action', /unknown `keys` action "rotate"; known: create, list, revoke/));
  await assert.rejects(readdir(dataDir), { code: 'ENOENT' });

  assert.equal((await keys([], environment)).stdout, `${keysUsage}\n`);
  assert.equal((await keys(['list', '--help'], environment)).stdout, `${keysUsage}\n`);
});

test('revoking an unknown key says so', async () => {
  await assert.rejects(keys(['revoke', 'pp_nothere'], { PIXELPIPE_DATA_DIR: join(work, 'flow') }), (error) => NotFoundError.isInstance(error) && /no key "pp_nothere" exists/.test(error.message));
});

test('a database held by a live process that answers on no admin socket is refused, naming the lock and the way a running serve is reached', async () => {
  const dataDir = join(work, 'held');
  const lock = join(dataDir, 'database', lockFileName);
  await mkdir(join(dataDir, 'database'), { recursive: true });
  // The test runner that started this process stands in for a live holder that is no `pixelpipe serve`.
  await writeFile(lock, JSON.stringify({ pid: process.ppid, host: hostname() }));
  const escaped = lock.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  await assert.rejects(
    keys(['create', '--name', 'x'], { PIXELPIPE_DATA_DIR: dataDir }),
    isInvalidArgument('dataDir', new RegExp(`in use by process ${process.ppid} on .*\\(its lock: ${escaped}\\).*reach a running \`pixelpipe serve\` through its admin socket`)),
  );
  await rm(lock);
});

// The built `pixelpipe` binary, once main.ts sends `keys` here: the exit codes a shell sees.
test('the built CLI: keys create, list and revoke succeed; a bad flag exits non-zero with one clear line', async (t: TestContext) => {
  const environment = { PIXELPIPE_DATA_DIR: join(work, 'built'), PIXELPIPE_DATABASE_URL: '' };
  const probe = await runCli(['keys', '--help'], environment);
  if (probe.code !== 0 || !probe.stdout.includes('pixelpipe keys create')) {
    const message = 'NOT RUN: the built CLI does not dispatch `keys` yet (wire keysCommand into main.ts and run npm run build)';
    console.warn(`\n!!! ${message}\n`);
    t.skip(message);
    return;
  }
  const created = await runCli(['keys', 'create', '--name', 'shell'], environment);
  assert.equal(created.code, 0, created.stderr);
  const secret = created.stdout.trim();
  assert.match(secret, /^pp_/);
  const listed = await runCli(['keys', 'list'], environment);
  assert.equal(listed.code, 0, listed.stderr);
  assert.match(listed.stdout, new RegExp(`${secret.slice(0, 10)}.*shell`));
  const revoked = await runCli(['keys', 'revoke', secret.slice(0, 10)], environment);
  assert.equal(revoked.code, 0, revoked.stderr);
  const bad = await runCli(['keys', 'create', '--name', 'x', '--rate-limit', 'lots'], environment);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /^error: `--rate-limit` must be a whole number/);
  assert.doesNotMatch(bad.stderr, /\n\s+at /);
});
