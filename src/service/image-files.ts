// Writing an image under the name the user gave: the file's format follows its extension, converting when needed.
import { extname } from 'node:path';
import sharp from 'sharp';
import { exifFits, recordXmp, replaceExif, userCommentExif, xmpFits } from '../engine/image/exif-xmp.js';
import { readPngText } from '../engine/image/png.js';
import { InvalidArgumentError } from '../spec/errors/invalid-argument-error.js';

const formatOfExtension: Record<string, 'png' | 'jpeg' | 'webp'> = { '.png': 'png', '.jpg': 'jpeg', '.jpeg': 'jpeg', '.webp': 'webp' };
/** The media type each format pixelpipe writes has. */
export const mediaTypeOf = { png: 'image/png', jpeg: 'image/jpeg', webp: 'image/webp' } as const;
export const extensionOfMediaType: Record<string, string> = { 'image/png': '.png', 'image/jpeg': '.jpg', 'image/webp': '.webp', 'image/gif': '.gif' };

/**
 * The format a file at `path` is written in, from its extension; undefined without one (the image
 * keeps its own format). An extension that names no format we write is refused, so callers can
 * check `--out` before any work is done.
 */
export function outputFormatOf(path: string): 'png' | 'jpeg' | 'webp' | undefined {
  const extension = extname(path).toLowerCase();
  if (extension === '') return undefined;
  const format = formatOfExtension[extension];
  if (format === undefined) {
    throw new InvalidArgumentError({ argument: 'out', value: path, message: `\`--out\` must end in .png, .jpg, .jpeg or .webp (the file's format follows its name), got ${JSON.stringify(extension)}` });
  }
  return format;
}

/**
 * The bytes to write at `path`: unchanged when the image already is the format the extension names
 * (so a local PNG keeps its record chunks), converted otherwise. A path without an extension keeps
 * the image's own format. A PNG's record survives conversion to JPEG or WebP: A1111's `parameters`
 * go to EXIF UserComment (where A1111 puts them in those formats) and the `pixelpipe` record to XMP.
 */
export async function encodeForPath(image: { bytes: Uint8Array; mediaType: string }, path: string): Promise<{ bytes: Uint8Array; mediaType: string; converted: boolean }> {
  const format = outputFormatOf(path);
  if (format === undefined || mediaTypeOf[format] === image.mediaType) return { ...image, converted: false };
  return { ...(await encodeAs(image, format, { lossless: image.mediaType === 'image/png' })), converted: true };
}

/** The format that writes `mediaType`; an error for one pixelpipe does not write. */
export function formatOfMediaType(mediaType: string): 'png' | 'jpeg' | 'webp' {
  const format = (Object.keys(mediaTypeOf) as (keyof typeof mediaTypeOf)[]).find((key) => mediaTypeOf[key] === mediaType);
  if (format === undefined) throw new InvalidArgumentError({ argument: 'mediaType', value: mediaType, message: `images are written as image/png, image/jpeg or image/webp, got ${JSON.stringify(mediaType)}` });
  return format;
}

/**
 * `image` in `format`, its record kept: a PNG's A1111 `parameters` go to EXIF UserComment (where A1111
 * puts them in JPEG and WebP) and the `pixelpipe` record to XMP. WebP is lossless when `lossless`
 * (the source was lossless) and no `quality` is given; JPEG is at `quality`, by default a high one so a
 * conversion does not visibly degrade. PNG ignores `quality` (it is always lossless).
 */
export async function encodeAs(image: { bytes: Uint8Array; mediaType: string }, format: 'png' | 'jpeg' | 'webp', { lossless = false, quality }: { lossless?: boolean; quality?: number } = {}): Promise<{ bytes: Uint8Array; mediaType: string }> {
  if (format === 'png') return { bytes: new Uint8Array(await sharp(image.bytes).png().toBuffer()), mediaType: mediaTypeOf.png };
  const record = image.mediaType === 'image/png' ? readPngText(image.bytes) : {};
  const xmp = record.pixelpipe === undefined ? undefined : recordXmp(record.pixelpipe);
  const userComment = record.parameters === undefined ? undefined : userCommentExif(record.parameters);
  let pipeline = sharp(image.bytes);
  if (xmp !== undefined && xmpFits(xmp, format)) pipeline = pipeline.withXmp(xmp);
  // A stand-in EXIF block makes the encoder leave room (a JPEG segment, a WebP chunk) that the real one replaces.
  const keepsComment = userComment !== undefined && exifFits(userComment, format);
  if (keepsComment) pipeline = pipeline.withExif({ IFD0: { Software: 'pixelpipe' } });
  const bytes = format === 'webp'
    ? await pipeline.webp(quality === undefined ? { lossless } : { quality }).toBuffer()
    : await pipeline.flatten({ background: '#ffffff' }).jpeg({ quality: quality ?? 95 }).toBuffer();
  const written = keepsComment ? replaceExif(bytes, format, userComment) : bytes;
  return { bytes: new Uint8Array(written), mediaType: mediaTypeOf[format] };
}
