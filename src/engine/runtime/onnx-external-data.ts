// Moves initializers' external data to other files in a graph's bytes: each TensorProto's `location` and
// `offset` (its external_data entries, field 13) are rewritten, every other field kept byte for byte. LoRA
// merging uses it to hold an external data file over Node's 4 GiB buffer limit (an SDXL UNet's) as parts.
import { bytesField } from './onnx-writer.js';

/** A protobuf field as read: its number, wire type and bytes, to be copied as they are or rewritten. */
export interface ProtobufField {
  number: number;
  wireType: number;
  /** The whole field, tag included. */
  bytes: Uint8Array;
  /** A length-delimited field's payload. */
  payload?: Uint8Array;
}

/** The varint at `offset` and the offset after it. */
export function readVarint(bytes: Uint8Array, offset: number): [number, number] {
  let value = 0;
  let multiplier = 1;
  for (;;) {
    const byte = bytes[offset++]!;
    value += (byte & 0x7f) * multiplier;
    if ((byte & 0x80) === 0) return [value, offset];
    multiplier *= 128;
  }
}

/** The fields of a protobuf message, in order; nothing is decoded beyond where each one lies. */
export function protobufFields(bytes: Uint8Array): ProtobufField[] {
  const result: ProtobufField[] = [];
  for (let offset = 0; offset < bytes.length;) {
    const start = offset;
    const [key, afterKey] = readVarint(bytes, offset);
    const wireType = key & 7;
    let payload: Uint8Array | undefined;
    offset = afterKey;
    if (wireType === 0) offset = readVarint(bytes, offset)[1];
    else if (wireType === 1) offset += 8;
    else if (wireType === 5) offset += 4;
    else if (wireType === 2) {
      const [length, afterLength] = readVarint(bytes, offset);
      payload = bytes.subarray(afterLength, afterLength + length);
      offset = afterLength + length;
    } else throw new Error(`unsupported protobuf wire type ${wireType} at byte ${start}`);
    result.push({ number: Math.floor(key / 8), wireType, bytes: bytes.subarray(start, offset), payload });
  }
  return result;
}


const decode = (bytes: Uint8Array | undefined) => new TextDecoder().decode(bytes ?? new Uint8Array());

/** Where an initializer's values now are: a file name (as the graph's `location`) and the offset in it. */
export interface ExternalPlace {
  location: string;
  offset: number;
}

/**
 * The model with each named initializer's external data entries pointing at its new place (ModelProto.graph 7 →
 * GraphProto.initializer 5 → TensorProto.name 8 and external_data 13: StringStringEntryProto key 1, value 2).
 */
export function relocateExternalData(model: Uint8Array, places: ReadonlyMap<string, ExternalPlace>): Uint8Array {
  const moveTensor = (tensor: Uint8Array): Uint8Array => {
    const parts = protobufFields(tensor);
    const place = places.get(decode(parts.find((part) => part.number === 8)?.payload));
    if (!place) return tensor;
    const entry = (key: string, value: string) => bytesField(13, Buffer.concat([bytesField(1, key), bytesField(2, value)]));
    let offsetWritten = false;
    const rewritten = parts.map((part) => {
      if (part.number !== 13) return part.bytes;
      const key = decode(protobufFields(part.payload!).find((item) => item.number === 1)?.payload);
      if (key === 'location') return entry('location', place.location);
      if (key !== 'offset') return part.bytes;
      offsetWritten = true;
      return entry('offset', String(place.offset));
    });
    // An absent offset means 0, which the new place may not be.
    return Buffer.concat(offsetWritten ? rewritten : [...rewritten, entry('offset', String(place.offset))]);
  };
  const graph = (payload: Uint8Array) => Buffer.concat(protobufFields(payload).map((part) => (part.number === 5 ? bytesField(5, moveTensor(part.payload!)) : part.bytes)));
  return new Uint8Array(Buffer.concat(protobufFields(model).map((part) => (part.number === 7 ? bytesField(7, graph(part.payload!)) : part.bytes))));
}
