// Merges LoRAs into a model's ONNX bytes: W' = W + Σ scale·(alpha/rank)·up·down, written into a copy of the
// base bytes, so the base stays in memory untouched and switching or removing LoRAs never rereads the disk.
import { open, readFile, stat } from 'node:fs/promises';
import { dirname, relative, resolve } from 'node:path';
import { fromFloat16Bits, toFloat16Bits } from '../runtime/float16.js';
import { readOnnxGraph, type OnnxReadTensor } from '../runtime/onnx-reader.js';
import { relocateExternalData, type ExternalPlace } from '../runtime/onnx-external-data.js';
import type { LoraComponent, LoraFile } from './lora-file.js';
import { mapUpdates, weightLayers, type MappedUpdate, type WeightLayer } from './lora-mapping.js';

/** A LoRA located in one component, at the scale it is applied with. */
export interface ScaledUpdates {
  mapped: readonly MappedUpdate[];
  scale: number;
}

/** A model as ONNX Runtime is given it from memory: the graph, and its external data files by the names the graph uses. */
export interface ModelBytes {
  graph: Uint8Array;
  externalData: Array<{ path: string; data: Uint8Array }>;
}

/** One component's model file (unet/model.onnx, text_encoder/model.onnx, …) and its external data, held in memory for patching. */
export class PatchableModel {
  private constructor(
    readonly path: string,
    readonly component: LoraComponent,
    /** The file as read; never written to. */
    readonly base: Uint8Array,
    readonly layers: readonly WeightLayer[],
    /**
     * The external data files the graph names (Optimum writes a UNet over 2 GB as `model.onnx` plus
     * `model.onnx_data`), as read; never written to. Empty for a self-contained graph.
     */
    readonly externals: ReadonlyMap<string, Uint8Array>,
  ) {}

  /**
   * Reads a component's graph and its external data. An external data file over `maxPartBytes` (default 2 GiB;
   * an SDXL UNet's is 5–10 GB, over Node's 4 GiB buffer limit) is held as parts of whole tensors, each under
   * the limit, and the graph's entries for them are rewritten to name the parts: ONNX Runtime is given the
   * parts as separate in-memory files, and a merge copies only the parts it patches.
   */
  static async read(path: string, component: LoraComponent, { maxPartBytes = defaultMaxPartBytes }: { maxPartBytes?: number } = {}): Promise<PatchableModel> {
    let bytes: Uint8Array = new Uint8Array(await readFile(path));
    const tensors = [...readOnnxGraph(bytes).initializers.values()].filter((tensor) => tensor.external);
    const locations = new Set(tensors.map((tensor) => tensor.external!.location));
    const externals = new Map<string, Uint8Array>();
    const places = new Map<string, ExternalPlace>();
    for (const location of locations) {
      // The location is the graph's; it must stay inside the model's folder, as ONNX Runtime requires.
      const file = resolve(dirname(path), location);
      if (relative(dirname(path), file).startsWith('..')) throw new Error(`${path}: external data location ${location} is outside the model's folder`);
      const { size } = await stat(file);
      if (size <= maxPartBytes) {
        externals.set(location, await readRange(file, 0, size));
        continue;
      }
      for (const [index, part] of splitIntoParts(path, location, tensors.filter((tensor) => tensor.external!.location === location), maxPartBytes).entries()) {
        const name = `${location}.part${index}`;
        externals.set(name, await readRange(file, part.start, part.end));
        for (const tensor of part.tensors) places.set(tensor.name, { location: name, offset: tensor.external!.offset - part.start });
      }
    }
    if (places.size > 0) bytes = relocateExternalData(bytes, places);
    return new PatchableModel(path, component, bytes, weightLayers(readOnnxGraph(bytes)), externals);
  }

  static fromBytes(bytes: Uint8Array, path: string, component: LoraComponent): PatchableModel {
    return new PatchableModel(path, component, bytes, weightLayers(readOnnxGraph(bytes)), new Map());
  }

  /** The LoRA's updates for this component, located in the graph (throws LoraShapeMismatch for a wrong-shaped one). */
  map(lora: LoraFile): ReturnType<typeof mapUpdates> {
    return mapUpdates(this.layers, lora.updates.filter((update) => update.component === this.component));
  }

