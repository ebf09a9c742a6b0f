// `pixelpipe generate --upscale N` and `--hires-fix` on the built CLI: tiny SD 1.5, the bundled esrgan-slim upscaler, the upscale's record naming
// the image it came from, and the hires pass as the image-to-image it is.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readPngText } from '../../engine/image/png.js';
import { loadEsrganSlim } from '../../engine/upscale/esrgan-slim.js';
import { upscaleTiled } from '../../engine/upscale/tiled-upscale.js';
import { pixelSha256 } from '../../service/pixel-hash.js';
import { runCli } from '../../testing/cli.js';
import { rawRgb } from '../../testing/images.js';
import { testData } from '../../testing/paths.js';

const work = mkdtempSync(join(tmpdir(), 'pixelpipe-cli-generate-upscale-'));
test.after(() => rmSync(work, { recursive: true, force: true }));
const environment = { PIXELPIPE_DATA_DIR: join(work, 'data') };
const model = testData('fixtures', 'tiny-sd15');

test('--upscale 2 writes NAME-x2.png beside the image: the bundled upscaler\'s pixels of it, with a record whose parent is the image\'s record', async () => {
  const out = join(work, 'cube.png');
  const result = await runCli(['generate', 'a red cube', '--model', model, '--steps', '2', '--seed', '7', '--width', '64', '--height', '64', '--out', out, '--upscale', '2', '--json'], environment);
  assert.equal(result.code, 0, result.stderr);
  const [image] = (JSON.parse(result.stdout) as { images: { path: string; recordId: string; upscaled: { out: string; scale: number; output: { width: number; height: number }; provenance: string } }[] }).images;
  assert.equal(image!.path, out);
  assert.deepEqual({ out: image!.upscaled.out, scale: image!.upscaled.scale, output: image!.upscaled.output, provenance: image!.upscaled.provenance }, { out: join(work, 'cube-x2.png'), scale: 2, output: { width: 128, height: 128 }, provenance: 'recorded' });

  const base = await rawRgb(out);
  const upscaler = await loadEsrganSlim(2);
  const expected = await upscaleTiled(upscaler, { data: base.data, width: 64, height: 64 });
  await upscaler.release();
  const written = await rawRgb(image!.upscaled.out);
  assert.deepEqual([written.width, written.height], [128, 128]);
  assert.ok(Buffer.from(expected.data).equals(Buffer.from(written.data)), 'the upscale is the engine\'s, of the image as written');

  const record = JSON.parse(readPngText(readFileSync(image!.upscaled.out)).pixelpipe!) as { operation: string; parent: { recordId?: string; pixelSha256: string; width: number }; upscale: { scale: number } };
  assert.equal(record.operation, 'upscale');
  assert.equal(record.parent.recordId, image!.recordId);
  assert.equal(record.parent.pixelSha256, (await pixelSha256(readFileSync(out))).pixelSha256);
  assert.equal(record.upscale.scale, 2);

  // Without --json, each image's line is followed by its upscale's.
  const plain = await runCli(['generate', 'a red cube', '--model', model, '--steps', '1', '--seed', '8', '--width', '64', '--height', '64', '--out', join(work, 'plain.png'), '--upscale', '2', '--no-record'], environment);
  assert.equal(plain.code, 0, plain.stderr);
  assert.match(plain.stdout, /plain\.png {2}seed 8\n.*plain-x2\.png: 64×64 → 128×128 \(x2, /);
});

test('--upscale with a scale the bundled upscaler lacks, or --upscale-model alone, is refused before any model runs', async () => {
  const odd = await runCli(['generate', 'a red cube', '--model', model, '--upscale', '5', '--no-record'], environment);
  assert.equal(odd.code, 2, odd.stderr);
  assert.match(odd.stderr, /`--upscale` must be one of 2, 3, 4, 8 for the bundled esrgan-slim upscaler, got 5; for another factor give an ONNX upscaler with --upscale-model/);
  const alone = await runCli(['generate', 'a red cube', '--model', model, '--upscale-model', join(work, 'x.onnx'), '--no-record'], environment);
  assert.equal(alone.code, 2, alone.stderr);
  assert.match(alone.stderr, /`--upscale-model` is used by --upscale N; give --upscale too/);
  const half = await runCli(['generate', 'a red cube', '--model', model, '--upscale', '1.5', '--no-record'], environment);
  assert.equal(half.code, 2, half.stderr);
  assert.match(half.stderr, /`--upscale` must be a whole number of at least 2, got "1.5"/);
});

test('--hires-fix runs image-to-image over the x2 upscale with the same seed: NAME-hires.png is that image-to-image, recorded with the upscale as its input, and reproduces', async () => {
  // Unrecorded, so no watermark differs between the two runs: the hires image is the image-to-image of the upscale.
  const loose = join(work, 'loose.png');
  const unrecorded = await runCli(['generate', 'a red cube', '--model', model, '--steps', '2', '--seed', '11', '--width', '64', '--height', '64', '--out', loose, '--hires-fix', '--hires-strength', '0.5', '--no-record'], environment);
  assert.equal(unrecorded.code, 0, unrecorded.stderr);
  assert.match(unrecorded.stderr, /hires fix: image-to-image over .*loose-x2\.png at strength 0\.5\nstep 1\/1 · /);
  assert.match(unrecorded.stdout, /loose\.png {2}seed 11\n.*loose-x2\.png: 64×64 → 128×128 [^]*\nhires fix: .*loose-hires\.png {2}seed 11\n/);
  const final = await rawRgb(join(work, 'loose-hires.png'));
  assert.deepEqual([final.width, final.height], [128, 128]);
  const byHand = join(work, 'by-hand.png');
  const direct = await runCli(['generate', 'a red cube', '--model', model, '--steps', '2', '--seed', '11', '--width', '128', '--height', '128', '--image', join(work, 'loose-x2.png'), '--strength', '0.5', '--out', byHand, '--no-record'], environment);
  assert.equal(direct.code, 0, direct.stderr);
  assert.ok(Buffer.from((await rawRgb(byHand)).data).equals(Buffer.from(final.data)), 'the hires image is the image-to-image of the upscale');

  const out = join(work, 'hires.png');
  const result = await runCli(['generate', 'a red cube', '--model', model, '--steps', '2', '--seed', '11', '--width', '64', '--height', '64', '--out', out, '--hires-fix', '--hires-strength', '0.5', '--hires-steps', '3', '--json'], environment);
  assert.equal(result.code, 0, result.stderr);
  const [image] = (JSON.parse(result.stdout) as { images: { path: string; recordId: string; upscaled: { out: string }; hires: { path: string; seed: string; recordId: string; settings: { steps: number; width: number; height: number } } }[] }).images;
  assert.equal(image!.upscaled.out, join(work, 'hires-x2.png'));
  assert.equal(image!.hires.path, join(work, 'hires-hires.png'));
  assert.deepEqual([image!.hires.seed, image!.hires.settings.steps, image!.hires.settings.width, image!.hires.settings.height], ['11', 3, 128, 128]);
  assert.notEqual(image!.hires.recordId, image!.recordId);
  const reproduced = await runCli(['reproduce', image!.hires.recordId, '--json'], environment);
  assert.equal(reproduced.code, 0, reproduced.stderr);
  assert.equal((JSON.parse(reproduced.stdout) as { matches: boolean }).matches, true);
});

test('--hires-fix is refused with an input image, a hosted model or a strength out of range, and its settings without it', async () => {
  const cases: [string[], RegExp][] = [
    [['--hires-fix', '--image', join(work, 'cube.png')], /`--hires-fix` finishes a text-to-image generation and cannot go with --image/],
    [['--hires-fix', '--hires-strength', '0'], /`--hires-strength` must be in \(0, 1\], got 0/],
    [['--hires-strength', '0.3'], /`--hires-strength` is a setting of --hires-fix; give --hires-fix too/],
    [['--hires-fix', '--hires-steps', '2.5'], /`--hires-steps` must be a whole number of at least 1, got "2.5"/],
  ];
  for (const [flags, message] of cases) {
    const refused = await runCli(['generate', 'a red cube', '--model', model, ...flags, '--no-record'], environment);
    assert.equal(refused.code, 2, `${flags.join(' ')}: ${refused.stderr}`);
    assert.match(refused.stderr, message);
  }
  const hosted = await runCli(['generate', 'a red cube', '--model', 'openai:gpt-image-1', '--hires-fix', '--no-record'], { ...environment, OPENAI_API_KEY: 'sk-test' });
  assert.equal(hosted.code, 2, hosted.stderr);
  assert.match(hosted.stderr, /`--hires-fix` runs on the local engine, and --model "openai:gpt-image-1" is hosted/);
});
