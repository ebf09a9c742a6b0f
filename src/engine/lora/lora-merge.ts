// Merges LoRAs into a model's ONNX bytes: W' = W + Σ scale·(alpha/rank)·up·down, written into a copy of the
// base bytes, so the base stays in memory untouched and switching or removing LoRAs never rereads the disk.
import { readFile } from 'node:fs/promises';
import { fromFloat16Bits, toFloat16Bits } from '../runtime/float16.js';
import { readOnnxGraph } from '../runtime/onnx-reader.js';
import type { LoraComponent, LoraFile } from './lora-file.js';
import { mapUpdates, weightLayers, type MappedUpdate, type WeightLayer } from './lora-mapping.js';

/** A LoRA located in one component, at the scale it is applied with. */
export interface ScaledUpdates {
  mapped: readonly MappedUpdate[];
  scale: number;
}

/** One component's model file (unet/model.onnx, text_encoder/model.onnx, …) held in memory for patching. */
export class PatchableModel {
  private constructor(
    readonly path: string,
    readonly component: LoraComponent,
    /** The file as read; never written to. */
    readonly base: Uint8Array,
    readonly layers: readonly WeightLayer[],
  ) {}

  static async read(path: string, component: LoraComponent): Promise<PatchableModel> {
    return PatchableModel.fromBytes(new Uint8Array(await readFile(path)), path, component);
  }

  static fromBytes(bytes: Uint8Array, path: string, component: LoraComponent): PatchableModel {
    return new PatchableModel(path, component, bytes, weightLayers(readOnnxGraph(bytes)));
  }

  /** The LoRA's updates for this component, located in the graph (throws LoraShapeMismatch for a wrong-shaped one). */
  map(lora: LoraFile): ReturnType<typeof mapUpdates> {
    return mapUpdates(this.layers, lora.updates.filter((update) => update.component === this.component));
  }

  /**
   * The model bytes with every update added: the base bytes themselves when nothing applies (so removing
   * all LoRAs gives the base back bit for bit), else a patched copy. Updates on the same weight are summed
   * in float64 before the one rounding to the stored precision, so LoRAs compose in any order.
   */
  patched(sets: readonly ScaledUpdates[]): Uint8Array {
    const active = sets.filter((set) => set.scale !== 0 && set.mapped.length > 0);
    if (active.length === 0) return this.base;
    const deltas = new Map<string, { layer: WeightLayer; values: Float64Array }>();
    for (const { mapped, scale } of active) {
      for (const { update, layer } of mapped) {
        const tensor = layer.initializer;
        let delta = deltas.get(tensor.name);
        if (!delta) deltas.set(tensor.name, (delta = { layer, values: new Float64Array(layer.inFeatures * layer.outFeatures) }));
        addProduct(delta.values, layer, update.up.values, update.down.values, update.down.shape[0]!, scale * update.factor);
      }
    }
    const bytes = new Uint8Array(this.base);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (const { layer, values } of deltas.values()) {
      const tensor = layer.initializer;
      if (!tensor.inline) {
        throw new Error(
          `${this.path}: weight ${tensor.name} (${layer.node}) is stored in external data (${tensor.external?.location ?? '?'}); merging LoRAs into external-data models is not supported yet`,
        );
      }
      const { offset } = tensor.inline;
      if (tensor.dataType === 1) {
        for (let index = 0; index < values.length; index++) view.setFloat32(offset + index * 4, view.getFloat32(offset + index * 4, true) + values[index]!, true);
      } else if (tensor.dataType === 10) {
        for (let index = 0; index < values.length; index++) view.setUint16(offset + index * 2, toFloat16Bits(fromFloat16Bits(view.getUint16(offset + index * 2, true)) + values[index]!), true);
      } else {
        throw new Error(`${this.path}: weight ${tensor.name} has ONNX data type ${tensor.dataType}; LoRAs merge into float32 and float16 weights`);
      }
    }
    return bytes;
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
