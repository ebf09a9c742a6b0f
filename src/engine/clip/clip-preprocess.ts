// Turns encoded images into CLIP pixel_values as transformers' CLIPImageProcessor does, with sharp doing the decoding and resizing.
//
// Order, as CLIPImageProcessor.preprocess (transformers 4.38) runs it: convert to RGB → resize the
// shortest edge (or to an exact height × width) → centre crop → rescale (× 1/255) → normalise
// ((x − mean) / std) → channels first. The resize is the one step that is not exact: transformers
// resizes with PIL and we with libvips (sharp). libvips' `cubic` is Catmull-Rom, the same a = −0.5
// kernel as PIL's BICUBIC, but the two round and clamp differently, so a pixel can land 1–3 levels
// (of 255) apart on sharp edges: a max abs diff of 0.045 in normalised units on the conformance
// inputs, measured in clip-preprocess.test.ts.
import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import { z } from 'zod';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { InvalidModelError } from '../../spec/errors/invalid-model-error.js';

/** The libvips kernels standing in for PIL's filters. */
export type ResizeKernel = 'nearest' | 'lanczos3' | 'linear' | 'cubic';

/** What preprocessor_config.json says, with transformers' CLIPImageProcessor defaults filled in. */
export interface ClipPreprocessing {
  /** Absent when do_resize is false. */
  resize?: { shortestEdge: number } | { height: number; width: number };
  /** sharp's kernel for the config's PIL `resample` value. */
  kernel: ResizeKernel;
  /** Absent when do_center_crop is false. */
  crop?: { height: number; width: number };
  /** Absent when do_rescale is false. */
  rescaleFactor?: number;
  /** Absent when do_normalize is false. */
  normalize?: { mean: [number, number, number]; std: [number, number, number] };
}

/** One or more images as one [batch, 3, height, width] tensor. */
export interface PixelValues {
  data: Float32Array;
  dims: [number, number, number, number];
}

// OpenAI CLIP's statistics, transformers' OPENAI_CLIP_MEAN / OPENAI_CLIP_STD, the class defaults.
const openAiClipMean: [number, number, number] = [0.48145466, 0.4578275, 0.40821073];
const openAiClipStd: [number, number, number] = [0.26862954, 0.26130258, 0.27577711];

// PIL's resampling filters by their enum value, and the libvips kernel nearest to each.
const kernelsByResample: Partial<Record<number, ResizeKernel>> = { 0: 'nearest', 1: 'lanczos3', 2: 'linear', 3: 'cubic' };

const triple = z.tuple([z.number(), z.number(), z.number()]);
// Only the fields read. Old configs give size and crop_size as plain numbers.
const configSchema = z.object({
  do_resize: z.boolean().optional(),
  size: z.union([z.number().int().positive(), z.object({ shortest_edge: z.number().int().positive() }), z.object({ height: z.number().int().positive(), width: z.number().int().positive() })]).optional(),
  resample: z.number().int().optional(),
  do_center_crop: z.boolean().optional(),
  crop_size: z.union([z.number().int().positive(), z.object({ height: z.number().int().positive(), width: z.number().int().positive() })]).optional(),
  do_rescale: z.boolean().optional(),
  rescale_factor: z.number().positive().optional(),
  do_normalize: z.boolean().optional(),
  image_mean: z.union([triple, z.number()]).optional(),
  image_std: z.union([triple, z.number()]).optional(),
});

/** Reads a preprocessor_config.json; throws InvalidModelError naming the file and what is wrong. */
export async function readClipPreprocessing(path: string, modelFolder: string): Promise<ClipPreprocessing> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(path, 'utf8'));
  } catch (cause) {
    throw new InvalidModelError({ model: modelFolder, file: path, cause, message: `${path} could not be read as JSON (${(cause as Error).message}); it should be the CLIP model's preprocessor_config.json` });
  }
  const parsed = configSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new InvalidModelError({ model: modelFolder, file: path, cause: parsed.error, message: `${path} has an unusable \`${issue.path.join('.')}\` (${issue.message}); it should be a CLIPImageProcessor config` });
  }
  const config = parsed.data;
  const resample = config.resample ?? 3;
  const kernel = kernelsByResample[resample];
  if (!kernel) {
    throw new InvalidModelError({ model: modelFolder, file: path, message: `${path} asks for resample ${resample}, which pixelpipe does not support; use 0 (nearest), 1 (lanczos), 2 (bilinear) or 3 (bicubic)` });
  }
  const size = config.size ?? { shortest_edge: 224 };
  const crop = config.crop_size ?? { height: 224, width: 224 };
  const asTriple = (value: number | [number, number, number]): [number, number, number] => (typeof value === 'number' ? [value, value, value] : value);
  return {
    ...(config.do_resize ?? true
      ? { resize: typeof size === 'number' ? { shortestEdge: size } : 'shortest_edge' in size ? { shortestEdge: size.shortest_edge } : { height: size.height, width: size.width } }
      : {}),
    kernel,
    ...(config.do_center_crop ?? true ? { crop: typeof crop === 'number' ? { height: crop, width: crop } : crop } : {}),
    ...(config.do_rescale ?? true ? { rescaleFactor: config.rescale_factor ?? 1 / 255 } : {}),
    ...(config.do_normalize ?? true ? { normalize: { mean: asTriple(config.image_mean ?? openAiClipMean), std: asTriple(config.image_std ?? openAiClipStd) } } : {}),
  };
}

