// Edits real ONNX models for tests, on the protobuf bytes, keeping every other field as is:
// - turns a graph input into a constant, as a model exported without that input would behave (FLUX.1-schnell's
//   transformer has no `guidance` input; the tiny FLUX fixture, made like FLUX.1-dev, has one);
// - quantizes the weights of MatMul and Gemm nodes into the forms quantized exports ship (int8/uint8 behind
//   `DequantizeLinear`, ONNX Runtime's 4-bit `MatMulNBits`), since no real quantized export can be downloaded here.
import { protobufFields, readVarint } from '../engine/runtime/onnx-external-data.js';
import { readOnnxGraph, type OnnxReadNode } from '../engine/runtime/onnx-reader.js';
import { nodeProto, tensorProto, type OnnxInitializer, type OnnxNode } from '../engine/runtime/onnx-writer.js';

const fields = protobufFields;

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

/** How `quantizeWeights` stores the weights. */
export type WeightQuantization = 'int8' | 'uint8' | 'matmul-4bit';

/**
 * The model with the 2-D float32 weights of its MatMul and Gemm nodes quantized, as quantized exports ship them:
 * - `int8` / `uint8`: per-tensor, symmetric (uint8 with zero point 128), each weight replaced by a
 *   `DequantizeLinear` of its quantized values (what `onnxruntime.quantization.quantize_dynamic` writes);
 * - `matmul-4bit`: each MatMul whose weight's rows are a multiple of `blockSize` becomes ONNX Runtime's
 *   `com.microsoft.MatMulNBits` with 4-bit values, blocks of `blockSize` along K, one scale per block and
 *   the default zero point 8 (what `MatMul4BitsQuantizer` writes); Gemm nodes stay float.
 * Weights of fewer than `minElements` values stay float. Gives the names of the weights quantized.
 */
