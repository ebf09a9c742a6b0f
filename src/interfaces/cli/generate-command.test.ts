import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import ExifReader from 'exifreader';
import { readPngText } from '../../engine/image/png.js';
import { runCli } from '../../testing/cli.js';
import { maxChannelDifference } from '../../testing/images.js';
import { testData } from '../../testing/paths.js';
import { pipelineIndex, pipelineRun, referenceSamplers, type PipelineRun } from '../../testing/conformance.js';
import { flowReferences } from '../../testing/flow-references.js';

const index = pipelineIndex;
const textToImageRuns = index.runs.filter((run) => run.pipeline === 'StableDiffusionPipeline');
const samplerOf = (run: PipelineRun) => referenceSamplers[run.scheduler.split(' ')[0]!]!;
const work = mkdtempSync(join(tmpdir(), 'pixelpipe-cli-'));
test.after(() => rmSync(work, { recursive: true, force: true }));
// Every run records into this data directory, not the user's.
const dataDir = join(work, 'data');
process.env.PIXELPIPE_DATA_DIR = dataDir;
const initImage = testData('conformance', 'inputs', 'init_image.png');
const maskImage = testData('conformance', 'inputs', 'mask_image.png');

/** A model folder whose components are the fixture's and whose scheduler config is the reference run's. */
function modelFolder(fixture: string, run: PipelineRun): string {
  const folder = join(work, `${fixture}-${run.id}`);
  cpSync(testData('fixtures', fixture), folder, { recursive: true, filter: (source) => !source.endsWith('.onnx') });
  for (const part of ['text_encoder', 'text_encoder_2', 'unet', 'vae_decoder', 'vae_encoder']) {
    if (!existsSync(testData('fixtures', fixture, part))) continue;
    rmSync(join(folder, part, 'model.onnx'), { force: true });
    symlinkSync(testData('fixtures', fixture, part, 'model.onnx'), join(folder, part, 'model.onnx'));
  }
  writeFileSync(join(folder, 'scheduler', 'scheduler_config.json'), JSON.stringify(run.scheduler_config));
  return folder;
}

for (const fixture of ['tiny-sd15', 'tiny-sd15-legacy-io']) {
  for (const run of textToImageRuns) {
    test(`CLI matches diffusers within 1/255: ${run.id} on ${fixture}`, async (t) => {
      const out = join(work, `${fixture}-${run.id}.png`);
      const { call } = run;
      const result = await runCli([
        'generate', call.prompt, '--model', modelFolder(fixture, run), '--negative', call.negative_prompt,
        '--seed', String(index.defaults.seed), '--steps', String(call.num_inference_steps), '--guidance', String(call.guidance_scale),
        '--sampler', samplerOf(run), '--width', String(call.width), '--height', String(call.height), '--out', out, '--no-record',
      ]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, new RegExp(`${out.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s+seed 42`));
      const difference = await maxChannelDifference(out, testData('conformance', 'pipelines', run.files.png));
      t.diagnostic(`max per-channel difference ${difference}/255`);
      assert.ok(difference <= 1, `max difference ${difference}/255`);
      const text = readPngText(readFileSync(out));
      assert.match(text.parameters!, /^a red cube\nSteps: \d+, Sampler: .+, CFG scale: .+, Seed: 42, Size: 64x64/);
      const record = JSON.parse(text.pixelpipe!) as { settings: { seed: string; steps: number; sampler: string } };
      assert.equal(record.settings.seed, '42');
      assert.equal(record.settings.sampler, samplerOf(run));
    });
  }
}

for (const family of ['sd3', 'flux'] as const) {
  const references = flowReferences(family);
  for (const run of references.runs) {
    test(`CLI ${family === 'sd3' ? 'SD3' : 'FLUX.1'} matches diffusers within 1/255: ${run.id}`, async (t) => {
      const out = join(work, `${run.id}.png`);
      const { call } = run;
      const result = await runCli([
        'generate', call.prompt, '--model', testData('fixtures', run.fixture), ...(call.negative_prompt !== undefined ? ['--negative', call.negative_prompt] : []),
        '--seed', String(references.defaults.seed), '--steps', String(call.num_inference_steps), '--guidance', String(call.guidance_scale),
        '--width', String(call.width), '--height', String(call.height), '--out', out, '--no-record',
      ]);
      assert.equal(result.code, 0, result.stderr);
      const difference = await maxChannelDifference(out, testData('conformance', 'pipelines', family, run.files.png));
      t.diagnostic(`max per-channel difference ${difference}/255`);
      assert.ok(difference <= 1, `max difference ${difference}/255`);
      const record = JSON.parse(readPngText(readFileSync(out)).pixelpipe!) as { settings: { sampler: string }; model: { family: string; hash: string } };
      assert.equal(record.settings.sampler, 'flowmatch_euler', 'the folder\'s FlowMatchEulerDiscreteScheduler');
      assert.equal(record.model.family, family === 'sd3' ? 'stable-diffusion-3' : 'flux');
      const transformerHash = createHash('sha256').update(readFileSync(testData('fixtures', run.fixture, 'transformer', 'model.onnx'))).digest('hex');
      assert.equal(record.model.hash, `sha256:${transformerHash}`);
    });
  }
}

