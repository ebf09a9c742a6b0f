// Where a ControlNet's graph is, apart from loading it: the service lists and checks ControlNet folders without loading ONNX Runtime.
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
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
