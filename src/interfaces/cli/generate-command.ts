// `pixelpipe generate "PROMPT" ...`: parse flags, run the library call, write files, print where they went.
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, extname, join, resolve } from 'node:path';
import { parseExtension } from './extend-flag.js';
import { controlsOfFlags } from './control-flag.js';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { parseSeed } from '../../providers/shared/call-validation.js';
import { encodeForPath, extensionOfMediaType, mediaTypeOf, outputFormatOf } from '../../service/image-files.js';
import type { GenerateResult, Pixelpipe, PixelpipeOptions } from '../../service/pixelpipe.js';
import type { ServiceAdmin } from '../../service/admin/service-admin.js';
import type { GenerationToRecord, RecordedGeneration } from '../../service/generation/image-recording.js';
import type { EncodedImage } from '../../service/provenance/image-finishing.js';
import { detectImageMediaType } from '../../providers/shared/image-data.js';
import type { Moderation } from '../../service/safety/moderation.js';
import { defaultHiresStrength } from '../../service/generation/hires-fix.js';
import { defaultHiresScale } from '../../service/upscaling/upscale-plan.js';
import { commandSettings, openAdmin } from './service-data.js';
import { number, oneOf, parseFlags, parseLora, renameToFlags, inFlagTerms, wholeNumber, type GenerateFlags } from './generate-flags.js';
import { createProgressPrinter } from './progress.js';
import { checkBundledScale, describeUpscale, upscaleFile, type UpscaleSummary } from './upscale-command.js';

export const generateUsage = `usage: pixelpipe generate "PROMPT" [--model M] [--negative TEXT] [--seed N] [--steps N]
         [--guidance F] [--sampler NAME] [--width W] [--height H] [--n N] [--out PATH] [--json]
         [--image PATH [--strength S] [--fit cover|contain|fill]]
         [--mask PATH [--mask-convention luminance|alpha] [--mask-blur PX] [--no-composite]]
         [--extend left=128,right=128] [--preview-dir DIR] [--decoder full|fast] [--vae-fallback PATH] [--lora FILE[:SCALE]]...
         [--control TYPE:IMAGE[:SCALE]]... [--controlnet PATH]... [--control-start F] [--control-end F] [--canny LOW:HIGH]
         [--upscale 2|3|4|8 [--upscale-model PATH]] [--hires-fix [--hires-strength S] [--hires-steps N]]
         [--max-cost USD] [--execution-provider cpu|cuda] [--threads N] [--data-dir DIR] [--no-record]

  --model M      local: a model folder (Optimum ONNX layout) or a Hugging Face repo id[@revision],
                 optionally as local:M; without it the default model is pulled on first use.
                 hosted: PROVIDER:MODEL, e.g. openai:gpt-image-1 (see \`pixelpipe models --providers\`).
                 several, comma-separated: tried in order until one succeeds
  --max-cost USD with several models: skip those whose estimated cost is above USD
  --out PATH     file (image.png; with --n > 1 image-1.png, image-2.png, ...) or folder; default: .
                 the file's format follows its name (.png, .jpg, .webp), converted when needed
  --json         print the result as JSON on stdout
  --image PATH   edit this image (image-to-image; with --mask inpainting; with --extend outpainting)
  --strength S   how much to change it, in (0, 1]; default 0.8 (inpainting and outpainting: 1)
  --mask PATH    white = repaint (luminance) or transparent = repaint (alpha); detected and reported
  --extend SIDES grow the canvas, e.g. left=128,right=128 (any of left, right, top, bottom)
  --no-composite return the decoded result as is, instead of pasting the kept pixels back exactly
  --preview-dir DIR  write a preview PNG after every step (PIXELPIPE_PREVIEW_DECODER for a tiny decoder)
  --decoder fast decode with the small fast decoder (PIXELPIPE_FAST_DECODER, else PIXELPIPE_PREVIEW_DECODER)
                 instead of the model's VAE: approximate, for drafts; local SD 1.x/2.x models only.
                 default full
  --vae-fallback PATH  VAE decoder to use when the model's returns NaN/inf (fp16 SDXL VAEs)
  --lora FILE[:SCALE]  merge a LoRA .safetensors (kohya, diffusers/PEFT) into a local SD 1.x/2.x or
                 SDXL model at SCALE (default 1); repeat for several
  --control TYPE:IMAGE[:SCALE]  guide a local SD 1.x/2.x model with a ControlNet: TYPE canny (edges
                 found here), scribble (binarised) or image (a ready control image, as is); SCALE
                 default 1; repeat for several (their residuals add up); see docs/controlnet.md
  --controlnet PATH  the ControlNet (a folder holding controlnet/model.onnx, or the model.onnx):
                 once for every --control, or once per --control in the same order
  --control-start F, --control-end F  the fraction of the steps the ControlNets act in (default 0, 1)
  --canny LOW:HIGH  canny's hysteresis thresholds for every canny --control (default 100:200)
  --upscale N    also write each image upscaled xN beside it (NAME-xN.EXT), in tiles, as
                 \`pixelpipe upscale\` does: the bundled esrgan-slim weights (x2, x3, x4, x8), or
                 --upscale-model PATH (an ONNX upscaler). A recorded PNG's upscale names it as parent
  --hires-fix    then run image-to-image over each upscale (x2 unless --upscale), with the same
                 prompt, seed and model, at --hires-strength (default 0.35) and --hires-steps (default
                 --steps): details at the large size, as A1111's hires fix. Written as NAME-hires.EXT,
                 recorded with the upscale as its input. Local models, text-to-image only
  --data-dir DIR where images are recorded (default PIXELPIPE_DATA_DIR or ~/.pixelpipe): each gets a
                 record that \`history\`, \`reproduce\` and \`verify\` know, and the file written is the
                 stored one; beside a running \`serve\` on that directory, through the server
  --no-record    write the files only: no record, no copy in the data directory`;