test('SD3 and FLUX.1: a side off the family\'s size rule, a noise-prediction sampler and an edit the family lacks are refused, each naming the rule', async () => {
  const sd3 = testData('fixtures', 'tiny-sd3');
  const offGrid = await runCli(['generate', 'a red cube', '--model', sd3, '--width', '72', '--height', '64', '--steps', '1', '--no-record']);
  assert.notEqual(offGrid.code, 0);
  assert.match(offGrid.stderr, /`width` must be a multiple of 16 for this model \(its VAE's 8× downsampling times the transformer's 2×2 patches\), got 72/);
  const tooLarge = await runCli(['generate', 'a red cube', '--model', sd3, '--width', '64', '--height', '1024', '--steps', '1', '--no-record']);
  assert.match(tooLarge.stderr, /`height` must be at most 512 for this model/);
  const fluxOffGrid = await runCli(['generate', 'a red cube', '--model', testData('fixtures', 'tiny-flux'), '--width', '64', '--height', '56', '--steps', '1', '--no-record']);
  assert.match(fluxOffGrid.stderr, /`height` must be a multiple of 16 for this model \(its VAE's 8× downsampling times FLUX's packing of 2×2 latent cells into one token\), got 56/);
  const sampler = await runCli(['generate', 'a red cube', '--model', sd3, '--sampler', 'euler', '--width', '64', '--height', '64', '--steps', '1', '--no-record']);
  assert.notEqual(sampler.code, 0);
  assert.match(sampler.stderr, /`sampler` must be one of flowmatch_euler for SD3 models, got "euler"/);
  const fluxInpaint = await runCli(['generate', 'a red cube', '--model', testData('fixtures', 'tiny-flux'), '--image', initImage, '--mask', maskImage, '--steps', '2', '--no-record']);
  assert.notEqual(fluxInpaint.code, 0);
  assert.match(fluxInpaint.stderr, /inpainting is not supported for FLUX\.1 models \(tiny-flux\); pixelpipe runs FLUX\.1 text-to-image and image-to-image only/);
});

test('CLI FLUX.1 image-to-image (--strength 0.6) writes an image recorded as image-to-image', async () => {
  const out = join(work, 'flux-img2img.png');
  const result = await runCli(['generate', 'a red cube', '--model', testData('fixtures', 'tiny-flux'), '--image', initImage, '--strength', '0.6', '--steps', '4', '--seed', '42', '--out', out]);
  assert.equal(result.code, 0, result.stderr);
  const record = JSON.parse(readPngText(readFileSync(out)).pixelpipe!) as { settings: { width: number; height: number; operation: string; edit?: { strength: number } }; model: { family: string } };
  assert.deepEqual([record.settings.width, record.settings.height, record.settings.operation, record.settings.edit?.strength, record.model.family], [64, 64, 'image-to-image', 0.6, 'flux']);
});

test('CLI SD3 image-to-image (--strength 0.6) writes an image recorded as image-to-image', async () => {
  const out = join(work, 'sd3-img2img.png');
  const result = await runCli(['generate', 'a red cube', '--model', testData('fixtures', 'tiny-sd3'), '--image', initImage, '--strength', '0.6', '--steps', '4', '--seed', '42', '--out', out]);
  assert.equal(result.code, 0, result.stderr);
  const record = JSON.parse(readPngText(readFileSync(out)).pixelpipe!) as { settings: { width: number; height: number; operation: string; strength?: number }; model: { family: string } };
  assert.deepEqual([record.settings.width, record.settings.height, record.settings.operation, record.model.family], [64, 64, 'image-to-image', 'stable-diffusion-3']);
});

