// `pixelpipe serve` as a user runs it: loopback only without keys (and it says so), keys required once one exists, a clean stop on SIGTERM.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
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
  const reproduced = await runCli(['reproduce', record!.id], { PIXELPIPE_DATA_DIR: dataDir });
  assert.equal(reproduced.code, 0, reproduced.stderr);
  assert.match(reproduced.stdout, /^match: pixels sha256:[0-9a-f]{64} recorded/);
});

test('with a key, serve listens where --host says and every /v1 request needs the key', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'pixelpipe-serve-keys-'));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const created = await runCli(['keys', 'create', '--name', 'test'], { PIXELPIPE_DATA_DIR: dataDir });
  assert.equal(created.code, 0, created.stderr);
  const secret = created.stdout.trim();
  const served = await serve(t, ['--host', '127.0.0.1', '--workers', '0'], { PIXELPIPE_DATA_DIR: dataDir });
  assert.doesNotMatch(served.stderr(), /no API keys exist/);
  const anonymous = await fetch(`${served.url}/v1/models`);
  assert.equal(anonymous.status, 401);
  assert.equal(((await anonymous.json()) as { error: { code: string } }).error.code, 'missing_api_key');
  const keyed = await fetch(`${served.url}/v1/models`, { headers: { authorization: `Bearer ${secret}` } });
  assert.equal(keyed.status, 200);
  assert.equal((await fetch(`${served.url}/healthz`)).status, 200);
  assert.equal(await stop(served), 0);
});
