// Reads the parts of an ONNX model (ModelProto bytes) that weight patching needs: the graph's nodes and where
// each initializer's values sit in the bytes, so a LoRA can be merged by rewriting those bytes in a copy.
// Hand-written protobuf, the counterpart of onnx-writer.ts and for the same reasons (no maintained JS ONNX
// library; protobufjs plus onnx.proto is heavy for this). It decodes only ModelProto.graph, GraphProto.node
// and .initializer, NodeProto's names, inputs and int attributes, and TensorProto's dims, type, name and
// data location (raw_data, packed float_data, or external data). It never copies tensor values: a 3 GB UNet
// is scanned in place. Field numbers are onnx.proto's.

import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

export interface OnnxReadNode {
  name: string;
  opType: string;
  inputs: string[];
  outputs: string[];
  /** Int attributes only (Gemm's transA/transB, Conv's group), by name. */
  ints: Record<string, number>;
}

/** TensorProto.DataType ids this reader names; others keep their number. */
export const onnxDataTypes: Record<number, string> = { 1: 'float32', 6: 'int32', 7: 'int64', 10: 'float16', 11: 'float64', 16: 'bfloat16' };

export interface OnnxReadTensor {
  name: string;
  /** TensorProto.data_type: 1 float32, 10 float16, ... */
  dataType: number;
  dims: number[];
  /** Where the little-endian values sit inside the model bytes (raw_data, or packed float_data), when stored inline. */
  inline?: { offset: number; length: number };
  /** Where they sit in an external data file (`model.onnx_data`), when stored there. */
  external?: { location: string; offset: number; length?: number };
}

export interface OnnxReadGraph {
  nodes: OnnxReadNode[];
  initializers: Map<string, OnnxReadTensor>;
}

class Cursor {
  constructor(readonly bytes: Uint8Array, public position: number, readonly end: number) {}

  get done(): boolean {
    return this.position >= this.end;
  }

  varint(): number {
    let result = 0;
    let multiplier = 1;
    for (;;) {
      if (this.position >= this.end) throw new Error(`truncated varint at byte ${this.position}`);
      const byte = this.bytes[this.position++]!;
      result += (byte & 0x7f) * multiplier;
      if ((byte & 0x80) === 0) return result;
      multiplier *= 128;
      if (multiplier > 2 ** 70) throw new Error(`varint too long at byte ${this.position}`);
    }
  }

  /** A length-delimited field's [start, end). */
  span(): [number, number] {
    const length = this.varint();
    const start = this.position;
    if (start + length > this.end) throw new Error(`field of ${length} bytes at byte ${start} runs past its message`);
    this.position = start + length;
    return [start, start + length];
  }

  skip(wireType: number): void {
    if (wireType === 0) this.varint();
    else if (wireType === 1) this.position += 8;
    else if (wireType === 2) this.span();
    else if (wireType === 5) this.position += 4;
    else throw new Error(`unsupported protobuf wire type ${wireType} at byte ${this.position}`);
  }

  /** Calls `visit(field, wireType)` for each field; the visitor reads the value or returns false to have it skipped. */
  fields(visit: (field: number, wireType: number) => boolean): void {
    while (!this.done) {
      const key = this.varint();
      const field = Math.floor(key / 8);
      const wireType = key & 7;
      if (!visit(field, wireType)) this.skip(wireType);
    }
  }
}

const decoder = new TextDecoder();
const text = (bytes: Uint8Array, [start, end]: [number, number]): string => decoder.decode(bytes.subarray(start, end));

function readNode(bytes: Uint8Array, start: number, end: number): OnnxReadNode {
  const node: OnnxReadNode = { name: '', opType: '', inputs: [], outputs: [], ints: {} };
  const cursor = new Cursor(bytes, start, end);
  cursor.fields((field, wireType) => {
    if (wireType !== 2) return false;
    const span = cursor.span();
    if (field === 1) node.inputs.push(text(bytes, span));
    else if (field === 2) node.outputs.push(text(bytes, span));
    else if (field === 3) node.name = text(bytes, span);
    else if (field === 4) node.opType = text(bytes, span);
    else if (field === 5) readIntAttribute(bytes, span, node.ints);
    return true;
  });
  return node;
}

// AttributeProto: name 1, i 3 (a negative int is a ten-byte varint; only small positive ints matter here).
function readIntAttribute(bytes: Uint8Array, [start, end]: [number, number], ints: Record<string, number>): void {
  let name = '';
  let value: number | undefined;
  const cursor = new Cursor(bytes, start, end);
  cursor.fields((field, wireType) => {
    if (field === 1 && wireType === 2) name = text(bytes, cursor.span());
    else if (field === 3 && wireType === 0) value = cursor.varint();
    else return false;
    return true;
  });
  if (value !== undefined) ints[name] = value;
}