test('CLI SD3 inpainting (--mask) writes an image recorded as inpaint, its kept pixels pasted back', async () => {
  const out = join(work, 'sd3-inpaint.png');
  const result = await runCli(['generate', 'a red cube', '--model', testData('fixtures', 'tiny-sd3'), '--image', initImage, '--mask', maskImage, '--steps', '2', '--seed', '42', '--out', out]);
  assert.equal(result.code, 0, result.stderr);
  const record = JSON.parse(readPngText(readFileSync(out)).pixelpipe!) as { settings: { operation: string }; model: { family: string } };
  assert.deepEqual([record.settings.operation, record.model.family], ['inpaint', 'stable-diffusion-3']);
});

test('n images use seed, seed+1, ... and --json reports each', async () => {
  const out = join(work, 'batch.png');
  const result = await runCli(['generate', 'a red cube', '--model', testData('fixtures', 'tiny-sd15'), '--seed', '18446744073709551614', '--steps', '2', '--n', '2', '--out', out, '--json']);
  assert.equal(result.code, 0, result.stderr);
  const report = JSON.parse(result.stdout) as { images: Array<{ path: string; seed: string }> };
  assert.deepEqual(report.images.map((image) => image.seed), ['18446744073709551614', '18446744073709551615']);
  assert.deepEqual(report.images.map((image) => image.path), [join(work, 'batch-1.png'), join(work, 'batch-2.png')]);
  const difference = await maxChannelDifference(report.images[0]!.path, report.images[1]!.path);
  assert.ok(difference > 0, 'different seeds must give different images');
});

test('every image is recorded in the data directory: the file written is the stored one, names its record, and `history` and `reproduce` know it; --no-record keeps none', async () => {
  const out = join(work, 'recorded.jpg');
  const result = await runCli(['generate', 'a recorded cube', '--model', testData('fixtures', 'tiny-sd15'), '--steps', '2', '--seed', '7', '--image', initImage, '--strength', '0.5', '--out', out, '--json']);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stderr, new RegExp(`data directory: ${dataDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(PIXELPIPE_DATA_DIR\\); using the embedded database`));
  const [image] = (JSON.parse(result.stdout) as { images: { recordId: string; writtenAs: string; provenance: { c2pa: string } }[] }).images;
  assert.equal(image!.writtenAs, 'image/jpeg');
  const history = await runCli(['history', '--json', '--prompt', 'recorded cube']);
  assert.equal(history.code, 0, history.stderr);
  const [record, ...others] = (JSON.parse(history.stdout) as { records: { id: string; sha256: string; mediaType: string; request: { images: { blobKey: string }[]; strength: number; seed: string } }[] }).records;
  assert.equal(others.length, 0);
  assert.equal(record!.id, image!.recordId);
  // The file is the stored blob, byte for byte, and carries its record's id.
  assert.equal(record!.sha256, `sha256:${createHash('sha256').update(readFileSync(out)).digest('hex')}`);
  assert.equal(record!.mediaType, 'image/jpeg');
  assert.match(readFileSync(out).toString('latin1'), new RegExp(`recordId[^0-9a-f]+${record!.id}`));
  // The input image is stored with it, so the edit can be made again from the record alone.
  assert.match(record!.request.images[0]!.blobKey, /^sha256\/[0-9a-f]{2}\/[0-9a-f]{2}\/[0-9a-f]{64}\.png$/);
  assert.deepEqual([record!.request.strength, record!.request.seed], [0.5, '7']);
  const reproduced = await runCli(['reproduce', record!.id, '--json']);
  assert.equal(reproduced.code, 0, reproduced.stderr);
  assert.equal((JSON.parse(reproduced.stdout) as { matches: boolean }).matches, true);

  const unrecorded = await runCli(['generate', 'an unrecorded cube', '--model', testData('fixtures', 'tiny-sd15'), '--steps', '2', '--out', join(work, 'unrecorded.png'), '--no-record']);
  assert.equal(unrecorded.code, 0, unrecorded.stderr);
  assert.doesNotMatch(unrecorded.stderr, /data directory/);
  assert.doesNotMatch(readPngText(readFileSync(join(work, 'unrecorded.png'))).pixelpipe!, /recordId/);
  const none = await runCli(['history', '--json', '--prompt', 'unrecorded cube']);
  assert.deepEqual((JSON.parse(none.stdout) as { records: unknown[] }).records, []);
});

