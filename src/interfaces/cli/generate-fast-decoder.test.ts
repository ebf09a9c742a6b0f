// `pixelpipe generate --decoder fast` on the built CLI: the real VAElight decoder (third-party, read from ../shared) on tiny SD 1.5.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readPngText } from '../../engine/image/png.js';
import { runCli } from '../../testing/cli.js';
import { rawRgb } from '../../testing/images.js';
import { sharedFile, testData } from '../../testing/paths.js';

const work = mkdtempSync(join(tmpdir(), 'pixelpipe-cli-fast-decoder-'));
test.after(() => rmSync(work, { recursive: true, force: true }));
// Every run records into this data directory, not the user's; no decoder of the shell's leaks in.
const environment = { PIXELPIPE_DATA_DIR: join(work, 'data'), PIXELPIPE_FAST_DECODER: '', PIXELPIPE_PREVIEW_DECODER: '' };
const model = testData('fixtures', 'tiny-sd15');

test('--decoder fast writes a fast-decoded image whose PNG and record name the decoder, and `reproduce` makes it again', async (t) => {
  const decoder = sharedFile(t, 'fixtures', 'vaelight', 'VAEpreview.onnx');
  if (!decoder) return;
  const sha256 = createHash('sha256').update(readFileSync(decoder)).digest('hex');
  const out = join(work, 'draft.png');
  const withDecoder = { ...environment, PIXELPIPE_FAST_DECODER: decoder };
  const result = await runCli(['generate', 'a draft cube', '--model', model, '--steps', '2', '--seed', '5', '--width', '64', '--height', '64', '--decoder', 'fast', '--out', out, '--json'], withDecoder);
  assert.equal(result.code, 0, result.stderr);
  const [image] = (JSON.parse(result.stdout) as { images: { recordId: string; settings: { decoder?: unknown } }[] }).images;
  assert.deepEqual(image!.settings.decoder, { type: 'fast', name: 'VAEpreview.onnx', sha256 });
  const pixels = await rawRgb(out);
  assert.deepEqual([pixels.width, pixels.height], [64, 64]);
  const text = readPngText(readFileSync(out));
  assert.ok(text.parameters!.includes(`Decoder: "fast (VAEpreview.onnx, ${sha256.slice(0, 10)})"`), text.parameters);
  const reproduced = await runCli(['reproduce', image!.recordId, '--json'], withDecoder);
  assert.equal(reproduced.code, 0, reproduced.stderr);
  assert.equal((JSON.parse(reproduced.stdout) as { matches: boolean }).matches, true);
});

test('--decoder fast without a configured decoder, or another word, fails naming the setting or the flag', async () => {
  const unconfigured = await runCli(['generate', 'a draft cube', '--model', model, '--steps', '1', '--decoder', 'fast', '--out', join(work, 'none.png'), '--no-record'], environment);
  assert.equal(unconfigured.code, 2, unconfigured.stderr);
  assert.match(unconfigured.stderr, /`decoder` "fast" needs a fast decoder, and none is configured here: set PIXELPIPE_FAST_DECODER/);
  const unknown = await runCli(['generate', 'a draft cube', '--model', model, '--decoder', 'quick', '--no-record'], environment);
  assert.equal(unknown.code, 2, unknown.stderr);
  assert.match(unknown.stderr, /`--decoder` must be one of full, fast, got "quick"/);
});
