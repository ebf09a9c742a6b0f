// The ControlNets a service offers: names in its ControlNet folder (PIXELPIPE_CONTROLNET_DIR), which requests use by
// name (never by path), plus the model folder's own `controlnet/` when a request names none.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { controlNetFiles, controlNetPath, hashControlNet } from '../../engine/controlnet/controlnet-path.js';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { controlNetNamePattern, type JobRequest } from '../generation/job-request.js';
import type { LocalControlInput } from '../../providers/local/local-image-options.js';
import type { LocalModelCapabilities } from '../../providers/local/local-image-model.js';
import type { BlobStorage } from '../storage/blob-storage.js';

/** One ControlNet of the folder, as `GET /v1/controlnets` lists it. */
export interface ControlNetListing {
  name: string;
  /** The base model family its config says it was trained for. */
  baseFamily: 'SD 1.x/2.x' | 'SDXL';
  /** Bytes of its graph and external data. */
  bytes: number;
  /** sha256 (hex) of its graph and external data, as records name it; build keys cover it. */
  sha256: string;
}

/** What `prepare` needs to know of the request's model. */
export interface ControlTarget {
  /** Whether every model of the request is hosted. */
  hosted: () => Promise<boolean>;
  /** The local model's folder, when the request resolves to one. */
  folder: () => Promise<string | undefined>;
  /** What the local model can do (its family, whether its UNet takes ControlNet residuals), when it is one local model. */
  capabilities: () => Promise<Pick<LocalModelCapabilities, 'family' | 'controls'> | undefined>;
}

export interface ServedControlNets {
  list(): Promise<ControlNetListing[]>;
  /**
   * Checks a request's `controls` before it is queued: a local SD 1.x/2.x model, every named ControlNet in the
   * folder and for that base, the model's own when one is unnamed. Throws InvalidArgumentError naming the field.
   */
  prepare(request: JobRequest, target: ControlTarget): Promise<void>;
  /** What the engine loads for a control: the named ControlNet's path, or the model folder (its own `controlnet/`). */
  location(name: string | undefined, modelFolder: string): string;
}

