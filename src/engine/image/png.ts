// PNG encoding with text chunks: sharp writes the pixels; the metadata chunks are spliced in by hand
// because sharp (libvips) can write EXIF/XMP but not arbitrary tEXt/iTXt chunks.
import { crc32, deflateSync, inflateSync } from 'node:zlib';
import sharp from 'sharp';

export interface PngTextChunk {
  keyword: string;
  text: string;
  /** iTXt (UTF-8, optionally compressed) rather than tEXt (Latin-1). */
  international?: boolean;
}

const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Encodes interleaved RGB bytes as PNG and adds the text chunks before the image data. */
export async function encodePng(rgb: Uint8Array, width: number, height: number, textChunks: readonly PngTextChunk[] = []): Promise<Buffer> {
  const png = await sharp(rgb, { raw: { width, height, channels: 3 } }).png({ compressionLevel: 6 }).toBuffer();
  return insertTextChunks(png, textChunks);
}

export function insertTextChunks(png: Buffer, textChunks: readonly PngTextChunk[]): Buffer {
  if (!png.subarray(0, 8).equals(signature)) throw new Error('not a PNG file');
  const headerEnd = 8 + 12 + png.readUInt32BE(8); // signature + IHDR chunk
  const chunks = textChunks.map(encodeTextChunk);
  return Buffer.concat([png.subarray(0, headerEnd), ...chunks, png.subarray(headerEnd)]);
}

function encodeTextChunk({ keyword, text, international }: PngTextChunk): Buffer {
  if (!/^[\x20-\x7e]{1,79}$/.test(keyword)) throw new Error(`PNG text keyword must be 1-79 printable Latin-1 characters, got ${JSON.stringify(keyword)}`);
  if (international) {
    const compressed = deflateSync(Buffer.from(text, 'utf8'));
    // keyword \0 compression-flag(1) method(0) language-tag \0 translated-keyword \0 text
    return pngChunk('iTXt', Buffer.concat([Buffer.from(keyword, 'latin1'), Buffer.from([0, 1, 0, 0, 0]), compressed]));
  }
  return pngChunk('tEXt', Buffer.concat([Buffer.from(keyword, 'latin1'), Buffer.from([0]), Buffer.from(text, 'latin1')]));
}

/** The PNG without its tEXt, iTXt and zTXt chunks named `keyword`; the image data is not touched. */
export function removeTextChunks(png: Buffer, keyword: string): Buffer {
  if (!png.subarray(0, 8).equals(signature)) throw new Error('not a PNG file');
  const kept = [png.subarray(0, 8)];
  for (let offset = 8; offset + 8 <= png.length; ) {
    const end = offset + 12 + png.readUInt32BE(offset);
    const type = png.toString('latin1', offset + 4, offset + 8);
    const data = png.subarray(offset + 8, end - 4);
    const named = (type === 'tEXt' || type === 'iTXt' || type === 'zTXt') && data.toString('latin1', 0, data.indexOf(0)) === keyword;
    if (!named) kept.push(png.subarray(offset, end));
    offset = end;
  }
  return Buffer.concat(kept);
}

/** One PNG chunk: length, type, data, CRC-32 over type and data. */
export function pngChunk(type: string, data: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header.writeUInt32BE(data.length, 0);
  header.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([header.subarray(4), data])) >>> 0, 0);
  return Buffer.concat([header, data, crc]);
}

/** Reads every tEXt/iTXt chunk of a PNG (keyword → text). */
export function readPngText(png: Uint8Array): Record<string, string> {
  const buffer = Buffer.from(png.buffer, png.byteOffset, png.byteLength);
  if (!buffer.subarray(0, 8).equals(signature)) throw new Error('not a PNG file');
  const texts: Record<string, string> = {};
  for (let offset = 8; offset + 8 <= buffer.length; ) {
    const length = buffer.readUInt32BE(offset);
    const type = buffer.toString('latin1', offset + 4, offset + 8);
    const data = buffer.subarray(offset + 8, offset + 8 + length);
    if (type === 'tEXt') {
      const zero = data.indexOf(0);
      texts[data.toString('latin1', 0, zero)] = data.toString('latin1', zero + 1);
    } else if (type === 'iTXt') {
      const zero = data.indexOf(0);
      const compressed = data[zero + 1] === 1;
      const languageEnd = data.indexOf(0, zero + 3);
      const translatedEnd = data.indexOf(0, languageEnd + 1);
      const body = data.subarray(translatedEnd + 1);
      texts[data.toString('latin1', 0, zero)] = (compressed ? inflateSync(body) : body).toString('utf8');
    }
    offset += 12 + length;
  }
  return texts;
}
