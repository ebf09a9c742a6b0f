// Writes ONNX models (ModelProto bytes) in memory: graphs the engine builds itself (upscalers converted
// from Keras) and the tiny models tests need.
// Hand-written protobuf because no maintained JS library writes ONNX (onnx-proto and friends are
// unmaintained read-side bindings, and protobufjs plus the 900-line onnx.proto is a heavy dependency for
// this): it emits only the subset of onnx.proto used here: nodes with int, float, string and list
// attributes, float32/int64/int32/int8/uint8 initializers as raw little-endian data, tensor value infos
// with fixed or symbolic dims, one opset import. Field numbers are onnx.proto's (IR version 8).

export type ElementType = 'float32' | 'float16' | 'int64' | 'int32';
const elementTypeIds: Record<ElementType, number> = { float32: 1, int32: 6, int64: 7, float16: 10 };

export interface OnnxValueInfo {
  name: string;
  type: ElementType;
  /** Numbers for fixed dims, strings for symbolic ones. */
  shape: ReadonlyArray<number | string>;
}

/** A node attribute; the key says its protobuf type, since a JS number cannot tell int from float. */
export type OnnxAttribute = { int: number } | { ints: readonly number[] } | { float: number } | { floats: readonly number[] } | { string: string };

export interface OnnxNode {
  opType: string;
  inputs: string[];
  outputs: string[];
  /** Defaults to `node<index>`. */
  name?: string;
  /** The operator's domain (`com.microsoft` for ONNX Runtime's contrib ops); the default domain when absent. */
  domain?: string;
  attributes?: Record<string, OnnxAttribute>;
}

/** A constant tensor in the graph (a Conv's weights, a Resize's scales). */
export interface OnnxInitializer {
  name: string;
  type: 'float32' | 'int64' | 'int32' | 'int8' | 'uint8';
  dims: readonly number[];
  values: ArrayLike<number>;
}

const initializerTypeIds: Record<OnnxInitializer['type'], number> = { float32: 1, uint8: 2, int8: 3, int32: 6, int64: 7 };

export interface OnnxModelDescription {
  nodes: OnnxNode[];
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
  initializers?: OnnxInitializer[];
  /** Default-domain opset; 17 unless given. */
  opset?: number;
  graphName?: string;
  producer?: string;
}

type Bytes = Uint8Array;

function varint(value: number | bigint): Bytes {
  // int64 fields hold negatives as 64-bit two's complement (ten bytes), as protobuf does.
  let remaining = BigInt.asUintN(64, BigInt(value));
  const bytes: number[] = [];
  do {
    let byte = Number(remaining & 0x7fn);
    remaining >>= 7n;
    if (remaining > 0n) byte |= 0x80;
    bytes.push(byte);
  } while (remaining > 0n);
  return Uint8Array.from(bytes);
}

const concat = (parts: readonly Bytes[]): Bytes => Buffer.concat(parts);
export const integerField = (field: number, value: number | bigint): Bytes => concat([varint(field << 3), varint(value)]);

function float32Field(field: number, value: number): Bytes {
  const bytes = Buffer.alloc(5);
  bytes[0] = (field << 3) | 5;
  bytes.writeFloatLE(value, 1);
  return bytes;
}

export function bytesField(field: number, content: Bytes | string): Bytes {
  const payload = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
  return concat([varint((field << 3) | 2), varint(payload.length), payload]);
}

function valueInfo({ name, type, shape }: OnnxValueInfo): Bytes {
  const dims = concat(shape.map((dim) => bytesField(1, typeof dim === 'number' ? integerField(1, dim) : bytesField(2, dim))));
  const tensorType = concat([integerField(1, elementTypeIds[type]), bytesField(2, dims)]);
  return concat([bytesField(1, name), bytesField(2, bytesField(1, tensorType))]);
}

/** TensorProto: dims, data_type, name, and the values little-endian in raw_data. */
export function tensorProto({ name, type, dims, values }: OnnxInitializer): Bytes {
  const count = dims.reduce((product, dim) => product * dim, 1);
  if (values.length !== count) throw new Error(`initializer ${name} has ${values.length} values for dims [${dims.join(', ')}] (${count})`);
  let raw: Bytes;
  if (type === 'float32') raw = new Uint8Array((values instanceof Float32Array ? values : Float32Array.from(values)).slice().buffer);
  else if (type === 'int32') raw = new Uint8Array(Int32Array.from(values).buffer);
  else if (type === 'int8') raw = new Uint8Array(Int8Array.from(values).buffer);
  else if (type === 'uint8') raw = Uint8Array.from(values);
  else raw = new Uint8Array(BigInt64Array.from(Array.from(values, (value) => BigInt(value))).buffer);
  return concat([...dims.map((dim) => integerField(1, dim)), integerField(2, initializerTypeIds[type]), bytesField(8, name), bytesField(9, raw)]);
}

// AttributeProto.AttributeType: FLOAT 1, INT 2, STRING 3, FLOATS 6, INTS 7.
function attributeProto(name: string, attribute: OnnxAttribute): Bytes {
  const parts = [bytesField(1, name)];
  if ('int' in attribute) parts.push(integerField(3, attribute.int), integerField(20, 2));
  else if ('float' in attribute) parts.push(float32Field(2, attribute.float), integerField(20, 1));
  else if ('string' in attribute) parts.push(bytesField(4, attribute.string), integerField(20, 3));
  else if ('ints' in attribute) parts.push(...attribute.ints.map((value) => integerField(8, value)), integerField(20, 7));
  else parts.push(...attribute.floats.map((value) => float32Field(7, value)), integerField(20, 6));
  return concat(parts);
}

export function nodeProto(node: OnnxNode, index: number): Bytes {
  return concat([
    ...node.inputs.map((input) => bytesField(1, input)),
    ...node.outputs.map((output) => bytesField(2, output)),
    bytesField(3, node.name ?? `node${index}`),
    bytesField(4, node.opType),
    ...Object.entries(node.attributes ?? {}).map(([name, attribute]) => bytesField(5, attributeProto(name, attribute))),
    ...(node.domain ? [bytesField(7, node.domain)] : []),
  ]);
}

/** A ModelProto (IR 8) with the given nodes, inputs, outputs and initializers, as bytes ONNX Runtime loads. */
export function buildOnnxModel({ nodes, inputs, outputs, initializers = [], opset = 17, graphName = 'graph', producer }: OnnxModelDescription): Uint8Array {
  const graph = concat([
    ...nodes.map((node, index) => bytesField(1, nodeProto(node, index))),
    bytesField(2, graphName),
    ...initializers.map((initializer) => bytesField(5, tensorProto(initializer))),
    ...inputs.map((input) => bytesField(11, valueInfo(input))),
    ...outputs.map((output) => bytesField(12, valueInfo(output))),
  ]);
  return new Uint8Array(
    concat([integerField(1, 8), ...(producer ? [bytesField(2, producer)] : []), bytesField(7, graph), bytesField(8, concat([bytesField(1, ''), integerField(2, opset)]))]),
  );
}