export function quantizeWeights(model: Uint8Array, mode: WeightQuantization, { blockSize = 32, minElements = 256 } = {}): { bytes: Uint8Array; quantized: string[] } {
  const graph = readOnnxGraph(model);
  const uses = new Map<string, number>();
  for (const node of graph.nodes) for (const input of node.inputs) uses.set(input, (uses.get(input) ?? 0) + 1);
  const floatWeight = (name: string | undefined) => {
    const tensor = name === undefined ? undefined : graph.initializers.get(name);
    if (!tensor || tensor.dataType !== 1 || !tensor.inline || tensor.dims.length !== 2 || tensor.dims[0]! * tensor.dims[1]! < minElements) return undefined;
    return { dims: tensor.dims as [number, number], values: new Float32Array(new Uint8Array(model.subarray(tensor.inline.offset, tensor.inline.offset + tensor.inline.length)).buffer) };
  };

  const dequantizers: OnnxNode[] = [];
  const replacements = new Map<number, OnnxNode>();
  const added: OnnxInitializer[] = [];
  const removed = new Set<string>();
  graph.nodes.forEach((node: OnnxReadNode, index) => {
    const weightName = node.inputs[1]!;
    const weight = (node.opType === 'MatMul' || node.opType === 'Gemm') && !removed.has(weightName) ? floatWeight(weightName) : undefined;
    if (!weight) return;
    if (mode === 'matmul-4bit') {
      const [k, n] = weight.dims;
      if (node.opType !== 'MatMul' || k % blockSize !== 0 || uses.get(weightName) !== 1) return;
      const { packed, scales } = quantize4Bit(weight.values, k, n, blockSize);
      added.push({ name: `${weightName}_q4`, type: 'uint8', dims: [n, k / blockSize, blockSize / 2], values: packed }, { name: `${weightName}_scales`, type: 'float32', dims: [n * (k / blockSize)], values: scales });
      replacements.set(index, { opType: 'MatMulNBits', domain: 'com.microsoft', name: node.name, inputs: [node.inputs[0]!, `${weightName}_q4`, `${weightName}_scales`], outputs: node.outputs, attributes: { K: { int: k }, N: { int: n }, bits: { int: 4 }, block_size: { int: blockSize } } });
    } else {
      const largest = weight.values.reduce((most, value) => Math.max(most, Math.abs(value)), 0);
      const scale = largest / 127 || 1;
      const zeroPoint = mode === 'uint8' ? 128 : 0;
      const low = mode === 'uint8' ? 0 : -128;
      const high = mode === 'uint8' ? 255 : 127;
      const values = Array.from(weight.values, (value) => Math.min(high, Math.max(low, Math.round(value / scale) + zeroPoint)));
      added.push({ name: `${weightName}_quantized`, type: mode, dims: weight.dims, values }, { name: `${weightName}_scale`, type: 'float32', dims: [], values: [scale] }, { name: `${weightName}_zero_point`, type: mode, dims: [], values: [zeroPoint] });
      dequantizers.push({ opType: 'DequantizeLinear', name: `${weightName}_dequantize`, inputs: [`${weightName}_quantized`, `${weightName}_scale`, `${weightName}_zero_point`], outputs: [weightName] });
    }
    removed.add(weightName);
  });

  // GraphProto: node 1, initializer 5 (TensorProto, name in field 8). New DequantizeLinear nodes go first,
  // so the node list stays in topological order; a replaced node keeps its place.
  let nodeIndex = 0;
  const modelParts = fields(model).map((field) => {
    if (field.number !== 7 || !field.payload) return field.bytes;
    const graphParts: Uint8Array[] = [];
    for (const graphField of fields(field.payload)) {
      if (graphField.number === 1) {
        if (nodeIndex === 0) graphParts.push(...dequantizers.map((node, index) => lengthDelimited(1, nodeProto(node, index))));
        const replacement = replacements.get(nodeIndex);
        graphParts.push(replacement ? lengthDelimited(1, nodeProto(replacement, nodeIndex)) : graphField.bytes);
        nodeIndex += 1;
      } else if (graphField.number === 5 && graphField.payload) {
        const nameField = fields(graphField.payload).find((inner) => inner.number === 8);
        if (!(nameField?.payload && removed.has(new TextDecoder().decode(nameField.payload)))) graphParts.push(graphField.bytes);
      } else graphParts.push(graphField.bytes);
    }
    graphParts.push(...added.map((initializer) => lengthDelimited(5, tensorProto(initializer))));
    return lengthDelimited(7, concat(graphParts));
  });
  // ModelProto.opset_import (8): OperatorSetIdProto { domain 1, version 2 }; MatMulNBits is com.microsoft's, version 1.
  const hasMicrosoft = fields(model).some((field) => field.number === 8 && field.payload && fields(field.payload).some((inner) => inner.number === 1 && inner.payload && new TextDecoder().decode(inner.payload) === 'com.microsoft'));
  if (mode === 'matmul-4bit' && replacements.size > 0 && !hasMicrosoft) modelParts.push(lengthDelimited(8, concat([lengthDelimited(1, text('com.microsoft')), Uint8Array.from([2 * 8, 1])])));
  return { bytes: concat(modelParts), quantized: [...removed] };
}

/** W [K, N] row-major as MatMulNBits wants it: per column, blocks of `blockSize` rows, two 4-bit values a byte (low nibble first), q = round(w / scale) + 8. */
function quantize4Bit(values: Float32Array, k: number, n: number, blockSize: number): { packed: Uint8Array; scales: Float32Array } {
  const blocks = k / blockSize;
  const packed = new Uint8Array(n * blocks * (blockSize / 2));
  const scales = new Float32Array(n * blocks);
  for (let column = 0; column < n; column++) {
    for (let block = 0; block < blocks; block++) {
      let largest = 0;
      for (let row = 0; row < blockSize; row++) largest = Math.max(largest, Math.abs(values[(block * blockSize + row) * n + column]!));
      const scale = largest / 7 || 1;
      scales[column * blocks + block] = scale;
      for (let row = 0; row < blockSize; row++) {
        const q = Math.min(15, Math.max(0, Math.round(values[(block * blockSize + row) * n + column]! / scale) + 8));
        const byte = (column * blocks + block) * (blockSize / 2) + (row >> 1);
        packed[byte]! |= row % 2 === 0 ? q : q << 4;
      }
    }
  }
  return { packed, scales };
}

