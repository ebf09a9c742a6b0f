// `pixelpipe upscale FILE`: checks the size from the header, upscales in tiles, writes the result with a record naming its parent.
import { readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { basename, dirname, extname, join } from 'node:path';
import { parseArgs } from 'node:util';
import sharp, { type Metadata } from 'sharp';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';

export const upscaleUsage = `usage: pixelpipe upscale FILE [--scale 2|4] [--model PATH] [--out PATH] [--tile N] [--overlap N] [--threads N] [--json]
  upscales a PNG, JPEG or WebP image. Without --model it uses the bundled esrgan-slim weights (RDN,
  MIT, scales 2, 3, 4, 8; default 2). --model takes an ONNX upscaler ([1, 3, H, W] RGB in 0..1 →
  [1, 3, sH, sW], as Real-ESRGAN and 4x-UltraSharp are exported); its scale is found by a probe run.
  --out PATH     the format follows the extension (.png, .jpg, .webp); default FILE's name + -x<scale>.png
  --tile N       tile side in input pixels (default 512/scale: 256 at x2, 128 at x4; 0 = whole image)
  --overlap N    context read around each tile (default: the model's receptive margin, else 16)
  A PNG made by pixelpipe gives the output a \`pixelpipe\` record naming its parent and the upscale.
  Inputs over ${(8192 * 8192).toLocaleString('en-US')} pixels or outputs over ${(16384 * 16384).toLocaleString('en-US')} are refused before decoding.`;

export interface UpscaleLimits {
  maxInputPixels: number;
  maxOutputPixels: number;
}

/** 64 MP in (192 MiB as RGB), 256 MP out (768 MiB as RGB, held whole until it is encoded). */
export const defaultUpscaleLimits: UpscaleLimits = { maxInputPixels: 8192 * 8192, maxOutputPixels: 16384 * 16384 };

const count = (pixels: number) => pixels.toLocaleString('en-US');

/** Refuses an input or output above the limits, from the header's size, before any pixel is decoded. */
export function checkUpscaleSize(file: string, width: number, height: number, scale: number | undefined, limits: UpscaleLimits = defaultUpscaleLimits): void {
  const refuse = (message: string) => new InvalidArgumentError({ argument: 'FILE', value: file, message });
  if (width * height > limits.maxInputPixels) {
    throw refuse(`${file} is ${width}×${height} = ${count(width * height)} pixels; upscale takes at most ${count(limits.maxInputPixels)} input pixels (and writes at most ${count(limits.maxOutputPixels)}); crop or downscale it first`);
  }
  if (scale !== undefined && width * height * scale * scale > limits.maxOutputPixels) {
    throw refuse(`${file} is ${width}×${height}; at x${scale} the output would be ${width * scale}×${height * scale} = ${count(width * height * scale * scale)} pixels, over the output limit of ${count(limits.maxOutputPixels)} pixels (inputs up to ${count(limits.maxInputPixels)}); use a smaller --scale or crop the image`);
  }
}

function positiveInteger(name: string, value: string | undefined, minimum = 0): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!Number.isInteger(number) || number < minimum) throw new InvalidArgumentError({ argument: name, value, message: `\`--${name}\` must be a whole number of at least ${minimum}, got ${JSON.stringify(value)}` });
  return number;
}

/** What `upscaleFile` did, as `pixelpipe upscale --json` prints it. */
export interface UpscaleSummary {
  out: string;
  model: string;
  scale: number;
  input: { width: number; height: number };
  output: { width: number; height: number };
  tile: number;
  overlap: number;
  tiles: number;
  seconds: number;
  secondsPerInputMegapixel: number;
  loadSeconds: number;
  provenance: 'recorded' | 'none';
}

