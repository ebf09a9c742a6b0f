// Reads the tensors of a .safetensors file (8-byte little-endian header length, JSON header, raw little-endian data) as float32.
//
// By hand because no npm package reads safetensors tensors on Node: @huggingface/hub parses only the
// header, from the Hub. The format is specified at huggingface/safetensors (README, "Format").
import { open } from 'node:fs/promises';
import { InvalidModelError } from '../../spec/errors/invalid-model-error.js';
import { fromFloat16Bits } from './float16.js';

export interface SafetensorsTensor {
  /** The dtype as stored: F32, F16 or BF16. */
  dtype: string;
  shape: number[];
  /** The values, widened to float32. */
  values: Float32Array;
}

const bytesPerElement: Record<string, number> = { F32: 4, F16: 2, BF16: 2 };
// The header is JSON text; a larger one means this is not a safetensors file (the format caps it at 100 MB).
const largestHeader = 100_000_000;

const scratch = new Float32Array(1);
const scratchBits = new Uint32Array(scratch.buffer);

function decode(dtype: string, bytes: Uint8Array): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const count = bytes.byteLength / bytesPerElement[dtype]!;
  const values = new Float32Array(count);
  for (let index = 0; index < count; index++) {
    if (dtype === 'F32') values[index] = view.getFloat32(index * 4, true);
    else if (dtype === 'F16') values[index] = fromFloat16Bits(view.getUint16(index * 2, true));
    else {
      // bfloat16 is the top half of a float32.
      scratchBits[0] = view.getUint16(index * 2, true) << 16;
      values[index] = scratch[0]!;
    }
  }
  return values;
}

/** Every tensor in the file by name; throws InvalidModelError naming the file and what is wrong with it. */
export async function readSafetensors(path: string): Promise<Map<string, SafetensorsTensor>> {
  return (await readSafetensorsFile(path)).tensors;
}

/** The tensors and the header's `__metadata__` (string to string; empty when absent). */
export interface SafetensorsFile {
  tensors: Map<string, SafetensorsTensor>;
  metadata: Record<string, string>;
}

/**
 * Reads the 8-byte header length first and checks it against the file's size, so a file claiming a
 * 10 GB header (or a truncated one) is refused before anything that large is allocated.
 */
export async function readSafetensorsFile(path: string): Promise<SafetensorsFile> {
  const fail = (problem: string, cause?: unknown): never => {
    throw new InvalidModelError({ model: path, file: path, cause, message: `${path} is not a readable .safetensors file: ${problem}` });
  };
  let file: Buffer;
  try {
    const handle = await open(path, 'r');
    try {
      const { size } = await handle.stat();
      if (size < 8) fail(`it is ${size} bytes long, shorter than the 8-byte header length`);
      const prefix = Buffer.alloc(8);
      await handle.read(prefix, 0, 8, 0);
      const claimed = prefix.readBigUInt64LE(0);
      if (claimed > BigInt(largestHeader) || 8n + claimed > BigInt(size)) {
        fail(`its header length ${claimed} does not fit in its ${size} bytes (a .pth or truncated file?)`);
      }
      file = Buffer.alloc(size);
      await handle.read(file, 0, size, 0);
    } finally {
      await handle.close();
    }
  } catch (cause) {
    if (InvalidModelError.isInstance(cause)) throw cause;
    return fail(`it could not be read (${(cause as Error).message})`, cause);
  }
  const headerLength = Number(file.readBigUInt64LE(0));
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(file.toString('utf8', 8, 8 + headerLength)) as Record<string, unknown>;
  } catch (cause) {
    return fail(`its header is not JSON (${(cause as Error).message})`, cause);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) fail('its header is not a JSON object');
  const dataStart = 8 + headerLength;
  const tensors = new Map<string, SafetensorsTensor>();
  const metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      for (const [key, value] of Object.entries((entry ?? {}) as Record<string, unknown>)) metadata[key] = String(value);
      continue;
    }
    const { dtype, shape, data_offsets: offsets } = (entry ?? {}) as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof dtype !== 'string' || !Array.isArray(shape) || !Array.isArray(offsets) || offsets.length !== 2) fail(`tensor "${name}" has no dtype, shape and data_offsets`);
    const size = bytesPerElement[dtype as string];
    if (!size) fail(`tensor "${name}" is ${String(dtype)}; pixelpipe reads F32, F16 and BF16 (save the weights as float32)`);
    const [begin, end] = offsets as number[];
    const elements = (shape as number[]).reduce((product, dimension) => product * dimension, 1);
    if (!Number.isInteger(begin) || !Number.isInteger(end) || begin! < 0 || end! > file.byteLength - dataStart || end! - begin! !== elements * size!) {
      fail(`tensor "${name}" ([${(shape as number[]).join(', ')}] ${String(dtype)}) has data_offsets [${begin}, ${end}] that do not hold it (a truncated file?)`);
    }
    tensors.set(name, { dtype: dtype as string, shape: shape as number[], values: decode(dtype as string, file.subarray(dataStart + begin!, dataStart + end!)) });
  }
  return { tensors, metadata };
}