  /**
   * The model with every update added: the base bytes themselves when nothing applies (so removing all
   * LoRAs gives the base back bit for bit), else patched copies of the graph or of the external data
   * file a weight lives in. Updates on the same weight are summed in float64 before the one rounding to
   * the stored precision, so LoRAs compose in any order.
   */
  patched(sets: readonly ScaledUpdates[]): ModelBytes {
    const active = sets.filter((set) => set.scale !== 0 && set.mapped.length > 0);
    const externalData = () => [...this.externals].map(([path, data]) => ({ path, data: patchedFiles.get(path) ?? data }));
    const patchedFiles = new Map<string, Uint8Array>();
    if (active.length === 0) return { graph: this.base, externalData: externalData() };
    const deltas = new Map<string, { layer: WeightLayer; values: Float64Array }>();
    for (const { mapped, scale } of active) {
      for (const { update, layer } of mapped) {
        const tensor = layer.initializer;
        let delta = deltas.get(tensor.name);
        if (!delta) deltas.set(tensor.name, (delta = { layer, values: new Float64Array(layer.inFeatures * layer.outFeatures) }));
        addProduct(delta.values, layer, update.up.values, update.down.values, update.down.shape[0]!, scale * update.factor);
      }
    }
    let graph = this.base;
    // Each file a weight lives in is copied once, on the first weight patched in it.
    const writable = (tensor: WeightLayer['initializer']): { view: DataView; offset: number } => {
      if (tensor.inline) {
        if (graph === this.base) graph = new Uint8Array(this.base);
        return { view: new DataView(graph.buffer, graph.byteOffset, graph.byteLength), offset: tensor.inline.offset };
      }
      const { location, offset } = tensor.external!;
      let file = patchedFiles.get(location);
      if (!file) patchedFiles.set(location, (file = new Uint8Array(this.externals.get(location)!)));
      return { view: new DataView(file.buffer, file.byteOffset, file.byteLength), offset };
    };
    for (const { layer, values } of deltas.values()) {
      const tensor = layer.initializer;
      if (tensor.dataType !== 1 && tensor.dataType !== 10) {
        throw new Error(`${this.path}: weight ${tensor.name} has ONNX data type ${tensor.dataType}; LoRAs merge into float32 and float16 weights`);
      }
      const { view, offset } = writable(tensor);
      if (tensor.dataType === 1) {
        for (let index = 0; index < values.length; index++) view.setFloat32(offset + index * 4, view.getFloat32(offset + index * 4, true) + values[index]!, true);
      } else {
        for (let index = 0; index < values.length; index++) view.setUint16(offset + index * 2, toFloat16Bits(fromFloat16Bits(view.getUint16(offset + index * 2, true)) + values[index]!), true);
      }
    }
    return { graph, externalData: externalData() };
  }
}

/** Parts of at most 2 GiB: under Node 20's largest typed array (one byte short of 4 GiB), and a merge copies only the parts it patches. */
const defaultMaxPartBytes = 2 ** 31;

type ExternalTensor = OnnxReadTensor & { external: NonNullable<OnnxReadTensor['external']> };

/** Consecutive runs of whole tensors, each spanning at most `maxPartBytes` of the file. */
function splitIntoParts(model: string, location: string, tensors: OnnxReadTensor[], maxPartBytes: number): { start: number; end: number; tensors: ExternalTensor[] }[] {
  const parts: { start: number; end: number; tensors: ExternalTensor[] }[] = [];
  for (const tensor of (tensors as ExternalTensor[]).sort((a, b) => a.external.offset - b.external.offset)) {
    const { offset, length } = tensor.external;
    if (length === undefined) throw new Error(`${model}: initializer ${tensor.name} in ${location} gives no length; its external data cannot be split into parts`);
    if (length > maxPartBytes) throw new Error(`${model}: initializer ${tensor.name} is ${length} bytes, more than a part of ${maxPartBytes} may hold`);
    const last = parts.at(-1);
    if (last && offset + length - last.start <= maxPartBytes) {
      last.end = Math.max(last.end, offset + length);
      last.tensors.push(tensor);
    } else parts.push({ start: offset, end: offset + length, tensors: [tensor] });
  }
  return parts;
}

/** Bytes [start, end) of a file in one buffer, read in chunks (`readFile` stops at 2 GiB; a fp32 SD 1.x UNet's external data is 3.3 GB). */
async function readRange(file: string, start: number, end: number): Promise<Uint8Array> {
  const handle = await open(file, 'r');
  try {
    const bytes = new Uint8Array(end - start);
    for (let offset = 0; offset < bytes.length;) {
      const { bytesRead } = await handle.read(bytes, offset, Math.min(2 ** 30, bytes.length - offset), start + offset);
      if (bytesRead === 0) throw new Error(`${file} ended after ${start + offset} of ${end} bytes`);
      offset += bytesRead;
    }
    return bytes;
  } finally {
    await handle.close();
  }
}

/** delta += factor · up·down, laid out as the weight is stored ([in, out] for MatMul's Wᵀ, [out, in…] otherwise). */
function addProduct(delta: Float64Array, layer: WeightLayer, up: Float32Array, down: Float32Array, rank: number, factor: number): void {
  const { inFeatures, outFeatures, layout } = layer;
  for (let out = 0; out < outFeatures; out++) {
    for (let input = 0; input < inFeatures; input++) {
      let sum = 0;
      for (let k = 0; k < rank; k++) sum += up[out * rank + k]! * down[k * inFeatures + input]!;
      const index = layout === 'in-out' ? input * outFeatures + out : out * inFeatures + input;
      delta[index] = delta[index]! + factor * sum;
    }
  }
}