/** The `model.onnx` of a folder entry (`NAME/`, holding `controlnet/model.onnx` or `model.onnx`, or `NAME.onnx`), if it is one. */
function entryGraph(folder: string, name: string): string | undefined {
  if (!controlNetNamePattern.test(name)) return undefined;
  for (const location of [join(folder, name), join(folder, `${name}.onnx`)]) {
    if (!existsSync(location)) continue;
    try {
      return controlNetPath(location);
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** The family a ControlNet's `config.json` (diffusers' ControlNetModel config) names: SDXL ControlNets add SDXL's text-time embedding. */
function baseFamilyOf(graph: string): ControlNetListing['baseFamily'] {
  const config = join(dirname(graph), 'config.json');
  if (!existsSync(config)) return 'SD 1.x/2.x';
  try {
    return (JSON.parse(readFileSync(config, 'utf8')) as { addition_embed_type?: unknown }).addition_embed_type === 'text_time' ? 'SDXL' : 'SD 1.x/2.x';
  } catch {
    return 'SD 1.x/2.x';
  }
}

function graphBytes(graph: string): number {
  return controlNetFiles(graph).reduce((sum, file) => sum + statSync(file).size, 0);
}

// Hashed once per version of its files (path, size, mtime), not at every listing: a ControlNet is over a gigabyte.
const listedHashes = new Map<string, Promise<string>>();
function graphSha256(graph: string): Promise<string> {
  const key = controlNetFiles(graph).map((file) => {
    const { size, mtimeMs } = statSync(file);
    return `${file}:${size}:${mtimeMs}`;
  }).join('|');
  let hash = listedHashes.get(key);
  if (!hash) listedHashes.set(key, (hash = hashControlNet(graph)));
  return hash;
}

export function createServedControlNets(folder: string): ServedControlNets {
  const names = async () => {
    const entries = (await readdir(folder).catch(() => [])) as string[];
    const candidates = [...new Set(entries.map((entry) => entry.replace(/\.onnx$/, '')))];
    return candidates.filter((name) => entryGraph(folder, name) !== undefined).sort();
  };
  return {
    async list() {
      return await Promise.all((await names()).map(async (name) => {
        const graph = entryGraph(folder, name)!;
        return { name, baseFamily: baseFamilyOf(graph), bytes: graphBytes(graph), sha256: await graphSha256(graph) };
      }));
    },

    location: (name, modelFolder) => (name === undefined ? modelFolder : existsSync(join(folder, name)) ? join(folder, name) : join(folder, `${name}.onnx`)),

    async prepare(request, target) {
      const controls = request.controls ?? [];
      if (controls.length === 0) return;
      const refuse = (argument: string, value: unknown, message: string) => new InvalidArgumentError({ argument, value, message });
      if (await target.hosted()) throw refuse('controls', request.model, `\`controls\` run on local SD 1.x/2.x models; ${JSON.stringify(request.model)} is hosted: leave them out or name a local model`);
      const capabilities = await target.capabilities();
      if (!capabilities) throw refuse('controls', request.model, `\`controls\` run on one local SD 1.x/2.x model; ${JSON.stringify(request.model)} is a fallback list: name one model`);
      if (capabilities.family.id !== 'stable-diffusion') throw refuse('controls', request.model, `\`controls\` run on SD 1.x/2.x models only; ${request.model} is ${capabilities.family.name}: leave them out or choose an SD 1.x/2.x model whose UNet takes ControlNet residuals`);
      if (!capabilities.controls) throw refuse('controls', request.model, `${request.model}'s UNet takes no ControlNet residuals (inputs down_block_0..N and mid_block_additional_residual): choose a model exported with them (GET /v1/models shows \`controls: true\`; see docs/controlnet.md), or leave out \`controls\``);
      const modelFolder = await target.folder();
      for (const [index, control] of controls.entries()) {
        if (control.controlnet === undefined) {
          if (modelFolder !== undefined && existsSync(join(modelFolder, 'controlnet', 'model.onnx'))) continue;
          throw refuse(`controls.${index}.controlnet`, undefined, `\`controls.${index}.controlnet\` is needed: ${request.model} has no ControlNet of its own (controlnet/model.onnx in its folder); name one of this server's ControlNets (GET /v1/controlnets)`);
        }
        const graph = entryGraph(folder, control.controlnet);
        if (graph === undefined) {
          const known = await names();
          throw refuse(`controls.${index}.controlnet`, control.controlnet, `\`controls.${index}.controlnet\` names ControlNet ${JSON.stringify(control.controlnet)}, which is not in this server's ControlNet folder: ${known.length > 0 ? `it has ${known.slice(0, 20).join(', ')}${known.length > 20 ? ', …' : ''}` : 'it has none'} (GET /v1/controlnets lists them; the operator adds one by copying its folder or .onnx into PIXELPIPE_CONTROLNET_DIR)`);
        }
        const base = baseFamilyOf(graph);
        if (base !== 'SD 1.x/2.x') throw refuse(`controls.${index}.controlnet`, control.controlnet, `ControlNet ${control.controlnet} is for ${base}; pixelpipe runs ControlNets on SD 1.x/2.x models only: name an SD 1.x/2.x ControlNet`);
      }
    },
  };
}

/**
 * A request's controls as the engine takes them: each ControlNet's location (`location` of its name, or of
 * none for the model's own) and its control image's bytes, read from storage. Without `location` (no
 * ControlNet folder where this runs) controls are refused, `where` saying where they can run.
 */
export async function engineControls(controls: JobRequest['controls'], { storage, location, where }: { storage: BlobStorage; location: ((name: string | undefined) => Promise<string>) | undefined; where: string }): Promise<LocalControlInput[] | undefined> {
  if (!controls?.length) return undefined;
  if (!location) throw new InvalidArgumentError({ argument: 'controls', value: controls.map(({ controlnet }) => controlnet), message: `ControlNets need a ControlNet folder, and there is none here: ${where}` });
  return await Promise.all(controls.map(async ({ controlnet, image, ...settings }, index) => {
    const blob = await storage.get(image.blobKey);
    if (!blob) throw new InvalidArgumentError({ argument: `controls.${index}.image`, value: image.blobKey, message: `\`controls.${index}.image\` names blob ${image.blobKey}, which is not in storage (upload the control image again)` });
    return { ...settings, model: await location(controlnet), image: new Uint8Array(blob.bytes) };
  }));
}
