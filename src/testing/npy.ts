// Reads NumPy .npy files (the format of the diffusers reference values) into typed arrays.
import { readFileSync } from 'node:fs';

export interface NpyArray {
  shape: number[];
  dtype: string;
  data: Float32Array | Float64Array | BigInt64Array | Int32Array | Uint8Array;
}

export function readNpy(path: string): NpyArray {
  const buffer = readFileSync(path);
  if (buffer.toString('latin1', 1, 6) !== 'NUMPY') throw new Error(`${path} is not an .npy file`);
  const major = buffer[6]!;
  const headerLength = major === 1 ? buffer.readUInt16LE(8) : buffer.readUInt32LE(8);
  const headerStart = major === 1 ? 10 : 12;
  const header = buffer.toString('latin1', headerStart, headerStart + headerLength);
  const dtype = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!dtype || shapeText === undefined) throw new Error(`${path}: unreadable header ${header}`);
  if (/'fortran_order':\s*True/.test(header)) throw new Error(`${path}: fortran order not supported`);
  const shape = shapeText.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  const start = headerStart + headerLength;
  const bytes = buffer.subarray(start);
  const copy = new Uint8Array(bytes).buffer; // aligned copy
  switch (dtype) {
    case '<f4': return { shape, dtype, data: new Float32Array(copy) };
    case '<f8': return { shape, dtype, data: new Float64Array(copy) };
    case '<i8': return { shape, dtype, data: new BigInt64Array(copy) };
    case '<i4': return { shape, dtype, data: new Int32Array(copy) };
    case '|u1': return { shape, dtype, data: new Uint8Array(copy) };
    default: throw new Error(`${path}: dtype ${dtype} not supported`);
  }
}