/** How to upscale one file: the flags of `pixelpipe upscale` (and of `generate --upscale`). */
export interface UpscaleFileOptions {
  file: string;
  /** Default: FILE's name + `-x<scale>.png`. */
  out?: string;
  /** Checked against the bundled model's scales, or against `model`'s probed one. */
  scale?: number;
  /** An ONNX upscaler; the bundled esrgan-slim weights without it. */
  model?: string;
  tile?: number;
  overlap?: number;
  threads?: number;
  limits?: UpscaleLimits;
}

/** Refuses a `--scale` the bundled upscaler does not have, before anything is read or loaded. */
export async function checkBundledScale(flag: string, scale: number | undefined, model: string | undefined, modelFlag = 'model'): Promise<void> {
  const { esrganSlimScales } = await import('../../engine/upscale/esrgan-slim.js');
  if (model === undefined && scale !== undefined && !(esrganSlimScales as readonly number[]).includes(scale)) {
    throw new InvalidArgumentError({ argument: flag, value: scale, message: `\`--${flag}\` must be one of ${esrganSlimScales.join(', ')} for the bundled esrgan-slim upscaler, got ${scale}; for another factor give an ONNX upscaler with --${modelFlag}` });
  }
}

export async function upscaleCommand(argv: string[], limits: UpscaleLimits = defaultUpscaleLimits): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { scale: { type: 'string' }, model: { type: 'string' }, out: { type: 'string' }, tile: { type: 'string' }, overlap: { type: 'string' }, threads: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    process.stdout.write(`${upscaleUsage}\n`);
    return;
  }
  if (positionals.length !== 1) throw new InvalidArgumentError({ argument: 'FILE', value: positionals, message: `give exactly one image file\n${upscaleUsage}` });
  const summary = await upscaleFile({
    file: positionals[0]!,
    out: values.out,
    scale: positiveInteger('scale', values.scale, 1),
    model: values.model,
    tile: positiveInteger('tile', values.tile),
    overlap: positiveInteger('overlap', values.overlap),
    threads: positiveInteger('threads', values.threads, 1),
    limits,
  });
  if (values.json) process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  else process.stdout.write(describeUpscale(summary));
}

/** The human line(s) for one upscale. */
export function describeUpscale({ out, input, output, scale, model, tiles, seconds, secondsPerInputMegapixel, loadSeconds, provenance }: UpscaleSummary): string {
  const line = `${out}: ${input.width}×${input.height} → ${output.width}×${output.height} (x${scale}, ${model}, ${tiles} tile${tiles === 1 ? '' : 's'}) in ${seconds.toFixed(2)} s, ${secondsPerInputMegapixel.toFixed(2)} s per input megapixel (model load ${loadSeconds.toFixed(2)} s)\n`;
  return provenance === 'recorded' ? `${line}provenance: the output's pixelpipe record names its parent and the upscale\n` : line;
}

