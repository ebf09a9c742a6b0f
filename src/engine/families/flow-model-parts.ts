// What the flow-matching families (SD3, FLUX.1) share: reading their configs and loading their sessions.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidModelError } from '../../spec/errors/invalid-model-error.js';
import { OnnxModel } from '../runtime/onnx-model.js';
import type { LoadContext } from './family.js';

export async function readModelJson(folder: string, file: string): Promise<Record<string, unknown>> {
  const path = join(folder, file);
  if (!existsSync(path)) throw new InvalidModelError({ model: folder, file, message: `${path} is missing (expected Optimum's ONNX layout of a diffusers pipeline)` });
  try {
    return JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
  } catch (error) {
    throw new InvalidModelError({ model: folder, file, message: `${path} is not valid JSON: ${(error as Error).message}`, cause: error });
  }
}

/** A number from a config, or the fallback when absent; anything else is a broken config. */
export function configNumber(config: Record<string, unknown>, field: string, fallback: number | undefined, where: string): number {
  const value = config[field];
  if ((value === undefined || value === null) && fallback !== undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new InvalidModelError({ model: where, file: where, message: `${where}: \`${field}\` must be a number, got ${JSON.stringify(value)}` });
  }
  return value;
}

/** Loads `<component>/model.onnx` as a session timed under `name` and kept for release. */
export async function loadSession(context: LoadContext, component: string, name: string): Promise<OnnxModel> {
  const { folder, runtime, graphLevel, timed, sessions } = context;
  const model = await timed(name, () => OnnxModel.load(join(folder, component, 'model.onnx'), name, runtime, graphLevel));
  sessions.push(model);
  return model;
}

/** Throws unless the transformer takes every input this family feeds it. */
export function checkDenoiserInputs(context: LoadContext, model: OnnxModel, family: string, inputs: readonly string[]): void {
  const missing = inputs.filter((input) => !model.hasInput(input));
  if (missing.length > 0) {
    throw new InvalidModelError({ model: context.folder, file: 'transformer/model.onnx', message: `${context.folder}: a ${family} transformer must take ${inputs.join(', ')}; this one lacks ${missing.join(', ')}` });
  }
}

/** The pipeline class model_index.json names, '' when it names none. */
export function pipelineClass(modelIndex: Record<string, unknown>): string {
  return typeof modelIndex._class_name === 'string' ? modelIndex._class_name : '';
}
