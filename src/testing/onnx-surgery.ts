// Edits a real ONNX model's graph inputs for tests: turns an input into a constant, as a model exported
// without that input would behave (FLUX.1-schnell's transformer has no `guidance` input; the tiny FLUX
// fixture, made like FLUX.1-dev, has one). Works on the protobuf bytes, keeping every other field as is.

/** A protobuf field as read: its number, wire type and the bytes of the whole field (tag included). */
interface Field {
  number: number;
  wireType: number;
  bytes: Uint8Array;
  /** For length-delimited fields: the payload. */
  payload?: Uint8Array;
}

function readVarint(bytes: Uint8Array, offset: number): [number, number] {
  let value = 0;
  let shift = 0;
  for (;;) {
    const byte = bytes[offset++]!;
    value += (byte & 0x7f) * 2 ** shift;
    if ((byte & 0x80) === 0) return [value, offset];
    shift += 7;
  }
}

function varint(value: number): number[] {
  const out: number[] = [];
  do {
    let byte = value % 128;
    value = Math.floor(value / 128);
    if (value > 0) byte |= 0x80;
    out.push(byte);
  } while (value > 0);
  return out;
}

function fields(bytes: Uint8Array): Field[] {
  const result: Field[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    const start = offset;
    const [tag, afterTag] = readVarint(bytes, offset);
    const number = Math.floor(tag / 8);
    const wireType = tag % 8;
    offset = afterTag;
    let payload: Uint8Array | undefined;
    if (wireType === 0) offset = readVarint(bytes, offset)[1];
    else if (wireType === 1) offset += 8;
    else if (wireType === 5) offset += 4;
    else if (wireType === 2) {
      const [length, afterLength] = readVarint(bytes, offset);
      payload = bytes.subarray(afterLength, afterLength + length);
      offset = afterLength + length;
    } else throw new Error(`onnx-surgery: unexpected wire type ${wireType}`);
    result.push({ number, wireType, bytes: bytes.subarray(start, offset), payload });
  }
  return result;
}

function lengthDelimited(number: number, payload: Uint8Array): Uint8Array {
  return Uint8Array.from([...varint(number * 8 + 2), ...varint(payload.length), ...payload]);
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

const text = (value: string) => new TextEncoder().encode(value);

/** A float32 TensorProto: dims (1), data_type (2) = FLOAT, name (8), raw_data (9). */
function floatTensor(name: string, values: number[]): Uint8Array {
  const raw = new Uint8Array(new Float32Array(values).buffer);
  return concat([Uint8Array.from([...varint(1 * 8), ...varint(values.length)]), Uint8Array.from([...varint(2 * 8), 1]), lengthDelimited(8, text(name)), lengthDelimited(9, raw)]);
}

/** The model with graph input `name` removed and an initializer of that name holding `values` in its place. */
export function inputToConstant(model: Uint8Array, name: string, values: number[]): Uint8Array {
  // ModelProto.graph is field 7; GraphProto.input is field 11 (ValueInfoProto, name in field 1), initializer field 5.
  let found = false;
  const modelParts = fields(model).map((field) => {
    if (field.number !== 7 || !field.payload) return field.bytes;
    const graphParts = fields(field.payload).flatMap((graphField) => {
      if (graphField.number === 11 && graphField.payload) {
        const nameField = fields(graphField.payload).find((inner) => inner.number === 1);
        if (nameField?.payload && new TextDecoder().decode(nameField.payload) === name) {
          found = true;
          return [lengthDelimited(5, floatTensor(name, values))];
        }
      }
      return [graphField.bytes];
    });
    return lengthDelimited(7, concat(graphParts));
  });
  if (!found) throw new Error(`onnx-surgery: the model has no graph input ${JSON.stringify(name)}`);
  return concat(modelParts);
}