/** A file beside `path` named NAME`suffix` with the same extension: `-x2` for an upscale, `-hires` for a hires fix. */
export function besidePath(path: string, suffix: string): string {
  const extension = extname(path);
  return `${path.slice(0, path.length - extension.length)}${suffix}${extension}`;
}

/** Where image `index` of `count` goes; in a folder, named by seed with the image's own extension. */
export function outputPath(out: string | undefined, seed: string, index: number, count: number, ownExtension = '.png'): string {
  const target = resolve(out ?? '.');
  const isFolder = out === undefined || out.endsWith('/') || (() => { try { return statSync(target).isDirectory(); } catch { return false; } })();
  if (isFolder) return join(target, `pixelpipe-${seed}${ownExtension}`);
  if (count === 1) return target;
  const extension = extname(target) || ownExtension;
  return `${target.slice(0, target.length - extname(target).length)}-${index + 1}${extension}`;
}

export async function generateCommand(argv: string[], createPixelpipe: (options: PixelpipeOptions) => Pixelpipe): Promise<void> {
  const { values, positionals } = parseFlags(argv);
  if (values.help) {
    process.stdout.write(`${generateUsage}\n`);
    return;
  }
  if (positionals.length !== 1) throw new InvalidArgumentError({ argument: 'prompt', value: positionals, message: `give exactly one prompt (quote it), got ${positionals.length} arguments\n${generateUsage}` });
  const n = number('n', values.n) ?? 1;
  const controls = controlsOfFlags({ control: values.control, controlnet: values.controlnet, start: number('control-start', values['control-start']), end: number('control-end', values['control-end']), canny: values.canny });
  // The seed becomes a bigint here, once; a bad one is refused before a model is resolved.
  const seed = values.seed === undefined ? undefined : parseSeed(values.seed);
  // A name the result cannot be written under is refused now, not after the model was loaded and ran.
  outputFormatOf(outputPath(values.out, 'check', 0, n));
  const upscale = wholeNumber('upscale', values.upscale);
  if (values['upscale-model'] !== undefined && upscale === undefined) throw new InvalidArgumentError({ argument: 'upscale-model', value: values['upscale-model'], message: '`--upscale-model` is used by --upscale N; give --upscale too' });
  const hires = hiresOfFlags(values, upscale);
  // A scale the bundled upscaler lacks is refused before the model runs, not after.
  await checkBundledScale('upscale', hires ? hires.scale : upscale, values['upscale-model'], 'upscale-model');
  const executionProvider = values['execution-provider'];
  if (executionProvider !== undefined && executionProvider !== 'cpu' && executionProvider !== 'cuda') {
    throw new InvalidArgumentError({ argument: 'execution-provider', value: executionProvider, message: `\`--execution-provider\` must be cpu or cuda, got ${JSON.stringify(executionProvider)}` });
  }
  const pixelpipe = createPixelpipe({ executionProvider, threads: number('threads', values.threads), onNotice: (message) => process.stderr.write(`${message}\n`) });
  if (hires && values.model !== undefined && (await pixelpipe.isHosted(values.model))) {
    throw new InvalidArgumentError({ argument: 'hires-fix', value: values.model, message: `\`--hires-fix\` runs on the local engine, and --model ${JSON.stringify(values.model)} is hosted; use --upscale alone, or a local model` });
  }
  const maskConvention = oneOf('mask-convention', values['mask-convention'], ['luminance', 'alpha'] as const);
  const fit = oneOf('fit', values.fit, ['cover', 'contain', 'fill'] as const);
  const decoder = oneOf('decoder', values.decoder, ['full', 'fast'] as const);
  const progress = createProgressPrinter(process.stderr, n);
  const previewDir = values['preview-dir'] === undefined ? undefined : resolve(values['preview-dir']);
  if (previewDir) mkdirSync(previewDir, { recursive: true });
  // The data directory opens while the model runs, so recording adds little to the command's time.
  const recording = values['no-record'] ? undefined : openRecording(values['data-dir']);
  recording?.catch(() => undefined);
  // The prompt is screened before any model or provider sees it; a blocked one is audited and goes no further.
  const moderation = await commandModeration(values['data-dir']);
  const screening = await moderation.checkPrompt({ prompt: positionals[0]!, negativePrompt: values.negative });
  if (screening.refusal) {
    const admin = await recording;
    await admin?.recordGeneration({ request: recordedRequest(values, positionals[0]!, n), audit: [screening.entry] }).finally(() => admin.close());
    await moderation.close();
    throw screening.refusal;
  }
  const result = await pixelpipe.generate({
    prompt: positionals[0]!,
    model: values.model,
    negativePrompt: values.negative,
    seed,
    steps: number('steps', values.steps),
    guidance: number('guidance', values.guidance),
    sampler: values.sampler,
    width: number('width', values.width),
    height: number('height', values.height),
    n,
    images: values.image,
    mask: values.mask,
    maskConvention,
    strength: number('strength', values.strength),
    fit,
    extend: values.extend === undefined ? undefined : parseExtension(values.extend),
    maskBlur: number('mask-blur', values['mask-blur']),
    composite: values['no-composite'] ? false : undefined,
    previews: previewDir !== undefined,
    decoder,
    vaeDecoderFallback: values['vae-fallback'],
    ...(values.lora?.length ? { loras: values.lora.map(parseLora) } : {}),
    ...(controls ? { controls } : {}),
    providerOptions: values['max-cost'] === undefined ? undefined : { router: { maxCostUsd: number('max-cost', values['max-cost']) } },
    onProgress: (event) => {
      progress.update(event);
      if (previewDir && event.preview) {
        const image = n > 1 ? `image-${event.imageIndex + 1}-` : '';
        writeFileSync(join(previewDir, `${image}step-${String(event.step).padStart(3, '0')}.png`), event.preview.bytes);
      }
    },
  }).catch(async (error: unknown) => {
    await (await recording?.catch(() => undefined))?.close();
    return renameToFlags(error);
  });
  progress.done();
  const prompt = { policy: screening.policy, verdict: screening.verdict };
  const paths = result.images.map((image, index) => outputPath(values.out, image.settings.seed ?? `${Date.now()}-${index + 1}`, index, result.images.length, extensionOfMediaType[image.mediaType]));
  const scale = hires?.scale ?? upscale;
  let written: WrittenImage[];
  try {
    if (!hires) await pixelpipe.close();
    written = await keepImages({ values, prompt: positionals[0]!, result, paths, recording, moderation, screening: { prompt, audit: [screening.entry] } });
    for (const entry of scale === undefined ? [] : written) {
      entry.upscaled = await upscaleFile({ file: entry.path, out: besidePath(entry.path, `-x${scale}`), scale, model: values['upscale-model'], threads: number('threads', values.threads) });
      if (hires) entry.hires = await hiresPass({ pixelpipe, values, prompt: positionals[0]!, moderation, screening: { prompt, audit: [] }, hires, base: entry, upscaled: entry.upscaled });
    }
  } finally {
    if (hires) await pixelpipe.close();
    await moderation.close();
  }
  for (const warning of result.warnings) process.stderr.write(`warning: ${inFlagTerms('message' in warning ? warning.message : `${warning.setting}: ${warning.details ?? 'not supported'}`)}\n`);
  if (result.routing) process.stderr.write(`routed (${result.routing.rule}): ${result.routing.chosen}${result.attempts?.some((attempt) => attempt.outcome === 'failed' && !attempt.request) ? ` after ${result.attempts.filter((attempt) => attempt.outcome === 'failed' && !attempt.request).map((attempt) => `${attempt.provider}:${attempt.modelId} failed (${attempt.error?.name})`).join(', ')}` : ''}\n`);
  if (result.cost) process.stderr.write(`estimated cost: $${result.cost.amountUsd} (${result.cost.basis}; list price of ${result.cost.priceDate})\n`);
  if (values.json) {
    const { model, warnings, response, usage, cost, attempts, routing } = result;
    process.stdout.write(`${JSON.stringify({ model, images: written, warnings, response, usage, cost, attempts, routing }, null, 2)}\n`);
  } else {
    const line = ({ path, seed, writtenAs, mediaType, recordId }: WrittenImage) => `${path}${seed === undefined ? '' : `  seed ${seed}`}${recordId ? `  record ${recordId}` : ''}${writtenAs ? `  (converted from ${mediaType})` : ''}\n`;
    for (const entry of written) {
      process.stdout.write(line(entry));
      if (entry.upscaled) process.stdout.write(describeUpscale(entry.upscaled));
      if (entry.hires) process.stdout.write(`hires fix: ${line(entry.hires)}`);
    }
  }
}

