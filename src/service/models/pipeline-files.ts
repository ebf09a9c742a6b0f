// Picks, from a repo's file listing, the files an Optimum ONNX pipeline loads; the rest (PyTorch weights, other precisions, images) stay on the hub.
import type { HubFile } from './hub-client.js';

/** Component folders the engine loads, across SD 1.x/2.x, SD-Turbo, SDXL and (later) SD3/FLUX. */
export const pipelineComponents: readonly string[] = [
  'scheduler',
  'tokenizer',
  'tokenizer_2',
  'tokenizer_3',
  'text_encoder',
  'text_encoder_2',
  'text_encoder_3',
  'unet',
  'transformer',
  'vae_decoder',
  'vae_encoder',
];

/** Small files in a component folder: configs, vocabularies, merges, sentencepiece models. */
const configFile = /\.(json|txt|model)$/;
/** Licence and card at the repo root, kept so the terms travel with the weights. */
const rootDocument = /^(model_index\.json|README\.md|(LICEN[CS]E|COPYING)(\.(md|txt|TXT))?)$/i;

export interface PipelineFileSelection {
  /** Files to download. */
  selected: HubFile[];
  /** Files left on the hub. */
  skipped: HubFile[];
  /** Required files the listing lacks (`model_index.json`, a UNet or transformer graph); empty when it is a usable export. */
  missing: string[];
}

/**
 * In each component folder, `model.onnx` is the graph; other `*.onnx` beside it are other-precision or
 * variant copies (`model_fp16.onnx`, `model_quantized.onnx`) and are skipped with their external data.
 * External data of a kept graph is kept: `model.onnx_data` (Optimum), `model.onnx.data` (Olive), `weights.pb`
 * (older diffusers exports). `*.safetensors`, `*.bin`, `*.ckpt` are PyTorch weights the engine never reads.
 */
export function selectPipelineFiles(files: readonly HubFile[]): PipelineFileSelection {
  const byFolder = new Map<string, HubFile[]>();
  const selected: HubFile[] = [];
  const skipped: HubFile[] = [];
  for (const file of files) {
    const parts = file.path.split('/');
    if (parts.length === 1) (rootDocument.test(file.path) ? selected : skipped).push(file);
    else if (parts.length === 2 && pipelineComponents.includes(parts[0]!)) {
      const folder = byFolder.get(parts[0]!) ?? [];
      folder.push(file);
      byFolder.set(parts[0]!, folder);
    } else skipped.push(file);
  }

  for (const folderFiles of byFolder.values()) {
    const names = new Set(folderFiles.map((file) => baseName(file.path)));
    const graphs = names.has('model.onnx') ? new Set(['model.onnx']) : new Set([...names].filter((name) => name.endsWith('.onnx')));
    for (const file of folderFiles) {
      const name = baseName(file.path);
      const keep = graphs.has(name) || isExternalDataOf(name, graphs) || (configFile.test(name) && !name.endsWith('.onnx'));
      (keep ? selected : skipped).push(file);
    }
  }

  const paths = new Set(selected.map((file) => file.path));
  const missing: string[] = [];
  if (!paths.has('model_index.json')) missing.push('model_index.json');
  if (![...paths].some((path) => /^(unet|transformer)\/[^/]+\.onnx$/.test(path))) missing.push('unet/model.onnx');
  return { selected: sortByPath(selected), skipped: sortByPath(skipped), missing };
}

function isExternalDataOf(name: string, graphs: Set<string>): boolean {
  if (name === 'weights.pb') return graphs.size > 0;
  const match = /^(.+\.onnx)(_data|\.data)$/.exec(name);
  return match !== null && graphs.has(match[1]!);
}

function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

function sortByPath(files: HubFile[]): HubFile[] {
  return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
