import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { readPngText } from '../../engine/image/png.js';
import { buildCommand, createBuildPrinter } from './build-command.js';
import { runCli } from '../../testing/cli.js';
import { maxChannelDifference } from '../../testing/images.js';
import { repoRoot, testData } from '../../testing/paths.js';
import type { BuildReport, Lockfile } from '../../service/build/build-types.js';
import { createImageService } from '../../service/image-service.js';
import { createHttpApp } from '../http/http-app.js';
import { startHttpServer } from '../http/http-server.js';

const work = mkdtempSync(join(tmpdir(), 'pixelpipe-build-'));
test.after(() => rmSync(work, { recursive: true, force: true }));

/** Collects what a build prints. */
function sink(): { write(text: string): boolean; text: string } {
  return { text: '', write(text: string) { this.text += text; return true; } };
}

async function build(project: string, ...flags: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = sink();
  const stderr = sink();
  const code = await buildCommand([project, ...flags], { stdout, stderr, environment: { ...process.env, PIXELPIPE_DATA_DIR: '' } });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

/** A model folder of the tiny fixture's files (the ONNX graphs linked, not copied), which a test may alter. */
function modelCopy(folder: string): string {
  cpSync(testData('fixtures', 'tiny-sd15'), folder, { recursive: true, filter: (source) => !source.endsWith('.onnx') });
  for (const part of ['text_encoder', 'unet', 'vae_decoder', 'vae_encoder']) {
    if (!existsSync(testData('fixtures', 'tiny-sd15', part, 'model.onnx'))) continue;
    symlinkSync(testData('fixtures', 'tiny-sd15', part, 'model.onnx'), join(folder, part, 'model.onnx'));
  }
  return folder;
}

/** A project folder with these files (paths relative to it). */
function project(name: string, files: Record<string, string>): string {
  const root = join(work, name);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

const readLock = (root: string) => JSON.parse(readFileSync(join(root, 'pixelpipe.lock'), 'utf8')) as Lockfile;
const readReport = (root: string) => JSON.parse(readFileSync(join(root, 'build-report', 'build-report.json'), 'utf8')) as BuildReport;
const fileSha = (path: string) => `sha256:${createHash('sha256').update(readFileSync(path)).digest('hex')}`;
const generatedPaths = (root: string) => readReport(root).outputs.filter((output) => output.status === 'generated').map((output) => output.path).sort();

test('builds are incremental: a rebuild makes nothing, a changed row or model remakes exactly what it touches, --force and --frozen', async () => {
  const root = project('incremental', {
    'pixelpipe.yaml': 'version: 1\ndefaults:\n  model: ./model\n  steps: 1\nspecs:\n  - specs/tile.yaml\n',
    'specs/tile.yaml': 'name: tile\ndata: ../regions.csv\nprompt: a {color} cube in {city}\nsize: 96x64\nmatrix:\n  color: [red, blue]\noutput:\n  path: out/{region}/{color}.png\n',
    'regions.csv': 'region,city\na,Berlin\nb,Paris\n',
  });
  modelCopy(join(root, 'model'));

  const first = await build(root);
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, /^4 generated, 0 cached, 0 failed/);
  const lock = readLock(root);
  assert.deepEqual(lock.outputs.map((entry) => entry.path), ['out/a/blue.png', 'out/a/red.png', 'out/b/blue.png', 'out/b/red.png'], 'entries sorted by path');
  for (const entry of lock.outputs) {
    assert.equal(fileSha(join(root, entry.path)), entry.sha256, `${entry.path}'s file is the one locked`);
    assert.match(entry.modelHash!, /^sha256:[0-9a-f]{64}$/);
    assert.match(entry.pixelSha256!, /^sha256:[0-9a-f]{64}$/);
  }
  const lockText = readFileSync(join(root, 'pixelpipe.lock'), 'utf8');
  // The exact size asked for, whatever the model made.
  const written = readFileSync(join(root, 'out/a/red.png'));
  assert.deepEqual([written.readUInt32BE(16), written.readUInt32BE(20)], [96, 64]);

  const second = await build(root);
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stdout, /^0 generated, 4 cached/);
  assert.equal(readFileSync(join(root, 'pixelpipe.lock'), 'utf8'), lockText, 'a build that makes nothing leaves the lockfile as it was');

  // One data row changes: its two outputs, and only those.
  writeFileSync(join(root, 'regions.csv'), 'region,city\na,Berlin\nb,Lyon\n');
  assert.equal((await build(root)).code, 0);
  assert.deepEqual(generatedPaths(root), ['out/b/blue.png', 'out/b/red.png']);
  const afterRow = readLock(root);
  assert.deepEqual(afterRow.outputs.filter((entry) => entry.path.startsWith('out/a/')), lock.outputs.filter((entry) => entry.path.startsWith('out/a/')));

  // --frozen: nothing would change, so it passes; a deleted file is made again, with the same pixels.
  unlinkSync(join(root, 'out/a/red.png'));
  const frozen = await build(root, '--frozen');
  assert.equal(frozen.code, 0, frozen.stderr);
  assert.deepEqual(generatedPaths(root), ['out/a/red.png']);
  const remade = readReport(root).outputs.find((output) => output.path === 'out/a/red.png')!;
  assert.equal(readLock(root).outputs.find((entry) => entry.path === 'out/a/red.png')!.pixelSha256, lock.outputs.find((entry) => entry.path === 'out/a/red.png')!.pixelSha256, 'the lockfile still names the same pixels');
  assert.notEqual(remade.recordId, lock.outputs.find((entry) => entry.path === 'out/a/red.png')!.recordId, 'a new record made them');

  // Reproducible without --frozen too: delete, rebuild, same pixels.
  unlinkSync(join(root, 'out/b/red.png'));
  const before = readLock(root).outputs.find((entry) => entry.path === 'out/b/red.png')!;
  assert.equal((await build(root)).code, 0);
  const after = readLock(root).outputs.find((entry) => entry.path === 'out/b/red.png')!;
  assert.equal(after.pixelSha256, before.pixelSha256);
  assert.equal(after.key, before.key);

  // --frozen fails when the spec changed, before generating anything, and writes nothing.
  const lockBefore = readFileSync(join(root, 'pixelpipe.lock'), 'utf8');
  writeFileSync(join(root, 'specs/tile.yaml'), readFileSync(join(root, 'specs/tile.yaml'), 'utf8').replace('a {color} cube', 'a {color} sphere'));
  await assert.rejects(build(root, '--frozen'), (error: Error) => {
    assert.equal(error.name, 'LockfileDriftError');
    assert.match(error.message, /out\/a\/blue\.png: its spec, model or engine changed/);
    assert.match(error.message, /out\/b\/red\.png/);
    return true;
  });
  assert.equal(readFileSync(join(root, 'pixelpipe.lock'), 'utf8'), lockBefore);
  writeFileSync(join(root, 'specs/tile.yaml'), readFileSync(join(root, 'specs/tile.yaml'), 'utf8').replace('a {color} sphere', 'a {color} cube'));

  // --force PATTERN remakes what it matches; a spec's name matches all of its outputs.
  assert.equal((await build(root, '--force', 'out/a/**')).code, 0);
  assert.deepEqual(generatedPaths(root), ['out/a/blue.png', 'out/a/red.png']);

  // New weights in the model folder change its hash: every output is remade.
  writeFileSync(join(root, 'model', 'unet', 'extra_weights.data'), 'other weights');
  assert.equal((await build(root)).code, 0);
  assert.equal(generatedPaths(root).length, 4);
  assert.notEqual(readLock(root).outputs[0]!.modelHash, lock.outputs[0]!.modelHash);

  // A broken spec stops the next build before anything runs: what was built stays, files and lockfile alike.
  const lockNow = readFileSync(join(root, 'pixelpipe.lock'), 'utf8');
  const specText = readFileSync(join(root, 'specs/tile.yaml'), 'utf8');
  writeFileSync(join(root, 'specs/tile.yaml'), `${specText}steps: [oops\n`);
  await assert.rejects(build(root), { name: 'SpecFileError', message: /^specs\/tile\.yaml:\d+: / });
  assert.equal(readFileSync(join(root, 'pixelpipe.lock'), 'utf8'), lockNow);
  for (const entry of readLock(root).outputs) assert.equal(fileSha(join(root, entry.path)), entry.sha256);
  writeFileSync(join(root, 'specs/tile.yaml'), specText);

  // The dry run plans without generating.
  const dry = await build(root, '--dry-run', '--force', 'tile');
  assert.equal(dry.code, 0);
  assert.match(dry.stdout, /generate {2}out\/a\/blue\.png \(matched --force\)/);
  assert.match(dry.stdout, /4 to generate \(4 images\), 0 cached\nestimated cost: \$0\.00 at list prices \(4 on local models, no charge\)/);
});

