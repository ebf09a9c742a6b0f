// The invisible watermark every pixelpipe output carries: 48 bits in the image's low frequencies that lead back to its record.
//
// The method is DWT-DCT, as in the `invisible-watermark` library SDXL's reference scripts use: the
// luminance's Haar LL band, cut into 4×4 DCT blocks, one bit quantised into each block. Three
// choices make it survive what images go through: it is embedded in a fixed-size resized copy
// (any rescale reads back the same copy), the quantiser is dithered spread-transform QIM over
// three coefficients (robust to JPEG and WebP), and the bits are a CRC-checked convolutional
// codeword spread over the whole image, read with soft decisions.
import sharp from 'sharp';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { checkPayload, checkWatermarkSize, embedWatermarkPixels, readWatermarkPixels } from './watermark-pixels.js';

export { embedWatermarkPixels, readWatermarkPixels, watermarkBitAccuracy, watermarkMinimumSide, watermarkPayloadBytes } from './watermark-pixels.js';
export type { RawPixels } from './watermark-transform.js';

/** True for a WebP file whose image is stored lossless (a VP8L chunk): it is rewritten lossless. */
function isLosslessWebp(bytes: Buffer): boolean {
  for (let offset = 12; offset + 8 <= bytes.length; offset += 8 + bytes.readUInt32LE(offset + 4) + (bytes.readUInt32LE(offset + 4) & 1)) {
    const fourcc = bytes.toString('latin1', offset, offset + 4);
    if (fourcc === 'VP8L') return true;
    if (fourcc === 'VP8 ') return false;
  }
  return false;
}

/** PNG chunks that describe the image rather than its encoding: text (a pixelpipe record), colour, EXIF, resolution, time. */
const keptPngChunks = new Set(['tEXt', 'iTXt', 'zTXt', 'iCCP', 'sRGB', 'gAMA', 'cHRM', 'eXIf', 'pHYs', 'tIME']);

function pngChunks(png: Buffer): { type: string; bytes: Buffer }[] {
  const chunks: { type: string; bytes: Buffer }[] = [];
  for (let offset = 8; offset + 12 <= png.length; offset += 12 + png.readUInt32BE(offset)) {
    chunks.push({ type: png.toString('latin1', offset + 4, offset + 8), bytes: png.subarray(offset, offset + 12 + png.readUInt32BE(offset)) });
  }
  return chunks;
}

/** The new PNG's pixels with the original's descriptive chunks, which sharp would drop (it keeps no text chunks). */
function withChunksOf(encoded: Buffer, original: Buffer): Buffer {
  const [header, ...rest] = pngChunks(encoded);
  const kept = pngChunks(original).filter((chunk) => keptPngChunks.has(chunk.type));
  const pixels = rest.filter((chunk) => !keptPngChunks.has(chunk.type));
  return Buffer.concat([encoded.subarray(0, 8), header!.bytes, ...kept.map((chunk) => chunk.bytes), ...pixels.map((chunk) => chunk.bytes)]);
}

/**
 * The image re-encoded in its own format with `payload` watermarked in: PNG lossless (8 bits a
 * channel), JPEG at quality 95, WebP lossless when it was, else at quality 95. Size, alpha and
 * metadata (EXIF, XMP, ICC profile, PNG text chunks) are kept.
 */
export async function embedWatermark(bytes: Uint8Array, mediaType: string, payload: Uint8Array): Promise<Uint8Array> {
  checkPayload(payload);
  if (!['image/png', 'image/jpeg', 'image/webp'].includes(mediaType)) {
    throw new InvalidArgumentError({ argument: 'mediaType', value: mediaType, message: `\`mediaType\` must be image/png, image/jpeg or image/webp (the formats a watermarked image is written in), got ${JSON.stringify(mediaType)}` });
  }
  const original = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const { data, info } = await sharp(original).raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  checkWatermarkSize(info.width, info.height, 'bytes');
  const marked = embedWatermarkPixels({ data, width: info.width, height: info.height, channels: info.channels }, payload);
  const raw = { width: info.width, height: info.height, channels: info.channels };
  const markedBuffer = Buffer.from(marked.data.buffer, marked.data.byteOffset, marked.data.byteLength);
  if (mediaType === 'image/png') return new Uint8Array(withChunksOf(await sharp(markedBuffer, { raw }).png().toBuffer(), original));
  // Drawn over the original rather than encoded from raw pixels, so sharp carries the file's
  // metadata along. Compositing adds an alpha channel, which an image without one loses again.
  let image = sharp(original).composite([{ input: markedBuffer, raw, blend: 'source' }]);
  if (info.channels % 2 === 1) image = image.removeAlpha();
  image = image.keepMetadata();
  const encoded = mediaType === 'image/jpeg' ? image.jpeg({ quality: 95 }) : image.webp(isLosslessWebp(original) ? { lossless: true } : { quality: 95 });
  return new Uint8Array(await encoded.toBuffer());
}

/** The payload an encoded image (PNG, JPEG, WebP, or anything sharp reads) carries, or undefined when none is found. */
export async function readWatermark(bytes: Uint8Array): Promise<{ payload: Uint8Array } | undefined> {
  const { data, info } = await sharp(bytes).toColourspace('srgb').raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  return readWatermarkPixels({ data, width: info.width, height: info.height, channels: info.channels });
}
