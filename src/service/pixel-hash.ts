// SHA-256 of an image's decoded pixels, which a rerun reproduces even when the file's embedded timings differ.
import { createHash } from 'node:crypto';
import sharp from 'sharp';

/** `sha256:<hex>` of the image's 8-bit RGBA pixels, row by row, with its width and height. */
export async function pixelSha256(bytes: Uint8Array): Promise<{ pixelSha256: string; width: number; height: number }> {
  const { data, info } = await sharp(bytes).ensureAlpha().toColourspace('srgb').raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  const hash = createHash('sha256').update(`${info.width}x${info.height}:`).update(data).digest('hex');
  return { pixelSha256: `sha256:${hash}`, width: info.width, height: info.height };
}
