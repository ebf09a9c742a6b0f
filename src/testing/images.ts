// Pixel comparison for tests: the largest per-channel difference between two images.
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
