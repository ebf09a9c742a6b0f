import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readPngText } from '../../engine/image/png.js';
import { runCli } from '../../testing/cli.js';
import { maxChannelDifference } from '../../testing/images.js';
import { testData } from '../../testing/paths.js';
import { parseLora } from './generate-flags.js';

const work = mkdtempSync(join(tmpdir(), 'pixelpipe-cli-lora-'));
test.after(() => rmSync(work, { recursive: true, force: true }));
process.env.PIXELPIPE_DATA_DIR = join(work, 'data');
const references = testData('conformance', 'pipelines', 'lora');
const run = (JSON.parse(readFileSync(join(references, 'index.json'), 'utf8')) as { runs: Array<{ id: string; call: Record<string, unknown>; scheduler_config: unknown; files: { png: string } }> }).runs[0]!;
const lora = testData('fixtures', 'tiny-sd15-lora', 'tiny-sd15-lora.kohya.safetensors');

test('--lora FILE[:SCALE] parses the scale after the last colon', () => {
  assert.deepEqual(parseLora('a/b.safetensors:0.8'), { path: 'a/b.safetensors', scale: 0.8 });
  assert.deepEqual(parseLora('a/b.safetensors'), { path: 'a/b.safetensors', scale: 1 });
  assert.deepEqual(parseLora('C:\\loras\\b.safetensors'), { path: 'C:\\loras\\b.safetensors', scale: 1 });
  assert.throws(() => parseLora('b.safetensors:strong'), /--lora.*FILE:SCALE/);
});

test('CLI with --lora matches diffusers within 1/255, and the PNG names the LoRA with its scale and hash', async (t) => {
  const folder = join(work, 'tiny-sd15');
  cpSync(testData('fixtures', 'tiny-sd15'), folder, { recursive: true, filter: (source) => !source.endsWith('.onnx') });
  for (const part of ['text_encoder', 'unet', 'vae_decoder', 'vae_encoder']) {
    if (existsSync(testData('fixtures', 'tiny-sd15', part))) symlinkSync(testData('fixtures', 'tiny-sd15', part, 'model.onnx'), join(folder, part, 'model.onnx'));
  }
  writeFileSync(join(folder, 'scheduler', 'scheduler_config.json'), JSON.stringify(run.scheduler_config));
  const out = join(work, 'lora.png');
  const result = await runCli([
    'generate', 'a red cube', '--model', folder, '--negative', '', '--seed', '42', '--steps', '4', '--guidance', '7.5',
    '--sampler', 'euler', '--width', '64', '--height', '64', '--lora', `${lora}:1`, '--out', out, '--no-record',
  ]);
  assert.equal(result.code, 0, result.stderr);
  const difference = await maxChannelDifference(out, join(references, run.files.png));
  t.diagnostic(`max per-channel difference ${difference}/255`);
  assert.ok(difference <= 1, `max difference ${difference}/255`);
  const sha256 = createHash('sha256').update(readFileSync(lora)).digest('hex');
  const text = readPngText(readFileSync(out));
  assert.match(text.parameters!, new RegExp(`Lora hashes: "tiny-sd15-lora\\.kohya: ${sha256.slice(0, 10)}"`));
  const record = JSON.parse(text.pixelpipe!) as { settings: { loras: unknown } };
  assert.deepEqual(record.settings.loras, [{ name: 'tiny-sd15-lora.kohya', scale: 1, sha256 }]);
});
