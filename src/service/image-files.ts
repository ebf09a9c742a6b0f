// Writing an image under the name the user gave: the file's format follows its extension, converting when needed.
import { extname } from 'node:path';
import sharp from 'sharp';
import { InvalidArgumentError } from '../spec/errors/invalid-argument-error.js';

const formatOfExtension: Record<string, 'png' | 'jpeg' | 'webp'> = { '.png': 'png', '.jpg': 'jpeg', '.jpeg': 'jpeg', '.webp': 'webp' };
const mediaTypeOf = { png: 'image/png', jpeg: 'image/jpeg', webp: 'image/webp' } as const;
export const extensionOfMediaType: Record<string, string> = { 'image/png': '.png', 'image/jpeg': '.jpg', 'image/webp': '.webp', 'image/gif': '.gif' };

/**
 * The bytes to write at `path`: unchanged when the image already is the format the extension names
 * (so a local PNG keeps its record chunks), converted otherwise. A path without an extension keeps
 * the image's own format.
 */
export async function encodeForPath(image: { bytes: Uint8Array; mediaType: string }, path: string): Promise<{ bytes: Uint8Array; mediaType: string; converted: boolean }> {
  const extension = extname(path).toLowerCase();
  if (extension === '') return { ...image, converted: false };
  const format = formatOfExtension[extension];
  if (format === undefined) {
    throw new InvalidArgumentError({ argument: 'out', value: path, message: `\`--out\` must end in .png, .jpg, .jpeg or .webp (the file's format follows its name), got ${JSON.stringify(extension)}` });
  }
  if (mediaTypeOf[format] === image.mediaType) return { ...image, converted: false };
  // Lossless where the target allows; JPEG at a high quality so a conversion does not visibly degrade.
  const pipeline = sharp(image.bytes);
  const bytes = format === 'png' ? await pipeline.png().toBuffer() : format === 'webp' ? await pipeline.webp({ lossless: image.mediaType === 'image/png' }).toBuffer() : await pipeline.flatten({ background: '#ffffff' }).jpeg({ quality: 95 }).toBuffer();
  return { bytes: new Uint8Array(bytes), mediaType: mediaTypeOf[format], converted: true };
}
