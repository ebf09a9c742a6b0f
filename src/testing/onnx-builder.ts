// Builds tiny ONNX models in memory for tests that need a dtype or shape no fixture has (e.g. fp16 I/O).
// Hand-written protobuf: only the handful of ModelProto fields these graphs use, so no proto library is needed.

export type ElementType = 'float32' | 'float16' | 'int64' | 'int32';
const elementTypeIds: Record<ElementType, number> = { float32: 1, int32: 6, int64: 7, float16: 10 };

export interface ValueInfo {
  name: string;
  type: ElementType;
  /** Numbers for fixed dims, strings for symbolic ones. */
  shape: ReadonlyArray<number | string>;
}

export interface NodeInfo {
  opType: string;
  inputs: string[];
  outputs: string[];
}

/** A constant tensor in the graph (a Resize's scales, a Conv's weights). */
export interface Initializer {
  name: string;
  type: 'float32';
  dims: number[];
  values: number[];
}

function varint(value: number | bigint): number[] {
  let remaining = BigInt(value);
  const bytes: number[] = [];
  do {
    let byte = Number(remaining & 0x7fn);
    remaining >>= 7n;
    if (remaining > 0n) byte |= 0x80;
    bytes.push(byte);
  } while (remaining > 0n);
  return bytes;
}

const integerField = (field: number, value: number | bigint) => [...varint(field << 3), ...varint(value)];
function bytesField(field: number, content: number[] | string): number[] {
  const payload = typeof content === 'string' ? [...Buffer.from(content, 'utf8')] : content;
  return [...varint((field << 3) | 2), ...varint(payload.length), ...payload];
}

function valueInfo({ name, type, shape }: ValueInfo): number[] {
  const dims = shape.flatMap((dim) => bytesField(1, typeof dim === 'number' ? integerField(1, dim) : bytesField(2, dim)));
  const tensorType = [...integerField(1, elementTypeIds[type]), ...bytesField(2, dims)];
  return [...bytesField(1, name), ...bytesField(2, bytesField(1, tensorType))];
}

/** TensorProto: dims, data_type, name, and the values little-endian in raw_data. */
function tensorProto({ name, type, dims, values }: Initializer): number[] {
  const raw = new Uint8Array(Float32Array.from(values).buffer);
  return [...dims.flatMap((dim) => integerField(1, dim)), ...integerField(2, elementTypeIds[type]), ...bytesField(8, name), ...bytesField(9, [...raw])];
}

/** A ModelProto (IR 8, opset 17) with the given nodes, inputs, outputs and initializers. */
export function buildOnnxModel({ nodes, inputs, outputs, initializers = [] }: { nodes: NodeInfo[]; inputs: ValueInfo[]; outputs: ValueInfo[]; initializers?: Initializer[] }): Uint8Array {
  const graph = [
    ...nodes.flatMap((node, index) => bytesField(1, [...node.inputs.flatMap((input) => bytesField(1, input)), ...node.outputs.flatMap((output) => bytesField(2, output)), ...bytesField(3, `node${index}`), ...bytesField(4, node.opType)])),
    ...bytesField(2, 'graph'),
    ...initializers.flatMap((initializer) => bytesField(5, tensorProto(initializer))),
    ...inputs.flatMap((input) => bytesField(11, valueInfo(input))),
    ...outputs.flatMap((output) => bytesField(12, valueInfo(output))),
  ];
  return Uint8Array.from([...integerField(1, 8), ...bytesField(7, graph), ...bytesField(8, [...bytesField(1, ''), ...integerField(2, 17)])]);
}
