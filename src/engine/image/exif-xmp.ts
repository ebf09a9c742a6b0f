// The generation record in JPEG and WebP files: A1111's parameters as EXIF UserComment, the pixelpipe record as XMP.
// sharp (libvips) writes UserComment only as ASCII, replacing other characters, so the EXIF block is built here
// and put in place of the one sharp wrote.

/** EXIF tag numbers used here. */
const exifIfdPointerTag = 0x8769;
const userCommentTag = 0x9286;
const longType = 4;
const undefinedType = 7;

/** The 8-byte character-code prefix of a UserComment in UTF-16 (piexif's UNICODE, which A1111 uses for JPEG and WebP). */
const unicodePrefix = Buffer.from('UNICODE\0', 'latin1');

/** APP1 segments hold at most 65 535 bytes including their 2-byte length. */
const jpegSegmentLimit = 65_535;

const exifHeader = Buffer.from('Exif\0\0', 'latin1');

/**
 * A big-endian TIFF block (as piexif writes) whose Exif IFD holds `text` as UserComment:
 * `UNICODE\0` and the text in UTF-16BE, which A1111, piexif and exiftool read back.
 */
export function userCommentExif(text: string): Buffer {
  const comment = Buffer.concat([unicodePrefix, utf16BigEndian(text)]);
  // header (8) | IFD0: count, 1 entry, next (18) | Exif IFD: count, 1 entry, next (18) | comment
  const ifd0Offset = 8;
  const exifIfdOffset = ifd0Offset + 18;
  const commentOffset = exifIfdOffset + 18;
  const tiff = Buffer.alloc(commentOffset + comment.length);
  tiff.write('MM', 0, 'latin1');
  tiff.writeUInt16BE(42, 2);
  tiff.writeUInt32BE(ifd0Offset, 4);
  writeIfd(tiff, ifd0Offset, exifIfdPointerTag, longType, 1, exifIfdOffset);
  writeIfd(tiff, exifIfdOffset, userCommentTag, undefinedType, comment.length, commentOffset);
  comment.copy(tiff, commentOffset);
  return tiff;
}

/** One IFD of one entry whose value (or value offset) is `value`, and no next IFD. */
function writeIfd(tiff: Buffer, offset: number, tag: number, type: number, count: number, value: number): void {
  tiff.writeUInt16BE(1, offset);
  tiff.writeUInt16BE(tag, offset + 2);
  tiff.writeUInt16BE(type, offset + 4);
  tiff.writeUInt32BE(count, offset + 6);
  tiff.writeUInt32BE(value, offset + 10);
  tiff.writeUInt32BE(0, offset + 14);
}

function utf16BigEndian(text: string): Buffer {
  const bytes = Buffer.from(text, 'utf16le');
  return bytes.swap16();
}

/** The XMP namespace of the pixelpipe record. */
export const pixelpipeXmpNamespace = 'urn:pixelpipe:xmp:1.0/';

/** An XMP packet holding `record` (the JSON of the PNG's `pixelpipe` chunk) as `pixelpipe:record`. */
export function recordXmp(record: string): string {
  return [
    '<?xpacket begin="\uFEFF" id="W5M0MpCehiHzreSzNTczkc9d"?>',
    '<x:xmpmeta xmlns:x="adobe:ns:meta/">',
    '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">',
    `<rdf:Description rdf:about="" xmlns:pixelpipe="${pixelpipeXmpNamespace}">`,
    `<pixelpipe:record>${escapeXml(record)}</pixelpipe:record>`,
    '</rdf:Description>',
    '</rdf:RDF>',
    '</x:xmpmeta>',
    '<?xpacket end="w"?>',
  ].join('\n');
}

function escapeXml(text: string): string {
  // XML 1.0 cannot hold most control characters even escaped; JSON escapes them, so none should reach here.
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Whether `tiff` fits in a JPEG's APP1 segment (WebP chunks have no such limit). */
export function exifFits(tiff: Buffer, format: 'jpeg' | 'webp'): boolean {
  return format === 'webp' || 2 + exifHeader.length + tiff.length <= jpegSegmentLimit;
}

/** XMP in a JPEG is one APP1 segment after a 29-byte namespace header; libvips drops a larger packet without a word. */
export function xmpFits(xmp: string, format: 'jpeg' | 'webp'): boolean {
  return format === 'webp' || 2 + 29 + Buffer.byteLength(xmp, 'utf8') <= jpegSegmentLimit;
}

/** `file` with the EXIF block that the encoder wrote replaced by `tiff`; throws when the file has none. */
export function replaceExif(file: Uint8Array, format: 'jpeg' | 'webp', tiff: Buffer): Buffer {
  const bytes = Buffer.from(file.buffer, file.byteOffset, file.byteLength);
  return format === 'jpeg' ? replaceJpegExif(bytes, tiff) : replaceWebpExif(bytes, tiff);
}

function replaceJpegExif(jpeg: Buffer, tiff: Buffer): Buffer {
  // Markers follow the SOI (FFD8), each FFxx + 2-byte length, until the scan data starts (SOS, FFDA).
  for (let offset = 2; offset + 4 <= jpeg.length && jpeg[offset] === 0xff; ) {
    const marker = jpeg[offset + 1]!;
    const length = jpeg.readUInt16BE(offset + 2);
    if (marker === 0xda) break;
    if (marker === 0xe1 && jpeg.subarray(offset + 4, offset + 4 + exifHeader.length).equals(exifHeader)) {
      const segment = Buffer.alloc(4);
      segment.writeUInt16BE(0xffe1, 0);
      segment.writeUInt16BE(2 + exifHeader.length + tiff.length, 2);
      return Buffer.concat([jpeg.subarray(0, offset), segment, exifHeader, tiff, jpeg.subarray(offset + 2 + length)]);
    }
    offset += 2 + length;
  }
  throw new Error('the JPEG has no EXIF segment to replace');
}

function replaceWebpExif(webp: Buffer, tiff: Buffer): Buffer {
  // RIFF size WEBP, then chunks: fourcc, 4-byte little-endian size, data padded to an even length.
  for (let offset = 12; offset + 8 <= webp.length; ) {
    const fourcc = webp.toString('latin1', offset, offset + 4);
    const size = webp.readUInt32LE(offset + 4);
    const end = offset + 8 + size + (size & 1);
    if (fourcc === 'EXIF') {
      // The WebP container spec has the chunk start with the TIFF header; libvips puts JPEG's `Exif\0\0` before it, which Pillow and exiftool flag.
      const data = tiff;
      const chunkHeader = Buffer.alloc(8);
      chunkHeader.write('EXIF', 0, 'latin1');
      chunkHeader.writeUInt32LE(data.length, 4);
      const result = Buffer.concat([webp.subarray(0, offset), chunkHeader, data, Buffer.alloc(data.length & 1), webp.subarray(end)]);
      result.writeUInt32LE(result.length - 8, 4);
      return result;
    }
    offset = end;
  }
  throw new Error('the WebP has no EXIF chunk to replace');
}