/** `--hires-fix` and its settings, or undefined; the flags that cannot go with it are refused here. */
interface HiresFix {
  scale: number;
  strength: number;
  steps?: number;
}

function hiresOfFlags(values: GenerateFlags, upscale: number | undefined): HiresFix | undefined {
  if (!values['hires-fix']) {
    for (const flag of ['hires-strength', 'hires-steps'] as const) {
      if (values[flag] !== undefined) throw new InvalidArgumentError({ argument: flag, value: values[flag], message: `\`--${flag}\` is a setting of --hires-fix; give --hires-fix too` });
    }
    return undefined;
  }
  for (const flag of ['image', 'mask', 'extend', 'control'] as const) {
    if (values[flag] !== undefined) throw new InvalidArgumentError({ argument: 'hires-fix', value: true, message: `\`--hires-fix\` finishes a text-to-image generation and cannot go with --${flag}; leave one of them out` });
  }
  const strength = number('hires-strength', values['hires-strength']) ?? defaultHiresStrength;
  if (!(strength > 0 && strength <= 1)) throw new InvalidArgumentError({ argument: 'hires-strength', value: values['hires-strength'], message: `\`--hires-strength\` must be in (0, 1], got ${values['hires-strength']}; about 0.3 keeps the picture and adds detail` });
  const steps = number('hires-steps', values['hires-steps']);
  if (steps !== undefined && !(Number.isInteger(steps) && steps >= 1)) throw new InvalidArgumentError({ argument: 'hires-steps', value: values['hires-steps'], message: `\`--hires-steps\` must be a whole number of at least 1, got ${JSON.stringify(values['hires-steps'])}` });
  return { scale: upscale ?? defaultHiresScale, strength, ...(steps !== undefined ? { steps } : {}) };
}