test('best of N: every candidate is scored, the best is written, the report shows the rejected ones', async () => {
  const root = project('best-of', {
    'pixelpipe.yaml': [
      'version: 1',
      'rankers:',
      `  clip: { type: clip, model: ${JSON.stringify(testData('fixtures', 'tiny-clip'))} }`,
      'specs:',
      '  - name: hero',
      `    model: ${JSON.stringify(testData('fixtures', 'tiny-sd15'))}`,
      '    prompt: a red cube',
      '    size: 64x64',
      '    steps: 1',
      '    seed: 7',
      '    candidates: 3',
      '    ranker: clip',
      '    output: { path: out/hero.webp, quality: 80 }',
      '',
    ].join('\n'),
  });
  const result = await build(root);
  assert.equal(result.code, 0, result.stderr);
  const [entry] = readLock(root).outputs;
  assert.equal(entry!.scores!.length, 3);
  const best = entry!.scores!.indexOf(Math.max(...entry!.scores!));
  assert.equal(entry!.candidate, best, 'the chosen candidate has the top score (the first among equals)');
  const output = readReport(root).outputs[0]!;
  assert.equal(output.ranker, 'clip');
  assert.deepEqual(output.candidates.map((candidate) => candidate.chosen), [0, 1, 2].map((index) => index === best));
  assert.deepEqual(output.candidates.map((candidate) => candidate.rank).sort(), [1, 2, 3]);
  const written = readFileSync(join(root, 'out/hero.webp'));
  assert.equal(written.subarray(8, 12).toString('latin1'), 'WEBP');
  const sheet = readFileSync(join(root, 'build-report', 'contact-sheet.html'), 'utf8');
  // The winner and both rejected candidates have thumbnails.
  assert.equal(readdirSync(join(root, 'build-report', 'thumbs')).length, 3);
  assert.match(sheet, /a red cube/);
});

