import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { readPngText } from '../../engine/image/png.js';
import { runCli } from '../../testing/cli.js';
import { maxChannelDifference } from '../../testing/images.js';
import { testData } from '../../testing/paths.js';
import { controlsOfFlags, parseControl } from './control-flag.js';

const work = mkdtempSync(join(tmpdir(), 'pixelpipe-cli-controlnet-'));
test.after(() => rmSync(work, { recursive: true, force: true }));
process.env.PIXELPIPE_DATA_DIR = join(work, 'data');
const references = testData('conformance', 'pipelines', 'controlnet');
const run = (JSON.parse(readFileSync(join(references, 'index.json'), 'utf8')) as { runs: Array<{ id: string; scheduler_config: unknown; controlnet_conditioning_scale: number; files: { png: string } }> }).runs[0]!;
const fixture = testData('fixtures', 'tiny-sd15-controlnet');
const controlImage = testData('conformance', 'inputs', 'control_image.png');
// The fixture ships PNDM's config; the reference ran Euler with this one.
const folder = join(work, 'tiny-sd15-controlnet');
cpSync(fixture, folder, { recursive: true });
writeFileSync(join(folder, 'scheduler', 'scheduler_config.json'), JSON.stringify(run.scheduler_config));
const common = ['generate', 'a red cube', '--model', folder, '--negative', '', '--seed', '42', '--steps', '4', '--guidance', '7.5', '--sampler', 'euler', '--width', '64', '--height', '64', '--no-record'];

test('--control TYPE:IMAGE[:SCALE] and --controlnet pair up', () => {
  assert.deepEqual(parseControl('canny:photo.png:0.8'), { type: 'canny', image: 'photo.png', scale: 0.8 });
  assert.deepEqual(parseControl('image:C:\\edges.png'), { type: 'image', image: 'C:\\edges.png' });
  assert.throws(() => parseControl('depth:x.png'), /TYPE one of canny, scribble, image/);
  assert.deepEqual(controlsOfFlags({ control: ['image:a.png', 'canny:b.png:0.5'], controlnet: ['net'], start: 0.1 }), [
    { type: 'image', image: 'a.png', model: 'net', start: 0.1 }, { type: 'canny', image: 'b.png', scale: 0.5, model: 'net', start: 0.1 },
  ]);
  assert.equal(controlsOfFlags({ control: ['image:a.png', 'image:b.png'], controlnet: ['n1', 'n2'] })![1]!.model, 'n2');
  assert.throws(() => controlsOfFlags({ control: ['image:a.png', 'image:b.png', 'image:c.png'], controlnet: ['n1', 'n2'] }), /one `--controlnet PATH` for all 3/);
  assert.throws(() => controlsOfFlags({ controlnet: ['n1'] }), /need a `--control/);
  assert.deepEqual(controlsOfFlags({ control: ['canny:a.png', 'image:b.png'], controlnet: ['n'], canny: '50:150' })!.map(({ low, high }) => [low, high]), [[50, 150], [undefined, undefined]]);
  assert.throws(() => controlsOfFlags({ control: ['canny:a.png'], controlnet: ['n'], canny: '200:100' }), /--canny.*LOW:HIGH/);
});

test(`CLI with --control image:… matches diffusers within 1/255 (${run.id}), and the PNG names the control`, async (t) => {
  const out = join(work, 'controlnet.png');
  const result = await runCli([...common, '--control', `image:${controlImage}:${run.controlnet_conditioning_scale}`, '--controlnet', folder, '--out', out]);
  assert.equal(result.code, 0, result.stderr);
  const difference = await maxChannelDifference(out, join(references, run.files.png));
  t.diagnostic(`max per-channel difference ${difference}/255`);
  assert.ok(difference <= 1, `max difference ${difference}/255`);
  const text = readPngText(readFileSync(out));
  const netHash = createHash('sha256').update(readFileSync(join(fixture, 'controlnet', 'model.onnx'))).digest('hex');
  const imageHash = createHash('sha256').update(readFileSync(controlImage)).digest('hex');
  assert.match(text.parameters!, new RegExp(`ControlNet 0: "Module: image, Model: tiny-sd15-controlnet \\[${netHash.slice(0, 8)}\\], Weight: 1, Guidance Start: 0, Guidance End: 1, Image hash: ${imageHash.slice(0, 10)}"`));
  const record = JSON.parse(text.pixelpipe!) as { settings: { controls: unknown } };
  assert.deepEqual(record.settings.controls, [{ model: 'tiny-sd15-controlnet', sha256: netHash, type: 'image', scale: 1, start: 0, end: 1, image: `sha256:${imageHash}` }]);
});

test('a control image of the wrong size is resized to the output size, with a warning', async () => {
  const small = join(work, 'small-control.png');
  await sharp(controlImage).resize(32, 48).toFile(small);
  const out = join(work, 'resized.png');
  const result = await runCli([...common, '--control', `canny:${small}`, '--controlnet', folder, '--control-end', '0.5', '--out', out, '--json']);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout + result.stderr, /is 32×48; it was resized to the output size 64×64/);
  const record = JSON.parse(readPngText(readFileSync(out)).pixelpipe!) as { settings: { controls: Array<Record<string, unknown>> } };
  assert.deepEqual([record.settings.controls[0]!.type, record.settings.controls[0]!.end, record.settings.controls[0]!.low], ['canny', 0.5, 100]);
});

test('bad input: a missing ControlNet file, and a ControlNet given to an SDXL model', async () => {
  const missing = await runCli([...common, '--control', `image:${controlImage}`, '--controlnet', join(work, 'nowhere'), '--out', join(work, 'x.png')]);
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /no ControlNet at .*nowhere/);
  const sdxl = await runCli([...common.map((arg) => (arg === folder ? testData('fixtures', 'tiny-sdxl') : arg)), '--control', `image:${controlImage}`, '--controlnet', folder, '--out', join(work, 'y.png')]);
  assert.notEqual(sdxl.code, 0);
  assert.match(sdxl.stderr, /ControlNet tiny-sd15-controlnet \(for SD 1\.x\/2\.x\) cannot be used with tiny-sdxl \(SDXL\)/);
});