/** One image as the command wrote it (and prints it with --json). */
interface WrittenImage {
  path: string;
  seed?: string;
  mediaType: string;
  writtenAs?: string;
  recordId?: string;
  provenance?: unknown;
  revisedPrompt?: string;
  settings: GenerateResult['images'][number]['settings'];
  /** `--upscale` (or the hires fix's upscale) of this file. */
  upscaled?: UpscaleSummary;
  /** `--hires-fix`'s image made from the upscale. */
  hires?: WrittenImage;
}

/**
 * Screens, records (unless --no-record) and writes a generation's images to `paths`. Recorded images
 * are screened where they are stored, the others here (with no audit entry).
 */
async function keepImages({ values, prompt, result, paths, recording, moderation, screening }: { values: GenerateFlags; prompt: string; result: GenerateResult; paths: string[]; recording: Promise<ServiceAdmin & { announce(): void }> | undefined; moderation: Moderation; screening: Pick<GenerationToRecord, 'prompt' | 'audit'> }): Promise<WrittenImage[]> {
  if (!recording) {
    for (const image of result.images) {
      const outcome = await moderation.checkImage(image, {});
      if (outcome.refusal) throw outcome.refusal;
    }
  }
  const recorded = recording && (await recordImages(await recording, values, prompt, result, paths, screening));
  const written: WrittenImage[] = [];
  for (const [index, image] of result.images.entries()) {
    const path = paths[index]!;
    const kept = recorded?.images[index];
    const file = kept ? { ...kept, converted: kept.mediaType !== image.mediaType } : await encodeForPath(image, path);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, file.bytes);
    const record = recorded?.records[index];
    // The record keeps what the model returned; the file may be a conversion of it.
    written.push({ path, seed: image.settings.seed, mediaType: image.mediaType, ...(file.converted ? { writtenAs: file.mediaType } : {}), ...(record ? { recordId: record.id, provenance: record.provenance } : {}), revisedPrompt: image.revisedPrompt, settings: image.settings });
  }
  return written;
}

