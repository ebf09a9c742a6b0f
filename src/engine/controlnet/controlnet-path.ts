// Where a ControlNet's graph is, apart from loading it: the service lists and checks ControlNet folders without loading ONNX Runtime.
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { InvalidModelError } from '../../spec/errors/invalid-model-error.js';

/**
 * Where a ControlNet's `model.onnx` is: the path itself when it is a file, else `controlnet/model.onnx`
 * inside it (the community layout, beside a full pipeline or alone), else `model.onnx` inside it.
 */
export function controlNetPath(location: string): string {
  const path = resolve(location);
  if (existsSync(path) && statSync(path).isFile()) return path;
  for (const candidate of [join(path, 'controlnet', 'model.onnx'), join(path, 'model.onnx')]) if (existsSync(candidate)) return candidate;
  throw new InvalidModelError({
    model: location,
    file: 'controlnet/model.onnx',
    message: `no ControlNet at ${location}: give a ControlNet model.onnx, or a folder holding controlnet/model.onnx (see docs/controlnet.md)`,
  });
}

/** sha256 (hex) of a ControlNet's graph and the external data beside it: what records, listings and build keys name it by. */
export async function hashControlNet(path: string): Promise<string> {
  const hash = createHash('sha256');
  for (const file of controlNetFiles(path)) {
    for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  }
  return hash.digest('hex');
}

/** The graph, then the external data files beside it (`*_data`, `*.data`, `*.pb`), sorted: what `hashControlNet` reads. */
export function controlNetFiles(path: string): string[] {
  const folder = dirname(path);
  const extra = readdirSync(folder).filter((file) => file !== basename(path) && (file.endsWith('_data') || file.endsWith('.data') || file.endsWith('.pb'))).sort();
  return [path, ...extra.map((file) => join(folder, file))];
}
