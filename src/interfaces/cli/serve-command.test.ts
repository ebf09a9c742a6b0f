// `pixelpipe serve` as a user runs it: loopback only without keys (and it says so), keys required once one exists, a clean stop on SIGTERM.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { runCli } from '../../testing/cli.js';
import { repoRoot, testData } from '../../testing/paths.js';

interface Served {
  child: ChildProcess;
  url: string;
  stderr: () => string;
}

// Starts the built CLI and resolves once it prints the address it serves on.
async function serve(t: TestContext, args: string[], environment: NodeJS.ProcessEnv): Promise<Served> {
  const child = spawn(process.execPath, [join(repoRoot, 'bin', 'pixelpipe.js'), 'serve', '--port', '0', ...args], { env: { ...process.env, ...environment }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  t.after(() => void child.kill('SIGKILL'));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start in 60 s: ${stderr}`)), 60_000);
    child.stderr!.on('data', () => {
      const match = /serving on (http:\/\/\S+) /.exec(stderr);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    child.on('exit', (code) => reject(new Error(`serve exited with ${code}: ${stderr}`)));
  });
  return { child, url, stderr: () => stderr };
}

async function stop({ child }: Served): Promise<number | null> {
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  return await exited;
}

test('without keys, serve listens on 127.0.0.1 whatever --host says, says so, and serves a generation; SIGTERM stops it cleanly', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'pixelpipe-serve-'));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const served = await serve(t, ['--host', '0.0.0.0', '--model', testData('fixtures', 'tiny-sd15')], { PIXELPIPE_DATA_DIR: dataDir });
  assert.match(served.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.match(served.stderr(), /no API keys exist: listening on 127\.0\.0\.1 only \(--host 0\.0\.0\.0 is ignored\)/);
  const response = await fetch(`${served.url}/v1/images/generations`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'a red cube', size: '64x64', steps: 2 }) });
  assert.equal(response.status, 200);
  assert.equal(((await response.json()) as { data: unknown[] }).data.length, 1);
  assert.equal(await stop(served), 0);
  assert.match(served.stderr(), /SIGTERM: finishing running jobs/);

  const history = await runCli(['history', '--json'], { PIXELPIPE_DATA_DIR: dataDir });
  assert.equal(history.code, 0, history.stderr);
  const [record] = (JSON.parse(history.stdout) as { records: { id: string; request: { prompt: string } }[] }).records;
  assert.equal(record?.request.prompt, 'a red cube');
  // The record names the model as the server's catalog did, `tiny-sd15`; without the server, the CLI is told where it is.
  const reproduced = await runCli(['reproduce', record!.id, '--model', testData('fixtures', 'tiny-sd15')], { PIXELPIPE_DATA_DIR: dataDir });
  assert.equal(reproduced.code, 0, reproduced.stderr);
  assert.match(reproduced.stdout, /^match: pixels sha256:[0-9a-f]{64} recorded/);
});

test('with a key, serve listens where --host says and every /v1 request needs the key', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'pixelpipe-serve-keys-'));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const created = await runCli(['keys', 'create', '--name', 'test'], { PIXELPIPE_DATA_DIR: dataDir });
  assert.equal(created.code, 0, created.stderr);
  const secret = created.stdout.trim();
  const served = await serve(t, ['--host', '0.0.0.0', '--workers', '0'], { PIXELPIPE_DATA_DIR: dataDir });
  assert.doesNotMatch(served.stderr(), /no API keys exist/);
  // The banner says where it listens, not only the address this machine reaches it at.
  assert.match(served.stderr(), /serving on http:\/\/127\.0\.0\.1:(\d+) .*listening on all interfaces \(0\.0\.0\.0:\1\)/);
  const anonymous = await fetch(`${served.url}/v1/models`);
  assert.equal(anonymous.status, 401);
  assert.equal(((await anonymous.json()) as { error: { code: string } }).error.code, 'missing_api_key');
  const keyed = await fetch(`${served.url}/v1/models`, { headers: { authorization: `Bearer ${secret}` } });
  assert.equal(keyed.status, 200);
  // Without --allow-pull no key may pull models over HTTP, and the answer says how to enable it.
  const pull = await fetch(`${served.url}/v1/models/pull`, { method: 'POST', headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'owner/name' }) });
  assert.equal(pull.status, 403);
  assert.match(((await pull.json()) as { error: { message: string } }).error.message, /pixelpipe serve --allow-pull/);
  assert.equal((await fetch(`${served.url}/healthz`)).status, 200);
  assert.equal(await stop(served), 0);
});

test('beside a running serve on the embedded database, keys, history and reproduce work through its admin socket and say which data directory they use', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'pixelpipe-serve-admin-'));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const served = await serve(t, ['--data-dir', dataDir, '--model', testData('fixtures', 'tiny-sd15')], {});
  assert.match(served.stderr(), new RegExp(`admin socket: ${dataDir}/pixelpipe.sock`));
  // Its file permissions are its authentication: the owner alone may connect.
  assert.equal((await stat(join(dataDir, 'pixelpipe.sock'))).mode & 0o777, 0o600);
  const response = await fetch(`${served.url}/v1/images/generations`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'a red cube', size: '64x64', steps: 2, seed: 3 }) });
  assert.equal(response.status, 200);

  const history = await runCli(['history', '--json', '--data-dir', dataDir]);
  assert.equal(history.code, 0, history.stderr);
  assert.match(history.stderr, new RegExp(`^data directory: ${dataDir} \\(--data-dir\\); using the running server \\(pid \\d+, through ${dataDir}/pixelpipe.sock\\)`));
  const [record] = (JSON.parse(history.stdout) as { records: { id: string }[] }).records;
  const reproduced = await runCli(['reproduce', record!.id, '--data-dir', dataDir]);
  assert.equal(reproduced.code, 0, reproduced.stderr);
  assert.match(reproduced.stdout, /^match: pixels sha256:[0-9a-f]{64} recorded/);

  // A key made beside the server is one the server knows at once.
  const created = await runCli(['keys', 'create', '--name', 'beside the server'], { PIXELPIPE_DATA_DIR: dataDir });
  assert.equal(created.code, 0, created.stderr);
  assert.match(created.stderr, new RegExp(`data directory: ${dataDir} \\(PIXELPIPE_DATA_DIR\\); using the running server`));
  const secret = created.stdout.trim();
  await new Promise((resolve) => setTimeout(resolve, 2100));
  assert.equal((await fetch(`${served.url}/v1/models`)).status, 401);
  assert.equal((await fetch(`${served.url}/v1/models`, { headers: { authorization: `Bearer ${secret}` } })).status, 200);
  const listed = await runCli(['keys', 'list', '--json', '--data-dir', dataDir]);
  assert.deepEqual((JSON.parse(listed.stdout) as { name: string }[]).map((key) => key.name), ['beside the server']);
  assert.equal(await stop(served), 0);
});

test('serve killed with SIGKILL mid-job and started again: every job finishes within a minute, the interrupted one as a second attempt', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'pixelpipe-serve-kill-'));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const args = ['--data-dir', dataDir, '--model', testData('fixtures', 'tiny-sd15')];
  const first = await serve(t, args, {});
  const submit = async (seed: number) => {
    const answer = await fetch(`${first.url}/v1/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: `cube ${seed}`, width: 192, height: 192, steps: 150, seed }) });
    assert.equal(answer.status, 202);
    return ((await answer.json()) as { id: string }).id;
  };
  const ids = [await submit(1), await submit(2), await submit(3)];
  const stateOf = async (url: string, id: string) => (await (await fetch(`${url}/v1/jobs/${id}`)).json()) as { state: string; attempts: number; progress?: unknown; attemptHistory?: { outcome: string }[] };
  while (!(await stateOf(first.url, ids[0]!)).progress) await new Promise((resolve) => setTimeout(resolve, 100));
  const exited = new Promise((resolve) => first.child.once('exit', (_code, signal) => resolve(signal)));
  first.child.kill('SIGKILL');
  assert.equal(await exited, 'SIGKILL');

  const second = await serve(t, args, {});
  const restarted = Date.now();
  let health = 0;
  for (;;) {
    const states = await Promise.all(ids.map((id) => stateOf(second.url, id)));
    if ((await fetch(`${second.url}/healthz`)).status === 200) health += 1;
    if (states.every((state) => state.state === 'succeeded')) {
      assert.ok(Date.now() - restarted < 60_000, `all jobs finished ${Date.now() - restarted} ms after the restart`);
      const interrupted = states.find((state) => state.attempts === 2);
      assert.deepEqual(interrupted?.attemptHistory?.map((attempt) => attempt.outcome), ['crashed', 'succeeded'], 'the job running at the kill ran again');
      break;
    }
    assert.ok(Date.now() - restarted < 60_000, `jobs still unfinished a minute after the restart: ${JSON.stringify(states.map((state) => state.state))}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  assert.ok(health > 0);
  assert.equal(await stop(second), 0);
});

test('serve whose default model cannot be pulled says so at start, with what to do, instead of failing each job later', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'pixelpipe-serve-offline-'));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const result = await runCli(['serve', '--port', '0', '--data-dir', dataDir], { PIXELPIPE_HUB_URL: 'http://127.0.0.1:9', HF_ENDPOINT: '', PIXELPIPE_CACHE_DIR: join(dataDir, 'cache') });
  assert.equal(result.code, 1);
  assert.match(result.stderr, /Could not reach http:\/\/127\.0\.0\.1:9.*--model.*PIXELPIPE_HUB_URL.*openai:gpt-image-1/s);
  assert.doesNotMatch(result.stderr, /serving on/);
  assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack');
});

test('beside a running serve, generate records through it: the server stores the image and its record, and answers for it over HTTP', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'pixelpipe-serve-generate-'));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const served = await serve(t, ['--workers', '0'], { PIXELPIPE_DATA_DIR: dataDir });
  const out = join(dataDir, 'made.png');
  const made = await runCli(['generate', 'a cube beside the server', '--model', testData('fixtures', 'tiny-sd15'), '--steps', '2', '--out', out, '--json'], { PIXELPIPE_DATA_DIR: dataDir });
  assert.equal(made.code, 0, made.stderr);
  assert.match(made.stderr, /using the running server \(pid \d+, through .*pixelpipe\.sock\)/);
  const [image] = (JSON.parse(made.stdout) as { images: { recordId: string }[] }).images;
  const record = (await (await fetch(`${served.url}/v1/records/${image!.recordId}`)).json()) as { id: string; request: { prompt: string }; sha256: string };
  assert.equal(record.request.prompt, 'a cube beside the server');
  assert.equal(record.sha256, `sha256:${createHash('sha256').update(await readFile(out)).digest('hex')}`);
  assert.equal(await stop(served), 0);
});