/** `--hires-fix` for one image: image-to-image over its upscale with the same prompt, seed and model, written as NAME-hires.EXT. */
async function hiresPass({ pixelpipe, values, prompt, moderation, screening, hires, base, upscaled }: { pixelpipe: Pixelpipe; values: GenerateFlags; prompt: string; moderation: Moderation; screening: Pick<GenerationToRecord, 'prompt' | 'audit'>; hires: HiresFix; base: WrittenImage; upscaled: UpscaleSummary }): Promise<WrittenImage> {
  const out = besidePath(base.path, '-hires');
  // The flags of the pass as if typed: what it records, and what `reproduce` runs again.
  const pass: GenerateFlags = {
    ...values, image: [upscaled.out], strength: String(hires.strength), width: String(upscaled.output.width), height: String(upscaled.output.height), n: '1', out,
    ...(base.seed !== undefined ? { seed: base.seed } : {}), ...(hires.steps !== undefined ? { steps: String(hires.steps) } : {}),
  };
  process.stderr.write(`hires fix: image-to-image over ${upscaled.out} at strength ${hires.strength}\n`);
  const progress = createProgressPrinter(process.stderr, 1);
  const result = await pixelpipe.generate({
    prompt, model: values.model, negativePrompt: values.negative, seed: pass.seed === undefined ? undefined : parseSeed(pass.seed),
    steps: number('steps', pass.steps), guidance: number('guidance', values.guidance), sampler: values.sampler,
    width: upscaled.output.width, height: upscaled.output.height, n: 1, images: [upscaled.out], strength: hires.strength,
    vaeDecoderFallback: values['vae-fallback'], ...(values.lora?.length ? { loras: values.lora.map(parseLora) } : {}),
    onProgress: (event) => progress.update(event),
  }).catch(renameToFlags);
  progress.done();
  const recording = values['no-record'] ? undefined : openRecording(values['data-dir']);
  const [written] = await keepImages({ values: pass, prompt, result, paths: [out], recording, moderation, screening });
  return written!;
}

