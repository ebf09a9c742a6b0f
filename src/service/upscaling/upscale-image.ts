// One image through an ESRGAN-class upscaler, in tiles: for `pixelpipe upscale`, `generate --upscale`
// and jobs that ask for `upscale`.
import sharp from 'sharp';
import { defaultTileFor, overlapFor, upscaleTiled } from '../../engine/upscale/tiled-upscale.js';
import type { Upscaler } from '../../engine/upscale/upscaler.js';

export interface UpscaleImageOptions {
  /** Tile side in input pixels; default `defaultTileFor(scale)`; 0 = the whole image at once. */
  tile?: number;
  /** Context around each tile; default the model's receptive margin. */
  overlap?: number;
  /** Images over this many pixels are refused while decoding. */
  maxInputPixels: number;
}

/** An upscaled image, as a PNG without text chunks, and how it was made. */
export interface UpscaledImage {
  png: Buffer;
  width: number;
  height: number;
  tile: number;
  overlap: number;
  tiles: number;
  /** The model's run over every tile, without decoding and encoding. */
  seconds: number;
}

/**
 * Upscales a PNG, JPEG or WebP image: its orientation applied (as every viewer shows it), its colour
 * through the model in tiles, its alpha, if any, resized with lanczos3 and joined to the result.
 */
export async function upscaleImage(upscaler: Upscaler, bytes: Uint8Array, { tile: tileOption, overlap: overlapOption, maxInputPixels }: UpscaleImageOptions): Promise<UpscaledImage> {
  const decoded = sharp(bytes, { limitInputPixels: maxInputPixels }).rotate();
  const { hasAlpha } = await decoded.metadata();
  const rgb = await decoded.clone().removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  const { width, height } = rgb.info;
  const tile = tileOption ?? defaultTileFor(upscaler.scale);
  const overlap = overlapOption ?? overlapFor(upscaler);
  const started = performance.now();
  const upscaled = await upscaleTiled(upscaler, { data: rgb.data, width, height }, { tile, overlap });
  const seconds = (performance.now() - started) / 1000;

  let image = sharp(upscaled.data, { raw: { width: upscaled.width, height: upscaled.height, channels: 3 }, limitInputPixels: false });
  if (hasAlpha) {
    const alpha = await decoded.clone().extractChannel('alpha').resize(upscaled.width, upscaled.height, { kernel: 'lanczos3' }).raw().toBuffer();
    image = image.joinChannel(alpha, { raw: { width: upscaled.width, height: upscaled.height, channels: 1 } });
  }
  const png = await image.png({ compressionLevel: 6 }).toBuffer();
  const tiles = tile > 0 ? Math.ceil(width / Math.min(tile, width)) * Math.ceil(height / Math.min(tile, height)) : 1;
  return { png, width: upscaled.width, height: upscaled.height, tile, overlap, tiles, seconds };
}
