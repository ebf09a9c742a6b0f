// Pixel comparison for tests and benches: raw pixels, the largest per-channel difference, PSNR.
import sharp from 'sharp';

export async function rawRgb(image: string | Uint8Array): Promise<{ data: Buffer; width: number; height: number }> {
  const { data, info } = await sharp(image).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

/** Max |a − b| over every channel of every pixel, in 0..255 steps. */
export async function maxChannelDifference(a: string | Uint8Array, b: string | Uint8Array): Promise<number> {
  const [first, second] = await Promise.all([rawRgb(a), rawRgb(b)]);
  if (first.width !== second.width || first.height !== second.height) throw new Error(`sizes differ: ${first.width}x${first.height} vs ${second.width}x${second.height}`);
  let max = 0;
  for (let i = 0; i < first.data.length; i++) max = Math.max(max, Math.abs(first.data[i]! - second.data[i]!));
  return max;
}

/** The decoded 8-bit pixels of an image, in its own channels. */
export async function rawPixels(bytes: Uint8Array): Promise<{ data: Uint8Array; width: number; height: number; channels: number }> {
  const { data, info } = await sharp(bytes).raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height, channels: info.channels };
}

/** Peak signal-to-noise ratio of `b` against `a` (same length), in dB. */
export function psnr(a: Uint8Array, b: Uint8Array): number {
  let squared = 0;
  for (let index = 0; index < a.length; index++) squared += (a[index]! - b[index]!) ** 2;
  return 10 * Math.log10((255 * 255) / (squared / a.length));
}