function readTensor(bytes: Uint8Array, start: number, end: number): OnnxReadTensor {
  const tensor: OnnxReadTensor = { name: '', dataType: 0, dims: [] };
  const externalEntries: Record<string, string> = {};
  const cursor = new Cursor(bytes, start, end);
  cursor.fields((field, wireType) => {
    if (field === 1 && wireType === 0) tensor.dims.push(cursor.varint());
    else if (field === 1 && wireType === 2) {
      const packed = new Cursor(bytes, ...cursor.span());
      while (!packed.done) tensor.dims.push(packed.varint());
    } else if (field === 2 && wireType === 0) tensor.dataType = cursor.varint();
    else if (field === 8 && wireType === 2) tensor.name = text(bytes, cursor.span());
    else if ((field === 9 || field === 4) && wireType === 2) {
      // raw_data, or float_data packed: both are the values little-endian, back to back.
      const [dataStart, dataEnd] = cursor.span();
      tensor.inline = { offset: dataStart, length: dataEnd - dataStart };
    } else if (field === 13 && wireType === 2) {
      let key = '';
      let value = '';
      const entry = new Cursor(bytes, ...cursor.span());
      entry.fields((entryField, entryWire) => {
        if (entryWire !== 2) return false;
        if (entryField === 1) key = text(bytes, entry.span());
        else if (entryField === 2) value = text(bytes, entry.span());
        else return false;
        return true;
      });
      externalEntries[key] = value;
    } else return false;
    return true;
  });
  if (externalEntries.location !== undefined) {
    tensor.external = {
      location: externalEntries.location,
      offset: Number(externalEntries.offset ?? 0),
      ...(externalEntries.length !== undefined ? { length: Number(externalEntries.length) } : {}),
    };
  }
  return tensor;
}

/** The graph's nodes and initializers (top-level graph only; subgraphs of If/Loop are not visited). */
export function readOnnxGraph(bytes: Uint8Array): OnnxReadGraph {
  const graph: OnnxReadGraph = { nodes: [], initializers: new Map() };
  const model = new Cursor(bytes, 0, bytes.byteLength);
  let found = false;
  model.fields((field, wireType) => {
    if (field !== 7 || wireType !== 2) return false;
    found = true;
    const graphCursor = new Cursor(bytes, ...model.span());
    graphCursor.fields((graphField, graphWire) => {
      if (graphWire !== 2 || (graphField !== 1 && graphField !== 5)) return false;
      const [start, end] = graphCursor.span();
      if (graphField === 1) graph.nodes.push(readNode(bytes, start, end));
      else {
        const tensor = readTensor(bytes, start, end);
        graph.initializers.set(tensor.name, tensor);
      }
      return true;
    });
    return true;
  });
  if (!found) throw new Error('no graph in the model (not an ONNX ModelProto?)');
  return graph;
}

/**
 * The names of an ONNX file's graph inputs (GraphProto.input, field 11), read from the file by seeking past every
 * other field: a UNet whose weights are inline is not read whole to learn whether it takes ControlNet residuals.
 */
export function readOnnxInputNames(path: string): string[] {
  const file = openSync(path, 'r');
  try {
    const size = fstatSync(file).size;
    const head = Buffer.alloc(20);
    // A tag and a length prefix (two varints) at `position`.
    const fieldAt = (position: number) => {
      const read = readSync(file, head, 0, head.length, position);
      const cursor = new Cursor(head, 0, read);
      const key = cursor.varint();
      const wireType = key & 7;
      if (wireType !== 2) {
        const start = cursor.position;
        cursor.skip(wireType);
        return { field: Math.floor(key / 8), wireType, start: position + start, end: position + cursor.position };
      }
      const length = cursor.varint();
      return { field: Math.floor(key / 8), wireType, start: position + cursor.position, end: position + cursor.position + length };
    };
    const names: string[] = [];
    for (let position = 0; position < size; ) {
      const model = fieldAt(position);
      position = model.end;
      if (model.field !== 7 || model.wireType !== 2) continue;
      for (let inner = model.start; inner < model.end; ) {
        const graphField = fieldAt(inner);
        inner = graphField.end;
        if (graphField.field !== 11 || graphField.wireType !== 2) continue;
        const valueInfo = Buffer.alloc(graphField.end - graphField.start);
        readSync(file, valueInfo, 0, valueInfo.length, graphField.start);
        const cursor = new Cursor(valueInfo, 0, valueInfo.length);
        cursor.fields((field, wireType) => {
          if (field !== 1 || wireType !== 2) return false;
          names.push(text(valueInfo, cursor.span()));
          return true;
        });
      }
    }
    return names;
  } finally {
    closeSync(file);
  }
}