const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

/** A ValueInfoProto's name and, for a tensor, its elem_type (ValueInfoProto.type 2 → TypeProto.tensor_type 1 → elem_type 1). */
function valueInfoOf(payload: Uint8Array): { name: string; elemType?: number } {
  const parts = fields(payload);
  const name = decode(parts.find((part) => part.number === 1)?.payload ?? new Uint8Array());
  const tensorType = fields(parts.find((part) => part.number === 2)?.payload ?? new Uint8Array()).find((part) => part.number === 1)?.payload;
  const elemField = tensorType && fields(tensorType).find((part) => part.number === 1);
  return { name, elemType: elemField ? readVarint(elemField.bytes, 1)[0] : undefined };
}

/** The ValueInfoProto with its tensor elem_type set to `elemType`, every other field kept. */
function withElemType(payload: Uint8Array, elemType: number): Uint8Array {
  const rewrite = (bytes: Uint8Array, path: number[]): Uint8Array =>
    concat(fields(bytes).map((field) => {
      if (field.number !== path[0]) return field.bytes;
      if (path.length === 1) return Uint8Array.from([...varint(field.number * 8), ...varint(elemType)]);
      return lengthDelimited(field.number, rewrite(field.payload!, path.slice(1)));
    }));
  return rewrite(payload, [2, 1, 1]);
}

/**
 * The model as an fp16 export presents itself: every float32 graph input and output is float16, with
 * Casts inside to and from the float32 graph, as `onnxconverter-common`'s float16 conversion with
 * `keep_io_types=False` leaves the edges. The arithmetic stays float32, so the difference from the
 * original is the rounding of what crosses the edges; what is tested is the caller's dtype handling.
 */
export function withFloat16Io(model: Uint8Array): Uint8Array {
  const graphField = fields(model).find((field) => field.number === 7)!;
  const graphParts = fields(graphField.payload!);
  const floats = (number: number) => graphParts.filter((part) => part.number === number).map((part) => valueInfoOf(part.payload!)).filter((info) => info.elemType === 1).map((info) => info.name);
  const inputs = new Set(floats(11));
  const outputs = new Set(floats(12));
  // Inside, a float input is read through `<name>_float32`, and a float output is made as `<name>_float32`.
  const renamed = (name: string) => `${name}_float32`;
  const renameNode = (payload: Uint8Array) =>
    concat(fields(payload).map((part) => {
      const value = part.payload && (part.number === 1 || part.number === 2) ? decode(part.payload) : undefined;
      // Nodes that read an output read the float32 value too.
      if (value !== undefined && ((part.number === 1 && (inputs.has(value) || outputs.has(value))) || (part.number === 2 && outputs.has(value)))) return lengthDelimited(part.number, text(renamed(value)));
      return part.bytes;
    }));
  const casts = (names: Set<string>, to: number, direction: 'in' | 'out') =>
    [...names].map((name, index) => lengthDelimited(1, nodeProto({ opType: 'Cast', name: `float16_io_${direction}_${index}`, inputs: [direction === 'in' ? name : renamed(name)], outputs: [direction === 'in' ? renamed(name) : name], attributes: { to: { int: to } } }, index)));
  const rewritten: Uint8Array[] = [...casts(inputs, 1, 'in')];
  for (const part of graphParts) {
    if (part.number === 1) rewritten.push(lengthDelimited(1, renameNode(part.payload!)));
    else if ((part.number === 11 && inputs.has(valueInfoOf(part.payload!).name)) || (part.number === 12 && outputs.has(valueInfoOf(part.payload!).name))) rewritten.push(lengthDelimited(part.number, withElemType(part.payload!, 10)));
    // A value_info naming a float output would contradict its new type: the output's own entry says it.
    else if (part.number === 13 && outputs.has(valueInfoOf(part.payload!).name)) continue;
    else rewritten.push(part.bytes);
  }
  rewritten.push(...casts(outputs, 10, 'out'));
  // The output Casts come last: the node list stays in topological order.
  return concat(fields(model).map((field) => (field.number === 7 ? lengthDelimited(7, concat(rewritten)) : field.bytes)));
}
