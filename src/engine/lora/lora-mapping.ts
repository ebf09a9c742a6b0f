// Finds, in an ONNX graph, the initializer each LoRA update changes: the weight of the MatMul, Gemm or Conv
// node whose name carries the module path, and how that weight is laid out.
//
// torch.onnx.export names every node after the module scope it was traced in, `/` between module names
// and the op last: `/down_blocks.0/attentions.0/transformer_blocks.0/attn1/to_q/MatMul`. Optimum exports
// the diffusers/transformers module itself, so a real SD 1.5 or SDXL export carries exactly diffusers'
// module paths (`down_blocks.…` in unet/model.onnx, `text_model.encoder.layers.N.self_attn.q_proj` in the
// text encoders); the tiny fixtures wrap the module once more (`/unet/…`, `/m/text_model/…`), which is
// why a module matches a graph path by suffix on a `.` boundary. A Linear without a flattened input is
// traced as MatMul(x, Wᵀ) + Add(b): the weight initializer is the transpose, [in, out], under a new name
// (`onnx::MatMul_1234`); a Linear on 2-D input becomes Gemm(x, W, transB=1) with W [out, in] as stored;
// a Conv keeps W [out, in, kh, kw] under its parameter name. Weights are matched by node, never by
// initializer name, so the renaming does not matter. Graphs run through ONNX Runtime's transformer
// optimizer (fused Attention nodes with packed QKV weights, as some "optimized" exports ship) lose the
// per-projection MatMuls; their updates are reported as unmapped rather than guessed.
import type { OnnxReadGraph, OnnxReadTensor } from '../runtime/onnx-reader.js';
import type { LoraUpdate } from './lora-file.js';

/** A weight the graph multiplies by, with the module it belongs to. */
export interface WeightLayer {
  /** The node's module path with dots, as named in the graph (`unet.down_blocks.1.….to_q` in the fixture). */
  graphModule: string;
  node: string;
  opType: 'MatMul' | 'Gemm' | 'Conv';
  initializer: OnnxReadTensor;
  /** How the weight is stored: `in-out` (MatMul's Wᵀ, Gemm transB=0), `out-in` (Gemm transB=1), `conv` [out, in, kh, kw]. */
  layout: 'in-out' | 'out-in' | 'conv';
  inFeatures: number;
  outFeatures: number;
}

/** A LoRA update located in a graph. */
export interface MappedUpdate {
  update: LoraUpdate;
  /** The module in diffusers' naming (the graph's path without the exporter's wrapper prefix). */
  module: string;
  layer: WeightLayer;
}

/** The layers of a graph that carry weights a LoRA can patch, by module path. */
export function weightLayers(graph: OnnxReadGraph): WeightLayer[] {
  // Exports sometimes route a deduplicated weight through Identity; follow it back to the initializer.
  const identities = new Map<string, string>();
  for (const node of graph.nodes) if (node.opType === 'Identity' && graph.initializers.has(node.inputs[0]!)) identities.set(node.outputs[0]!, node.inputs[0]!);
  const layers: WeightLayer[] = [];
  for (const node of graph.nodes) {
    if (node.opType !== 'MatMul' && node.opType !== 'Gemm' && node.opType !== 'Conv') continue;
    const weightName = node.inputs[1];
    const initializer = weightName === undefined ? undefined : graph.initializers.get(identities.get(weightName) ?? weightName);
    if (!initializer) continue;
    const parts = node.name.split('/').filter((part) => part.length > 0);
    if (parts.length < 2) continue;
    const graphModule = parts.slice(0, -1).join('.');
    const dims = initializer.dims;
    if (node.opType === 'Conv') {
      if (dims.length !== 4) continue;
      layers.push({ graphModule, node: node.name, opType: 'Conv', initializer, layout: 'conv', inFeatures: dims[1]! * dims[2]! * dims[3]!, outFeatures: dims[0]! });
    } else {
      if (dims.length !== 2) continue;
      const transposed = node.opType === 'Gemm' && node.ints.transB === 1;
      layers.push({ graphModule, node: node.name, opType: node.opType, initializer, layout: transposed ? 'out-in' : 'in-out', inFeatures: transposed ? dims[1]! : dims[0]!, outFeatures: transposed ? dims[0]! : dims[1]! });
    }
  }
  return layers;
}

/** Thrown for an update whose module is in the graph with other shapes (a LoRA for another base model). */
export class LoraShapeMismatch extends Error {}

/**
 * Locates each update: its module must end a graph module path on a `.` (or, for kohya's names, `_`)
 * boundary and name exactly one weight layer, whose shape must fit. Returns the located ones and the
 * ones that are not in the graph.
 */
export function mapUpdates(layers: readonly WeightLayer[], updates: readonly LoraUpdate[]): { mapped: MappedUpdate[]; unmapped: LoraUpdate[] } {
  const underscored = layers.map((layer) => layer.graphModule.replace(/\./g, '_'));
  const mapped: MappedUpdate[] = [];
  const unmapped: LoraUpdate[] = [];
  for (const update of updates) {
    const candidates: number[] = [];
    layers.forEach((layer, index) => {
      const path = update.naming === 'dotted' ? layer.graphModule : underscored[index]!;
      const separator = update.naming === 'dotted' ? '.' : '_';
      if (path === update.module || path.endsWith(separator + update.module)) candidates.push(index);
    });
    // The shortest matching path: `attn1.to_q` must not also match `…attn1.to_q.something`; equal paths with several weights are ambiguous.
    const best = candidates.filter((index) => layers[index]!.graphModule.length === Math.min(...candidates.map((other) => layers[other]!.graphModule.length)));
    if (best.length !== 1) {
      unmapped.push(update);
      continue;
    }
    const layer = layers[best[0]!]!;
    const rank = update.down.shape[0]!;
    const inFeatures = update.down.shape.slice(1).reduce((product, dim) => product * dim, 1);
    const outFeatures = update.up.shape[0]!;
    const upIsPointwise = update.up.shape.slice(2).every((dim) => dim === 1);
    if (inFeatures !== layer.inFeatures || outFeatures !== layer.outFeatures || !upIsPointwise || update.up.values.length !== outFeatures * rank) {
      throw new LoraShapeMismatch(
        `${update.keys[0]} is [${update.up.shape.join(', ')}] × [${update.down.shape.join(', ')}] but the model's ${layer.node} weight is [${layer.initializer.dims.join(', ')}] (${layer.inFeatures} in, ${layer.outFeatures} out)`,
      );
    }
    // kohya's underscores replace dots one for one, so the graph path's suffix of the same length is the module's dotted name.
    mapped.push({ update, module: layer.graphModule.slice(layer.graphModule.length - update.module.length), layer });
  }
  return { mapped, unmapped };
}