test('without a terminal, progress is one plain line per step on stderr; --threads reaches the runtime', async () => {
  const result = await runCli(['generate', 'a red cube', '--model', testData('fixtures', 'tiny-sd15'), '--steps', '3', '--sampler', 'euler', '--threads', '1', '--out', join(work, 'progress.png'), '--no-record']);
  assert.equal(result.code, 0, result.stderr);
  const lines = result.stderr.trim().split('\n');
  assert.deepEqual(lines.map((line) => /^step (\d)\/3 · [\d.]+ steps\/s · ETA \d\d:\d\d$/.exec(line)?.[1]), ['1', '2', '3']);
});

test('--execution-provider cuda on a machine without the CUDA provider says what is missing', async () => {
  const result = await runCli(['generate', 'a red cube', '--model', testData('fixtures', 'tiny-sd15'), '--execution-provider', 'cuda', '--out', join(work, 'cuda.png')]);
  if (result.code === 0) return; // this machine has the CUDA provider installed: nothing is missing
  assert.equal(result.code, 1);
  assert.match(result.stderr, /the CUDA execution provider is not installed: libonnxruntime_providers_cuda\.so is missing/);
});

const badInput: Array<{ name: string; args: string[]; message: RegExp }> = [
  { name: 'width not a multiple of the model\'s size step', args: ['--width', '500'], message: /`width` must be a multiple of 16 for this model .*, got 500 \(try 496 or 512/ },
  { name: 'height not a multiple of the model\'s size step', args: ['--height', '72'], message: /`height` must be a multiple of 16 for this model .*, got 72/ },
  { name: 'steps 0', args: ['--steps', '0'], message: /`steps` must be a whole number from 1 to 1000, got 0/ },
  { name: 'negative guidance', args: ['--guidance=-1'], message: /`guidance` must be a number ≥ 0.*got -1/ },
  { name: 'unknown sampler', args: ['--sampler', 'heun'], message: /`sampler` must be one of euler, euler_a, ddim, dpmpp_2m, dpmpp_2m_karras, lcm, pndm.*got "heun"/ },
  { name: 'seed above 2^64-1', args: ['--seed', '18446744073709551616'], message: /`seed` must be an integer from 0 to 18446744073709551615, got 18446744073709551616/ },
  { name: 'negative seed', args: ['--seed=-5'], message: /`seed` must be an integer from 0 to 18446744073709551615/ },
];

for (const { name, args, message } of badInput) {
  test(`bad input is a clear error with a non-zero exit: ${name}`, async () => {
    const result = await runCli(['generate', 'a red cube', '--model', testData('fixtures', 'tiny-sd15'), '--out', join(work, 'bad.png'), ...args]);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, message);
    assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace for bad input');
  });
}

test('--out with an extension no format has is refused before any model is resolved or loaded', async () => {
  // Loading the command's modules alone takes a while on a busy machine; the check must add under a second to that.
  let started = Date.now();
  assert.equal((await runCli(['--version'])).code, 0);
  const startup = Date.now() - started;
  started = Date.now();
  const result = await runCli(['generate', 'a red cube', '--model', join(work, 'no-such-model-for-gif'), '--out', join(work, 'x.gif')], { PIXELPIPE_HUB_URL: 'http://127.0.0.1:9' });
  const elapsed = Date.now() - started;
  assert.equal(result.code, 2, result.stderr);
  assert.equal(result.stderr, 'error: `--out` must end in .png, .jpg, .jpeg or .webp (the file\'s format follows its name), got ".gif"\n');
  assert.ok(elapsed < startup + 1000, `refusing --out took ${elapsed} ms, starting the CLI ${startup} ms`);
  assert.ok(!existsSync(join(work, 'x.gif')));
});

test('--out x.jpg and x.webp keep the record: prompt and seed in EXIF UserComment, the record JSON in XMP', async () => {
  for (const extension of ['jpg', 'webp']) {
    const out = join(work, `record.${extension}`);
    const result = await runCli(['generate', 'a red cube', '--model', testData('fixtures', 'tiny-sd15'), '--negative', 'blurry', '--seed', '31337', '--steps', '1', '--out', out]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /seed 31337 {2}record [0-9a-f-]{36} {2}\(converted from image\/png\)/);
    const tags = ExifReader.load(readFileSync(out), { expanded: true });
    const comment = Buffer.from((tags.exif?.UserComment as { value?: number[] } | undefined)?.value ?? []);
    assert.equal(comment.toString('latin1', 0, 8), 'UNICODE\0', `${out}: UserComment with its character code`);
    const parameters = Buffer.from(comment.subarray(8)).swap16().toString('utf16le');
    assert.match(parameters, /^a red cube\nNegative prompt: blurry\nSteps: 1, .*Seed: 31337, Size: 64x64/);
    const record = JSON.parse((tags.xmp as Record<string, { value: string }> | undefined)?.record?.value ?? 'null') as { settings: { prompt: string; seed: string } } | null;
    assert.equal(record?.settings.prompt, 'a red cube');
    assert.equal(record?.settings.seed, '31337');
  }
});