test('a failed output fails alone: the rest are written, the JUnit report names it, the exit status is 1', async () => {
  const root = project('failing', {
    'pixelpipe.yaml': `version: 1\nmoderation: ./policy.yaml\ndefaults:\n  model: ${JSON.stringify(testData('fixtures', 'tiny-sd15'))}\n  steps: 1\n  size: 64x64\nspecs:\n  - name: animals\n    prompt: a photo of a {animal}\n    matrix:\n      animal: [cat, forbiddenword]\n    output:\n      path: out/{animal}.png\n`,
    'policy.yaml': 'name: test-policy\nterms:\n  block: [forbiddenword]\n',
  });
  const result = await build(root);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /failed {4}out\/forbiddenword\.png \(ContentPolicyError: the prompt was blocked by the moderation policy "test-policy"/);
  assert.ok(existsSync(join(root, 'out/cat.png')));
  assert.deepEqual(readLock(root).outputs.map((entry) => entry.path), ['out/cat.png']);
  const junit = readFileSync(join(root, 'build-report', 'junit.xml'), 'utf8');
  assert.match(junit, /failures="1"/);
  assert.match(junit, /out\/forbiddenword\.png[\s\S]*<failure/);
});

test('a killed build resumes: finished outputs are kept, only the rest are made', async () => {
  const root = project('resume', {
    'pixelpipe.yaml': `version: 1\ndefaults:\n  model: ${JSON.stringify(testData('fixtures', 'tiny-sd15'))}\n  steps: 1\n  size: 64x64\nspecs:\n  - name: tiles\n    prompt: tile {n}\n    matrix:\n      n: [1, 2, 3, 4, 5, 6, 7, 8]\n    output:\n      path: out/{n}.png\n`,
  });
  const child = spawn(process.execPath, [join(repoRoot, 'bin', 'pixelpipe.js'), 'build', root], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const lockPath = join(root, 'pixelpipe.lock');
  const deadline = Date.now() + 120_000;
  while (!(existsSync(lockPath) && readLock(root).outputs.length >= 2)) {
    assert.ok(Date.now() < deadline && child.exitCode === null, `the build wrote no lockfile entries: ${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  child.kill('SIGKILL');
  await new Promise((resolve) => child.once('close', resolve));
  const kept = readLock(root).outputs.map((entry) => entry.path);
  assert.ok(kept.length < 8, 'killed before it finished');

  const resumed = await build(root);
  assert.equal(resumed.code, 0, resumed.stderr);
  const report = readReport(root);
  assert.deepEqual(report.outputs.filter((output) => output.status === 'cached').map((output) => output.path).sort(), [...kept].sort());
  assert.equal(report.counts.generated, 8 - kept.length);
  assert.equal(readLock(root).outputs.length, 8);
});

test('--server builds through a running server\'s API with an API key, with its models and rankers', async () => {
  const dataDir = join(work, 'server-data');
  const service = await createImageService({
    settings: { dataDir, cacheDir: join(dataDir, 'models'), clipModel: testData('fixtures', 'tiny-clip') },
    defaultModel: testData('fixtures', 'tiny-sd15'),
    isolation: 'in-process',
    pollingIntervalSeconds: 0.05,
    onNotice: () => undefined,
  });
  const server = await startHttpServer({ app: createHttpApp({ service, urlSigningSecret: service.urlSigningSecret }), host: '127.0.0.1', port: 0 });
  try {
    const { secret } = await service.keys.create({ name: 'ci' });
    const root = project('server', {
      'pixelpipe.yaml': 'version: 1\nspecs:\n  - name: pair\n    model: tiny-sd15\n    prompt: a {color} cube\n    size: 96x64\n    steps: 1\n    candidates: 2\n    ranker: clip\n    matrix:\n      color: [red, green]\n    output: { path: \'out/{color}.jpg\', quality: 90 }\n',
    });
    await assert.rejects(build(root, '--server', server.url), /GET \/v1\/models: 401 /, 'without the key nothing can be looked up');

    const result = await build(root, '--server', server.url, '--api-key', secret);
    assert.equal(result.code, 0, result.stderr);
    const lock = readLock(root);
    assert.deepEqual(lock.outputs.map((entry) => entry.path), ['out/green.jpg', 'out/red.jpg']);
    for (const entry of lock.outputs) {
      const record = (await service.getRecord(entry.recordId))!;
      assert.equal(record.ranking?.chosen, true, 'the lockfile names the chosen candidate\'s record on the server');
      assert.equal(record.sha256, fileSha(join(root, entry.path)), 'the file is the stored image');
      assert.equal(record.mediaType, 'image/jpeg');
      assert.deepEqual([record.width, record.height], [96, 64]);
    }
    const again = await build(root, '--server', server.url, '--api-key', secret);
    assert.match(again.stdout, /^0 generated, 2 cached/);
  } finally {
    await server.close();
    await service.close();
  }
});

test('a dry run prices hosted outputs from the price table and names models without a price', async () => {
  const root = project('hosted-dry-run', {
    'pixelpipe.yaml': [
      'version: 1',
      'specs:',
      '  - name: ads',
      '    model: openai:gpt-image-1',
      '    prompt: an ad for {product}',
      '    candidates: 2',
      '    ranker: clip',
      '    matrix: { product: [shoe, bag, hat] }',
      "    output: { path: 'out/{product}.png' }",
      '  - name: custom',
      '    model: replicate:someone/their-model',
      '    prompt: a test',
      '    output: { path: out/custom.png }',
      '',
    ].join('\n'),
  });
  // Rankers are checked before planning: an embedded build of this project needs a clip ranker.
  writeFileSync(join(root, 'pixelpipe.yaml'), readFileSync(join(root, 'pixelpipe.yaml'), 'utf8').replace('specs:', `rankers:\n  clip: { type: clip, model: ${JSON.stringify(testData('fixtures', 'tiny-clip'))} }\nspecs:`));
  const dry = await build(root, '--dry-run');
  assert.equal(dry.code, 0, dry.stderr);
  // data/prices.json: gpt-image-1 at $0.042 per image (its base price), 3 outputs × 2 candidates.
  assert.match(dry.stdout, /4 to generate \(7 images\), 0 cached\nestimated cost: \$0\.25 at list prices; no price for replicate:someone\/their-model\n$/);
  assert.ok(!existsSync(join(root, 'out')) && !existsSync(join(root, 'pixelpipe.lock')), 'a dry run writes nothing');
});

test('progress: a redrawn bar on a terminal, one plain line per output elsewhere, failures in full on both', () => {
  const planned = ['out/a.png', 'out/b.png'].map((path) => ({ output: { path, candidates: 1 }, status: 'generate' })) as never[];
  const outputReport = (path: string, status: 'generated' | 'failed') => ({
    path, spec: 's', specFile: 'pixelpipe.yaml', status, key: 'k', prompt: 'p', seed: '1', width: 64, height: 64, durationMs: 1500, candidates: [],
    ...(status === 'failed' && { error: { code: 'ContentPolicyError', message: 'blocked' } }),
  });
  for (const isTTY of [false, true]) {
    const stream = { ...sink(), isTTY, columns: 120 };
    const printer = createBuildPrinter(stream);
    printer.event({ type: 'plan', planned });
    printer.event({ type: 'start', planned: planned[0]! });
    printer.event({ type: 'output', report: outputReport('out/a.png', 'generated'), done: 1, total: 2 });
    printer.event({ type: 'output', report: outputReport('out/b.png', 'failed'), done: 2, total: 2 });
    printer.done();
    assert.match(stream.text, /^2 outputs: 2 to generate, 0 cached\n/);
    assert.match(stream.text, /failed {4}out\/b\.png \(ContentPolicyError: blocked\)\n/);
    if (isTTY) {
      assert.match(stream.text, /\r\[-{24}\] 0\/2 · out\/a\.png\x1b\[K/);
      assert.match(stream.text, /\r\[#{12}-{12}\] 1\/2 · ETA /);
      assert.doesNotMatch(stream.text, /generated {2}out\/a\.png/);
    } else {
      assert.match(stream.text, /generated out\/a\.png \(1\.5 s\)\n/);
      assert.doesNotMatch(stream.text, /\r|\x1b/);
    }
  }
});

test('specs name LoRAs of the project\'s folder; the key covers each LoRA file\'s hash', async () => {
  const root = project('loras', {
    'pixelpipe.yaml': `version: 1\ndefaults:\n  model: ${JSON.stringify(testData('fixtures', 'tiny-sd15'))}\n  steps: 1\n  size: 64x64\n  seed: 9\nspecs:\n  - name: styled\n    prompt: a red cube\n    loras: [tiny_style:1]\n    output: { path: out/styled.png }\n  - name: plain\n    prompt: a red cube\n    output: { path: out/plain.png }\n`,
  });
  mkdirSync(join(root, 'loras'));
  cpSync(testData('fixtures', 'tiny-sd15-lora', 'tiny-sd15-lora.kohya.safetensors'), join(root, 'loras', 'tiny_style.safetensors'));
  assert.equal((await build(root)).code, 0);
  const entry = (path: string) => readLock(root).outputs.find((each) => each.path === path)!;
  const styled = entry('out/styled.png');
  assert.notEqual(styled.pixelSha256, entry('out/plain.png').pixelSha256, 'the LoRA changed the image');

  // The same weights in another file format: another file, so another key; the same merged weights, so the same pixels.
  cpSync(testData('fixtures', 'tiny-sd15-lora', 'pytorch_lora_weights.safetensors'), join(root, 'loras', 'tiny_style.safetensors'));
  assert.equal((await build(root)).code, 0);
  assert.deepEqual(generatedPaths(root), ['out/styled.png']);
  assert.notEqual(entry('out/styled.png').key, styled.key);
  assert.equal(entry('out/styled.png').pixelSha256, styled.pixelSha256);

  rmSync(join(root, 'loras', 'tiny_style.safetensors'));
  await assert.rejects(build(root), { name: 'SpecFileError', message: /pixelpipe\.yaml:\d+: loras: spec styled uses LoRA tiny_style, which is not in the project's LoRA folder .*put tiny_style\.safetensors there/ });
});

test('spec errors stop the build before anything runs, name the file, line and fix, and exit 2', async () => {
  const model = JSON.stringify(testData('fixtures', 'tiny-sd15'));
  const cases: [string, Record<string, string>, RegExp][] = [
    ['malformed YAML', { 'pixelpipe.yaml': 'version: 1\nspecs:\n  - name: a\n    prompt: [unclosed\n' }, /pixelpipe\.yaml:\d+/],
    ['an unknown variable', { 'pixelpipe.yaml': `version: 1\nspecs:\n  - name: a\n    model: ${model}\n    prompt: a {colour} cube\n    matrix:\n      color: [red]\n    output: { path: 'out/{color}.png' }\n` }, /pixelpipe\.yaml:\d+: .*colour/],
    ['a path outside the output folder', { 'pixelpipe.yaml': `version: 1\nspecs:\n  - name: a\n    model: ${model}\n    prompt: a cube\n    output: { path: ../escape.png }\n` }, /pixelpipe\.yaml:\d+: specs\[0\]\.output\.path: .*outside the output folder/],
    ['a data file without a column the prompt uses', { 'pixelpipe.yaml': `version: 1\nspecs:\n  - name: a\n    model: ${model}\n    data: rows.csv\n    prompt: a cube in {city}\n    output: { path: 'out/{region}.png' }\n`, 'rows.csv': 'region\nnorth\n' }, /rows\.csv:2: city: .*add the column/],
    ['a huge matrix without --yes', { 'pixelpipe.yaml': `version: 1\nspecs:\n  - name: a\n    model: ${model}\n    prompt: '{x} {y}'\n    matrix:\n      x: [${Array.from({ length: 400 }, (_, index) => index).join(', ')}]\n      y: [${Array.from({ length: 250 }, (_, index) => index).join(', ')}]\n    output: { path: 'out/{x}-{y}.png' }\n` }, /100,000 outputs .*pass --yes/],
  ];
  for (const [name, files, message] of cases) {
    const root = project(`bad-${name.replaceAll(' ', '-')}`, files);
    await assert.rejects(build(root), (error: Error) => {
      assert.equal(error.name, 'SpecFileError', name);
      assert.match(error.message, message, name);
      return true;
    });
    assert.ok(!existsSync(join(root, 'out')) && !existsSync(join(root, 'pixelpipe.lock')), `${name}: nothing was written`);
  }
  // The command's exit status for them.
  const cli = await runCli(['build', join(work, 'bad-an-unknown-variable')]);
  assert.equal(cli.code, 2, cli.stderr);
  assert.match(cli.stderr, /^error: pixelpipe\.yaml:\d+: /);
});

test('the landing-pages example builds its 40 pages, then does nothing the second time', async () => {
  // Laid out as in the repository, so its relative paths to the test fixtures hold.
  const root = join(work, 'repo', 'examples', 'landing-pages');
  cpSync(join(repoRoot, 'examples', 'landing-pages'), root, { recursive: true, filter: (source) => !/[/\\](out|build-report|\.pixelpipe)$|pixelpipe\.lock$/.test(source) });
  symlinkSync(join(repoRoot, 'test-data'), join(work, 'repo', 'test-data'));
  const first = await runCli(['build', root]);
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, /^40 generated, 0 cached, 0 failed/);
  assert.equal(readdirSync(join(root, 'out')).length, 40);
  assert.ok(existsSync(join(root, 'build-report', 'contact-sheet.html')));
  const report = readReport(root);
  assert.ok(report.outputs.every((output) => output.width === 1200 && output.height === 628 && output.candidates.length === 2));
  const second = await runCli(['build', root, '--frozen']);
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stdout, /^0 generated, 40 cached, 0 failed/);
});

test('output.upscale esrgan grows a small generation to the output size with the bundled upscaler; lanczos (the default) only resizes', async () => {
  const root = project('esrgan', {
    'pixelpipe.yaml': `version: 1\ndefaults:\n  model: ${JSON.stringify(testData('fixtures', 'tiny-sd15'))}\n  steps: 1\n  seed: 4\n  size: 200x120\n  generationSize: 64x64\nspecs:\n  - name: grown\n    prompt: a red cube\n    output: { path: out/grown.png, upscale: esrgan }\n  - name: resized\n    prompt: a red cube\n    output: { path: out/resized.png }\n`,
  });
  const first = await build(root);
  assert.equal(first.code, 0, first.stderr);
  const entry = (path: string) => readLock(root).outputs.find((each) => each.path === path)!;
  assert.equal(entry('out/grown.png').pixelSha256, entry('out/resized.png').pixelSha256, 'the model made the same pixels for both');
  assert.notEqual(entry('out/grown.png').key, entry('out/resized.png').key, 'the upscale is part of the output\'s key');
  for (const path of ['out/grown.png', 'out/resized.png']) {
    const metadata = await sharp(join(root, path)).metadata();
    assert.deepEqual([metadata.width, metadata.height], [200, 120], path);
  }
  // 64 → 200 wide needs x3.125: x4, then the resize to 200×120.
  const grown = JSON.parse(readPngText(readFileSync(join(root, 'out/grown.png'))).pixelpipe!);
  assert.deepEqual([grown.upscale.model, grown.upscale.scale], ['esrgan-slim-x4', 4]);
  assert.equal(JSON.parse(readPngText(readFileSync(join(root, 'out/resized.png'))).pixelpipe!).upscale, undefined);
  assert.notEqual(fileSha(join(root, 'out/grown.png')), fileSha(join(root, 'out/resized.png')));
  const again = await build(root);
  assert.equal(again.code, 0);
  assert.deepEqual(generatedPaths(root), []);
});

test('spec controls: the control image beside the spec guides the model\'s own ControlNet as diffusers does; the key covers the image\'s bytes', async () => {
  const controlNetRun = (JSON.parse(readFileSync(testData('conformance', 'pipelines', 'controlnet', 'index.json'), 'utf8')) as { runs: Array<{ scheduler_config: unknown; files: { png: string } }> }).runs[0]!;
  const root = project('controls', {
    'pixelpipe.yaml': 'version: 1\nspecs:\n  - name: guided\n    model: ./tiny-sd15-controlnet\n    prompt: a red cube\n    negativePrompt: ""\n    size: 64x64\n    steps: 4\n    guidance: 7.5\n    sampler: euler\n    seed: 42\n    controls:\n      - image: control.png\n    output: { path: out/guided.png }\n',
  });
  // The fixture ships PNDM's scheduler config; the reference ran Euler with this one.
  cpSync(testData('fixtures', 'tiny-sd15-controlnet'), join(root, 'tiny-sd15-controlnet'), { recursive: true });
  writeFileSync(join(root, 'tiny-sd15-controlnet', 'scheduler', 'scheduler_config.json'), JSON.stringify(controlNetRun.scheduler_config));
  cpSync(testData('conformance', 'inputs', 'control_image.png'), join(root, 'control.png'));
  // Without the watermark the written pixels are the model's, compared with diffusers'.
  const environment: NodeJS.ProcessEnv = { ...process.env, PIXELPIPE_DATA_DIR: '', PIXELPIPE_WATERMARK: 'false' };
  const buildHere = async () => {
    const stdout = sink();
    const stderr = sink();
    const code = await buildCommand([root], { stdout, stderr, environment });
    assert.equal(code, 0, stderr.text);
  };
  await buildHere();
  const difference = await maxChannelDifference(join(root, 'out', 'guided.png'), testData('conformance', 'pipelines', 'controlnet', controlNetRun.files.png));
  assert.ok(difference <= 1, `max difference from diffusers ${difference}/255`);
  const first = readLock(root).outputs[0]!;
  await buildHere();
  assert.deepEqual(generatedPaths(root), [], 'unchanged: nothing is made again');
  // Another control image under the same name is another output.
  writeFileSync(join(root, 'control.png'), await sharp(join(root, 'control.png')).negate({ alpha: false }).png().toBuffer());
  await buildHere();
  assert.deepEqual(generatedPaths(root), ['out/guided.png']);
  assert.notEqual(readLock(root).outputs[0]!.key, first.key);
  assert.notEqual(readLock(root).outputs[0]!.pixelSha256, first.pixelSha256);

  // A ControlNet named from the ControlNet folder: its weights' hash is part of the key.
  const controlNets = join(root, 'controlnets');
  mkdirSync(join(controlNets, 'edges'), { recursive: true });
  for (const file of ['model.onnx', 'config.json']) symlinkSync(join(root, 'tiny-sd15-controlnet', 'controlnet', file), join(controlNets, 'edges', file));
  environment.PIXELPIPE_CONTROLNET_DIR = controlNets;
  writeFileSync(join(root, 'pixelpipe.yaml'), readFileSync(join(root, 'pixelpipe.yaml'), 'utf8').replace('      - image: control.png\n', '      - image: control.png\n        controlnet: edges\n'));
  await buildHere();
  const named = readLock(root).outputs[0]!;
  await buildHere();
  assert.deepEqual(generatedPaths(root), []);
  // Other weights under the same name (the hash covers the data files beside the graph) remake the output.
  writeFileSync(join(controlNets, 'edges', 'model.onnx_data'), 'other weights');
  await buildHere();
  assert.deepEqual(generatedPaths(root), ['out/guided.png']);
  assert.notEqual(readLock(root).outputs[0]!.key, named.key);
  rmSync(join(controlNets, 'edges'), { recursive: true });
  await assert.rejects(buildCommand([root], { stdout: sink(), stderr: sink(), environment }), { name: 'SpecFileError', message: /uses ControlNet edges, which is not in the ControlNet folder \(PIXELPIPE_CONTROLNET_DIR\)/ });
});

test('spec hiresFix: the output is the image-to-image pass over the upscaled first pass, whose settings its record keeps', async () => {
  const root = project('hires', {
    'pixelpipe.yaml': `version: 1\ndefaults:\n  model: ${JSON.stringify(testData('fixtures', 'tiny-sd15'))}\n  steps: 2\n  seed: 4\nspecs:\n  - name: fixed\n    prompt: a red cube\n    size: 128x128\n    generationSize: 64x64\n    hiresFix: { strength: 0.5 }\n    output: { path: out/fixed.png }\n  - name: plain\n    prompt: a red cube\n    size: 128x128\n    generationSize: 64x64\n    output: { path: out/plain.png }\n`,
  });
  const result = await build(root);
  assert.equal(result.code, 0, result.stderr);
  const fixed = JSON.parse(readPngText(readFileSync(join(root, 'out', 'fixed.png'))).pixelpipe!);
  assert.deepEqual([fixed.settings.operation, fixed.settings.width, fixed.settings.hiresFix.firstPass.width, fixed.settings.hiresFix.upscale.model, fixed.settings.hiresFix.strength], ['image-to-image', 128, 64, 'esrgan-slim-x2', 0.5]);
  assert.equal(JSON.parse(readPngText(readFileSync(join(root, 'out', 'plain.png'))).pixelpipe!).settings.hiresFix, undefined);
  const entry = (path: string) => readLock(root).outputs.find((each) => each.path === path)!;
  assert.notEqual(entry('out/fixed.png').pixelSha256, entry('out/plain.png').pixelSha256);
});