/** The request as a job would hold it, from the flags (without input images: those are stored with the record). */
function recordedRequest(values: GenerateFlags, prompt: string, n: number): GenerationToRecord['request'] {
  const request = {
    model: values.model, prompt, negativePrompt: values.negative, n, seed: values.seed, steps: number('steps', values.steps),
    guidance: number('guidance', values.guidance), sampler: values.sampler, width: number('width', values.width), height: number('height', values.height),
    maskConvention: values['mask-convention'], strength: number('strength', values.strength), fit: values.fit,
    extend: values.extend === undefined ? undefined : parseExtension(values.extend), maskBlur: number('mask-blur', values['mask-blur']),
    composite: values['no-composite'] ? false : undefined, decoder: values.decoder,
    providerOptions: values['max-cost'] === undefined ? undefined : { router: { maxCostUsd: number('max-cost', values['max-cost']) } },
  };
  return Object.fromEntries(Object.entries(request).filter(([, value]) => value !== undefined)) as unknown as GenerationToRecord['request'];
}

async function readInputFile(path: string): Promise<EncodedImage> {
  const bytes = new Uint8Array(await readFile(path));
  return { bytes, mediaType: detectImageMediaType(bytes) ?? 'application/octet-stream' };
}

/** The moderation of the command's settings (PIXELPIPE_MODERATION_POLICY; the built-in policy by default). */
async function commandModeration(dataDir: string | undefined): Promise<Moderation> {
  const [{ createModeration }, { loadModerationPolicy }] = await Promise.all([import('../../service/safety/moderation.js'), import('../../service/safety/moderation-policy.js')]);
  const { settings } = commandSettings(dataDir, process.env);
  return createModeration({ policy: await loadModerationPolicy(settings.moderationPolicy ?? 'default') });
}

// Another \`generate\` on the same data directory holds the embedded database only while it runs, so a
// refusal is waited out (said once); a server on it answers on its admin socket instead. Which data
// directory is used is said once there is an image to record, not before a command that fails on its input.
async function openRecording(dataDir: string | undefined): Promise<ServiceAdmin & { announce(): void }> {
  let said = '';
  const stderr = { write: (text: string) => (said += text) };
  for (let waited = 0; ; waited += 250) {
    try {
      return Object.assign(await openAdmin(dataDir, { stderr }), { announce: () => process.stderr.write(said) });
    } catch (error) {
      const busy = InvalidArgumentError.isInstance(error) && error.argument === 'dataDir' && error.message.includes('is in use by');
      if (!busy || waited >= 600_000) throw error;
      if (waited === 0) process.stderr.write('waiting for another pixelpipe command that is using the data directory (start `pixelpipe serve` on it to share it)\n');
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

/** Records the images in the data directory (or through the server holding it): finished, stored, each with a record. */
async function recordImages(admin: ServiceAdmin & { announce(): void }, values: GenerateFlags, prompt: string, result: GenerateResult, paths: string[], screening: Pick<GenerationToRecord, 'prompt' | 'audit'>): Promise<RecordedGeneration> {
  admin.announce();
  try {
    const images = values.image && (await Promise.all(values.image.map(readInputFile)));
    const mask = values.mask === undefined ? undefined : await readInputFile(values.mask);
    const { images: made, response, warnings, cost } = result;
    const mediaTypes = paths.map((path) => {
      const format = outputFormatOf(path);
      return format && mediaTypeOf[format];
    });
    return await admin.recordGeneration({ request: recordedRequest(values, prompt, made.length), inputs: { ...(images ? { images } : {}), ...(mask ? { mask } : {}) }, result: { images: made, response, warnings, cost }, mediaTypes, ...screening });
  } finally {
    await admin.close();
  }
}