test('a first run that cannot reach the hub says what to do instead, in one line without a stack', async () => {
  const hub = createServer();
  await new Promise<void>((resolve) => hub.listen(0, '127.0.0.1', resolve));
  const { port } = hub.address() as AddressInfo;
  await new Promise((resolve) => hub.close(resolve));
  const cache = mkdtempSync(join(work, 'empty-cache-'));
  const result = await runCli(['generate', 'a red cube', '--out', join(work, 'offline.png')], { PIXELPIPE_HUB_URL: `http://127.0.0.1:${port}`, HF_ENDPOINT: '', PIXELPIPE_CACHE_DIR: cache });
  assert.equal(result.code, 1, result.stderr);
  const last = result.stderr.trim().split('\n').at(-1)!;
  assert.match(last, new RegExp(`^error: Could not reach http://127\\.0\\.0\\.1:${port}.*ECONNREFUSED.*To go on without it: pass \`--model\``));
  assert.match(last, /PIXELPIPE_HUB_URL \(or HF_ENDPOINT\)/);
  assert.match(last, /`--model openai:gpt-image-1` with OPENAI_API_KEY set/);
  assert.doesNotMatch(result.stderr, /\n\s+at /);
});

test('a missing model folder is named', async () => {
  const result = await runCli(['generate', 'a red cube', '--model', join(work, 'no-such-model')]);
  assert.notEqual(result.code, 0);
  assert.match(result.stderr, /model folder .*no-such-model does not exist/);
});

test('a partial model folder names the missing file', async () => {
  const folder = join(work, 'partial');
  cpSync(testData('fixtures', 'tiny-sd15'), folder, { recursive: true });
  rmSync(join(folder, 'unet', 'model.onnx'));
  const result = await runCli(['generate', 'a red cube', '--model', folder]);
  assert.notEqual(result.code, 0);
  assert.match(result.stderr, /incomplete: missing unet\/model\.onnx/);
});

test('a corrupt ONNX file is named', async () => {
  const folder = join(work, 'corrupt');
  cpSync(testData('fixtures', 'tiny-sd15'), folder, { recursive: true });
  writeFileSync(join(folder, 'unet', 'model.onnx'), readFileSync(testData('fixtures', 'tiny-sd15', 'unet', 'model.onnx')).subarray(0, 5000));
  const result = await runCli(['generate', 'a red cube', '--model', folder]);
  assert.notEqual(result.code, 0);
  assert.match(result.stderr, /unet\/model\.onnx could not be loaded by ONNX Runtime/);
});


for (const [id, edit] of [['sdxl_euler_s4_g5', []], ['img2img_euler_s4_g7.5', ['--image', initImage, '--strength', '0.5']], ['inpaint_euler_s4_g7.5', ['--image', initImage, '--mask', maskImage, '--no-composite']]] as const) {
  test(`CLI matches diffusers within 1/255: ${id}`, async (t) => {
    const run = pipelineRun(id);
    const out = join(work, `${id}.png`);
    const { call } = run;
    const result = await runCli([
      'generate', call.prompt, '--model', modelFolder(run.fixture, run), '--negative', call.negative_prompt, '--seed', String(index.defaults.seed),
      '--steps', String(call.num_inference_steps), '--guidance', String(call.guidance_scale), '--sampler', samplerOf(run), ...edit, '--out', out, '--no-record',
    ]);
    assert.equal(result.code, 0, result.stderr);
    const difference = await maxChannelDifference(out, testData('conformance', 'pipelines', run.files.png));
    t.diagnostic(`max per-channel difference ${difference}/255`);
    assert.ok(difference <= 1, `max difference ${difference}/255`);
  });
}