/** transformers' get_resize_output_image_size(default_to_square=False): the long edge is truncated, not rounded. */
function resizedSize(width: number, height: number, resize: NonNullable<ClipPreprocessing['resize']>): { width: number; height: number } {
  if (!('shortestEdge' in resize)) return resize;
  const { shortestEdge } = resize;
  return width <= height ? { width: shortestEdge, height: Math.trunc((shortestEdge * height) / width) } : { width: Math.trunc((shortestEdge * width) / height), height: shortestEdge };
}

/** One image's [3, height, width] values. */
export async function preprocessClipImage(bytes: Uint8Array, preprocessing: ClipPreprocessing): Promise<{ data: Float32Array; height: number; width: number }> {
  const metadata = await sharp(bytes).metadata();
  // transformers' load_image applies the EXIF orientation. The vision model takes 3 channels whatever
  // do_convert_rgb says, so every image is converted; like PIL's convert('RGB'), alpha is dropped, not composited.
  let image = sharp(bytes).rotate().removeAlpha().toColourspace('srgb');
  const swapped = (metadata.orientation ?? 1) >= 5; // orientations 5–8 turn the image a quarter
  let width = swapped ? metadata.height! : metadata.width!;
  let height = swapped ? metadata.width! : metadata.height!;
  if (preprocessing.resize) {
    ({ width, height } = resizedSize(width, height, preprocessing.resize));
    image = image.resize(width, height, { kernel: preprocessing.kernel, fit: 'fill' });
  }
  const { data: pixels } = await image.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });

  // transformers' center_crop: top-left at floor((size − crop) / 2); a crop larger than the image pads with zeros.
  const outHeight = preprocessing.crop?.height ?? height;
  const outWidth = preprocessing.crop?.width ?? width;
  const top = Math.floor((height - outHeight) / 2);
  const left = Math.floor((width - outWidth) / 2);
  const { rescaleFactor = 1, normalize } = preprocessing;
  const plane = outHeight * outWidth;
  const data = new Float32Array(3 * plane);
  for (let channel = 0; channel < 3; channel++) {
    // transformers normalises in float32 (mean and std cast to the image's dtype).
    const mean = Math.fround(normalize?.mean[channel] ?? 0);
    const std = Math.fround(normalize?.std[channel] ?? 1);
    for (let row = 0; row < outHeight; row++) {
      const sourceRow = row + top;
      for (let column = 0; column < outWidth; column++) {
        const sourceColumn = column + left;
        const inside = sourceRow >= 0 && sourceRow < height && sourceColumn >= 0 && sourceColumn < width;
        const value = inside ? pixels[(sourceRow * width + sourceColumn) * 3 + channel]! : 0;
        // Rescaled in float64 then stored as float32, then normalised in float32, as numpy does in transformers.
        data[channel * plane + row * outWidth + column] = Math.fround(Math.fround(value * rescaleFactor) - mean) / std;
      }
    }
  }
  return { data, height: outHeight, width: outWidth };
}

/** Several images as one batch; they share a size whenever the config crops (CLIP's always do). */
export async function preprocessClipImages(images: readonly Uint8Array[], preprocessing: ClipPreprocessing): Promise<PixelValues> {
  const processed = await Promise.all(
    images.map(async (bytes, index) => {
      try {
        return await preprocessClipImage(bytes, preprocessing);
      } catch (cause) {
        throw new InvalidArgumentError({ argument: `images[${index}]`, value: `${bytes.byteLength} bytes`, cause, message: `\`images[${index}]\` (${bytes.byteLength} bytes) could not be decoded: ${(cause as Error).message}; pass PNG, JPEG or WebP bytes` });
      }
    }),
  );
  const { height, width } = processed[0] ?? { height: 0, width: 0 };
  const odd = processed.findIndex((image) => image.height !== height || image.width !== width);
  if (odd >= 0) {
    const { height: oddHeight, width: oddWidth } = processed[odd]!;
    throw new InvalidArgumentError({ argument: `images[${odd}]`, value: `${oddWidth}x${oddHeight}`, message: `\`images[${odd}]\` preprocesses to ${oddWidth}x${oddHeight} but images[0] to ${width}x${height}: without do_center_crop, images of different shapes cannot share a batch; embed them one at a time` });
  }
  const data = new Float32Array(processed.length * 3 * height * width);
  processed.forEach((image, index) => data.set(image.data, index * image.data.length));
  return { data, dims: [processed.length, 3, height, width] };
}