/** Upscales one PNG, JPEG or WebP file in tiles and writes the result; a pixelpipe PNG's record becomes the output's parent. */
export async function upscaleFile({ file, out: outOption, scale: requestedScale, model, tile: tileOption, overlap: overlapOption, threads, limits = defaultUpscaleLimits }: UpscaleFileOptions): Promise<UpscaleSummary> {
  const [{ outputFormatOf, encodeForPath }, { loadEsrganSlim }] = await Promise.all([import('../../service/image-files.js'), import('../../engine/upscale/esrgan-slim.js')]);
  if (outOption !== undefined) outputFormatOf(outOption);
  await checkBundledScale('scale', requestedScale, model);
  // The header alone: a 20000×20000 PNG is refused here without its pixels ever being decoded.
  let metadata: Metadata;
  try {
    metadata = await sharp(file, { limitInputPixels: false }).metadata();
  } catch (error) {
    throw new InvalidArgumentError({ argument: 'FILE', value: file, message: `${file} is not a readable PNG, JPEG or WebP image: ${(error as Error).message}`, cause: error });
  }
  const { width, height } = metadata;
  if (!width || !height) throw new InvalidArgumentError({ argument: 'FILE', value: file, message: `${file} has no width and height in its header` });
  const knownScale = model === undefined ? (requestedScale ?? 2) : requestedScale;
  checkUpscaleSize(file, width, height, knownScale, limits);

  const loadStarted = performance.now();
  const { OnnxUpscaler } = await import('../../engine/upscale/upscaler.js');
  const upscaler = model === undefined ? await loadEsrganSlim(knownScale!, { threads }) : await OnnxUpscaler.fromFile(model, { threads });
  const loadSeconds = (performance.now() - loadStarted) / 1000;
  try {
    if (requestedScale !== undefined && requestedScale !== upscaler.scale) {
      throw new InvalidArgumentError({ argument: 'scale', value: requestedScale, message: `\`--scale\` is ${requestedScale} but ${model} upscales x${upscaler.scale} (found by a probe run); leave out --scale or give an x${requestedScale} model` });
    }
    const { scale } = upscaler;
    checkUpscaleSize(file, width, height, scale, limits);
    const out = outOption ?? join(dirname(file), `${basename(file, extname(file))}-x${scale}.png`);

    const [{ upscaleImage }, { insertTextChunks, readPngText }, { pixelSha256 }] = await Promise.all([
      import('../../service/upscaling/upscale-image.js'), import('../../engine/image/png.js'), import('../../service/pixel-hash.js'),
    ]);
    const bytes = await readFile(file);
    const upscaled = await upscaleImage(upscaler, bytes, { tile: tileOption, overlap: overlapOption, maxInputPixels: limits.maxInputPixels });
    const { tile, overlap, seconds } = upscaled;
    let png: Buffer = upscaled.png;

    // Provenance: a pixelpipe image's record is the parent; the output's record names it and the operation.
    const parentText = metadata.format === 'png' ? readPngText(bytes) : {};
    let recorded = false;
    if (parentText.pixelpipe !== undefined) {
      const parent = parseRecord(parentText.pixelpipe);
      const runtimeVersion = (createRequire(import.meta.url)('onnxruntime-node/package.json') as { version: string }).version;
      const record = {
        version: 1,
        operation: 'upscale',
        parent: { ...(typeof parent?.recordId === 'string' ? { recordId: parent.recordId } : {}), pixelSha256: (await pixelSha256(bytes)).pixelSha256, width, height, ...(parent?.settings ? { settings: parent.settings } : {}) },
        upscale: { model: upscaler.name, ...(upscaler.hash ? { hash: upscaler.hash } : {}), scale, tile, overlap },
        settings: { operation: 'upscale', width: upscaled.width, height: upscaled.height },
        runtime: { name: 'onnxruntime-node', version: runtimeVersion, executionProvider: 'cpu' },
        timings: { upscaleMs: Math.round(seconds * 1000) },
        createdAt: new Date().toISOString(),
      };
      const chunks = [{ keyword: 'pixelpipe', text: JSON.stringify(record), international: true }];
      // A1111's `parameters` still describe how the pixels were made; tools that read them keep working.
      if (parentText.parameters !== undefined) chunks.unshift({ keyword: 'parameters', text: parentText.parameters, international: false });
      png = insertTextChunks(png, chunks);
      recorded = true;
    }
    const written = await encodeForPath({ bytes: new Uint8Array(png), mediaType: 'image/png' }, out);
    await writeFile(out, written.bytes);

    const perMegapixel = seconds / ((width * height) / 1e6);
    return { out, model: upscaler.name, scale, input: { width, height }, output: { width: upscaled.width, height: upscaled.height }, tile, overlap, tiles: upscaled.tiles, seconds: round(seconds), secondsPerInputMegapixel: round(perMegapixel), loadSeconds: round(loadSeconds), provenance: recorded ? 'recorded' : 'none' };
  } finally {
    await upscaler.release();
  }
}

const round = (value: number) => Math.round(value * 1000) / 1000;

function parseRecord(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