test('CLI outpainting writes the grown canvas and previews of every step', async () => {
  const out = join(work, 'outpaint.png');
  const previews = join(work, 'previews');
  const result = await runCli(['generate', 'a red cube', '--model', testData('fixtures', 'tiny-sd15'), '--image', initImage, '--extend', 'left=32,right=32', '--steps', '3', '--sampler', 'euler', '--seed', '5', '--preview-dir', previews, '--out', out]);
  assert.equal(result.code, 0, result.stderr);
  const record = JSON.parse(readPngText(readFileSync(out)).pixelpipe!) as { settings: { width: number; height: number; operation: string } };
  assert.deepEqual([record.settings.width, record.settings.height, record.settings.operation], [128, 64, 'outpaint']);
  assert.deepEqual(readdirSync(previews).sort(), ['step-001.png', 'step-002.png', 'step-003.png']);
});

test('CLI SDXL: the model folder sets the default size; the mask convention detected is reported', async () => {
  const out = join(work, 'sdxl.png');
  const result = await runCli(['generate', 'a red cube', '--model', testData('fixtures', 'tiny-sdxl'), '--steps', '2', '--seed', '1', '--image', initImage, '--mask', maskImage, '--out', out]);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stderr, /warning: mask convention detected from the file: luminance.*; set --mask-convention to choose it explicitly/);
  assert.doesNotMatch(result.stderr, /maskConvention/, 'the CLI names its flag, not the library option');
  const record = JSON.parse(readPngText(readFileSync(out)).pixelpipe!) as { settings: { width: number }; model: { family: string } };
  assert.equal(record.model.family, 'stable-diffusion-xl');
  assert.equal(record.settings.width, 64);
});

const badEdits = [
  { name: 'strength 0', args: ['--image', initImage, '--strength', '0'], message: /`strength` must be a number in \(0, 1\]/ },
  { name: 'strength above 1', args: ['--image', initImage, '--strength', '1.2'], message: /`strength` must be a number in \(0, 1\]/ },
  { name: 'unreadable image', args: ['--image', join(work, 'missing.png')], message: /missing\.png/ },
  { name: 'unknown mask convention', args: ['--image', initImage, '--mask', maskImage, '--mask-convention', 'red'], message: /`--mask-convention` must be one of luminance, alpha/ },
  { name: 'alpha convention for a mask without alpha', args: ['--image', initImage, '--mask', maskImage, '--mask-convention', 'alpha'], message: /^error: `--mask-convention` is 'alpha' but `mask` .* or set `--mask-convention` to 'luminance'/m },
  { name: 'bad --extend', args: ['--image', initImage, '--extend', 'middle=3'], message: /"middle" is not a side/ },
  { name: 'mask without image', args: ['--mask', maskImage], message: /pass the image as `images`/ },
];
for (const { name, args, message } of badEdits) {
  test(`bad editing input is a clear error: ${name}`, async () => {
    const result = await runCli(['generate', 'a red cube', '--model', testData('fixtures', 'tiny-sd15'), '--steps', '1', '--out', join(work, 'bad-edit.png'), ...args]);
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, message);
    assert.doesNotMatch(result.stderr, /\n\s+at /);
  });
}

test('a size over the memory budget is refused before the model loads, naming the budget and the largest size that fits; an absurd side before anything', async () => {
  // A copy of the model whose UNet cannot load: the error must be about memory, so nothing was loaded.
  const model = join(work, 'unloadable-model');
  cpSync(testData('fixtures', 'tiny-sd15'), model, { recursive: true });
  writeFileSync(join(model, 'unet', 'model.onnx'), Buffer.alloc(4096, 7));
  const result = await runCli(['generate', 'a red cube', '--model', model, '--width', '1024', '--height', '1024', '--out', join(work, 'big.png')], { PIXELPIPE_MEMORY_BUDGET: '1GiB' });
  assert.equal(result.code, 2, result.stderr);
  assert.match(result.stderr, /^error: `width` × `height` 1024×1024 needs an estimated \d+\.\d GiB of memory with unloadable-model \(mostly .*\), over the memory budget of 1\.0 GiB \(PIXELPIPE_MEMORY_BUDGET\); the largest square size that fits is \d+×\d+( \(guidance ≤ 1 halves the UNet.s share\))?\n$/);
  const absurd = await runCli(['generate', 'a red cube', '--model', join(work, 'no-such-model'), '--width', '100000', '--out', join(work, 'absurd.png')]);
  assert.equal(absurd.code, 2);
  assert.match(absurd.stderr, /^error: `width` must be at most 16384 pixels for a local model, got 100000/);
});
