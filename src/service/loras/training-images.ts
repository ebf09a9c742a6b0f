// Checks a folder of LoRA training images before anything is uploaded: count, format, size, duplicates.
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import sharp, { type Metadata } from 'sharp';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';

export interface TrainingImage {
  /** File name inside the folder. */
  file: string;
  path: string;
  bytes: Uint8Array;
  format: 'png' | 'jpeg' | 'webp';
  width: number;
  height: number;
  sha256: string;
}

export interface TrainingImageRules {
  minImages: number;
  maxImages: number;
  /** Shortest side accepted, in pixels. */
  minSide: number;
}

/**
 * 10–50 images: fewer under-fits a style, more adds cost without adding much (both trainers recommend
 * 10–30 for a style). 512 px: the FLUX trainers bucket images to 512, 768 and 1024 px, and a smaller
 * image is upscaled into the smallest bucket, so the LoRA learns its blur and JPEG blocks.
 */
export const defaultTrainingImageRules: TrainingImageRules = { minImages: 10, maxImages: 50, minSide: 512 };

// Files that live beside the images and are not images: captions, and hidden files from file managers.
const isCompanion = (file: string) => file.startsWith('.') || extname(file).toLowerCase() === '.txt';

/** A 64-bit difference hash (9×8 grey thumbnail, left < right): near-identical pictures differ in a few bits. */
async function differenceHash(bytes: Uint8Array): Promise<bigint> {
  const pixels = await sharp(bytes).greyscale().resize(9, 8, { fit: 'fill' }).raw().toBuffer();
  let hash = 0n;
  for (let row = 0; row < 8; row++) for (let column = 0; column < 8; column++) hash = (hash << 1n) | (pixels[row * 9 + column]! < pixels[row * 9 + column + 1]! ? 1n : 0n);
  return hash;
}

const bitsDiffering = (a: bigint, b: bigint) => [...(a ^ b).toString(2)].filter((bit) => bit === '1').length;

/**
 * Every image in `folder` (not its subfolders), checked. Problems are gathered and thrown together as one
 * InvalidArgumentError, each naming the file and the fix; near-duplicates are returned as warnings.
 */
export async function checkTrainingImages(folder: string, rules: TrainingImageRules = defaultTrainingImageRules): Promise<{ images: TrainingImage[]; warnings: string[] }> {
  let entries;
  try {
    entries = await readdir(folder, { withFileTypes: true });
  } catch (cause) {
    throw new InvalidArgumentError({ argument: 'images', value: folder, cause, message: `\`--images\` ${folder} cannot be read (${(cause as Error).message}); give a folder of PNG, JPEG or WebP images` });
  }
  const files = entries.filter((entry) => entry.isFile() && !isCompanion(entry.name)).map((entry) => entry.name).sort();
  const problems: string[] = [];
  const images: TrainingImage[] = [];
  for (const file of files) {
    const path = join(folder, file);
    const bytes = new Uint8Array(await readFile(path));
    let metadata: Metadata;
    try {
      metadata = await sharp(bytes).metadata();
    } catch {
      problems.push(`${file}: not an image (no PNG, JPEG or WebP header); remove it from the folder or replace it with the image it should be`);
      continue;
    }
    const { format, width = 0, height = 0 } = metadata;
    if (format !== 'png' && format !== 'jpeg' && format !== 'webp') {
      problems.push(`${file}: ${format} is not taken by the trainers; convert it to PNG or JPEG`);
      continue;
    }
    if (Math.min(width, height) < rules.minSide) {
      problems.push(`${file}: ${width}×${height} is smaller than ${rules.minSide} px on its short side; use a larger original (the trainers upscale it into their smallest ${rules.minSide} px bucket and learn the blur)`);
    }
    images.push({ file, path, bytes, format, width, height, sha256: createHash('sha256').update(bytes).digest('hex') });
  }
  if (files.length < rules.minImages || files.length > rules.maxImages) {
    problems.unshift(`${folder} holds ${files.length} image file${files.length === 1 ? '' : 's'}; a LoRA needs ${rules.minImages} to ${rules.maxImages}: ${files.length < rules.minImages ? 'add more varied examples of the style' : 'keep the best and most varied ones'}`);
  }
  const byStem = new Map<string, string>();
  for (const image of images) {
    const stem = image.file.slice(0, image.file.length - extname(image.file).length);
    const first = byStem.get(stem);
    if (first) problems.push(`${image.file}: shares the caption file ${stem}.txt with ${first}; rename one of them`);
    else byStem.set(stem, image.file);
  }
  const byHash = new Map<string, string>();
  for (const image of images) {
    const first = byHash.get(image.sha256);
    if (first) problems.push(`${image.file}: the same bytes as ${first} (SHA-256 ${image.sha256.slice(0, 12)}…); delete one of them`);
    else byHash.set(image.sha256, image.file);
  }
  const warnings: string[] = [];
  const unique = images.filter((image) => byHash.get(image.sha256) === image.file);
  const hashes = await Promise.all(unique.map((image) => differenceHash(image.bytes)));
  for (let a = 0; a < unique.length; a++) {
    for (let b = a + 1; b < unique.length; b++) {
      if (bitsDiffering(hashes[a]!, hashes[b]!) <= 3) warnings.push(`${unique[b]!.file} looks almost the same as ${unique[a]!.file}; near-duplicates weigh that picture double, so keep one unless they differ in what matters`);
    }
  }
  if (problems.length > 0) {
    throw new InvalidArgumentError({ argument: 'images', value: folder, message: `the training images in ${folder} cannot be used (nothing was uploaded):\n  - ${problems.join('\n  - ')}` });
  }
  return { images, warnings };
}
