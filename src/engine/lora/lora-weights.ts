// One model folder's LoRA state: its base component bytes and the LoRA files read so far, kept in memory so a
// new LoRA set costs one merge and one session build per patched component, never a disk read of the model.
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { readLoraFile, type LoraComponent, type LoraFile } from './lora-file.js';
import { LoraShapeMismatch, type MappedUpdate } from './lora-mapping.js';
import { PatchableModel, type ModelBytes } from './lora-merge.js';

/** A LoRA file to apply and its strength (1 = as trained; A1111's `<lora:name:0.8>` weight). */
export interface LoraRequest {
  path: string;
  scale: number;
}

/** What records name: each LoRA applied, with its scale and the file's hash. */
export interface AppliedLora {
  name: string;
  scale: number;
  /** sha256 of the file, hex. */
  sha256: string;
  /** The key format it was read as. */
  format: LoraFile['format'];
  /** Layers it changed. */
  layers: number;
}

export interface LoraPlan {
  /** Patched graph and external data for each component a LoRA touches (absent: load the file as it is). */
  bytes: Map<LoraComponent, ModelBytes>;
  applied: AppliedLora[];
  /** Keys that matched no weight, per file, for the call's warnings. */
  warnings: string[];
}

const components: readonly LoraComponent[] = ['unet', 'text_encoder', 'text_encoder_2'];

/** What a LoRA was made for, from kohya's metadata or the components it patches; for messages. */
function loraBase(lora: LoraFile): string {
  const version = lora.metadata.ss_base_model_version ?? '';
  if (/sdxl/i.test(version) || lora.updates.some((update) => update.component === 'text_encoder_2')) return 'SDXL';
  if (/sd_v1/i.test(version)) return 'SD 1.x';
  if (/sd_v2/i.test(version)) return 'SD 2.x';
  return 'another base model';
}

export class LoraWeights {
  private readonly models = new Map<LoraComponent, Promise<PatchableModel>>();
  private readonly files = new Map<string, { stamp: string; file: Promise<LoraFile> }>();

  /** `maxPartBytes`: the largest piece of an external data file held in one buffer (see `PatchableModel.read`). */
  constructor(
    readonly folder: string,
    private readonly options: { maxPartBytes?: number } = {},
  ) {}

  /** The components this folder has that LoRAs can patch. */
  get components(): LoraComponent[] {
    return components.filter((component) => existsSync(join(this.folder, component, 'model.onnx')));
  }

  /** A component's base model, read from disk once. */
  model(component: LoraComponent): Promise<PatchableModel> {
    let model = this.models.get(component);
    if (!model) {
      model = PatchableModel.read(join(this.folder, component, 'model.onnx'), component, this.options);
      model.catch(() => this.models.delete(component));
      this.models.set(component, model);
    }
    return model;
  }

  /** A LoRA file, parsed once per path, size and modification time. */
  lora(path: string): Promise<LoraFile> {
    const absolute = resolve(path);
    if (!existsSync(absolute)) throw new InvalidArgumentError({ argument: 'loras', value: path, message: `LoRA file ${path} does not exist` });
    const { size, mtimeMs } = statSync(absolute);
    const stamp = `${size}:${mtimeMs}`;
    const cached = this.files.get(absolute);
    if (cached?.stamp === stamp) return cached.file;
    const file = readLoraFile(absolute);
    file.catch(() => this.files.delete(absolute));
    this.files.set(absolute, { stamp, file });
    return file;
  }

  /**
   * `displayName` is the model family's name in messages. Locates every LoRA in the model and merges them. Throws InvalidArgumentError, naming the file and the
   * model, for a LoRA that patches a part the model lacks, has the wrong shapes, or matches nothing.
   */
  async plan(requests: readonly LoraRequest[], displayName = 'SD 1.x/2.x'): Promise<LoraPlan> {
    const present = this.components;
    const located: Array<{ request: LoraRequest; lora: LoraFile; mapped: Map<LoraComponent, MappedUpdate[]> }> = [];
    const warnings: string[] = [];
    for (const request of requests) {
      const lora = await this.lora(request.path);
      const wrongModel = (detail: string): never => {
        throw new InvalidArgumentError({
          argument: 'loras',
          value: request.path,
          message: `${request.path} is a LoRA for ${loraBase(lora)} and does not fit ${this.folder}, an ${displayName} model: ${detail}`,
        });
      };
      const missing = [...new Set(lora.updates.map((update) => update.component))].filter((component) => !present.includes(component));
      if (missing.length > 0) wrongModel(`it patches ${missing.join(', ')}, which the model does not have`);
      const mapped = new Map<LoraComponent, MappedUpdate[]>();
      const unmapped: string[] = [];
      for (const component of present) {
        const model = await this.model(component);
        try {
          const result = model.map(lora);
          mapped.set(component, result.mapped);
          unmapped.push(...result.unmapped.flatMap((update) => update.keys));
        } catch (error) {
          if (error instanceof LoraShapeMismatch) wrongModel(error.message);
          throw error;
        }
      }
      const count = [...mapped.values()].reduce((total, list) => total + list.length, 0);
      if (count === 0) {
        throw new InvalidArgumentError({
          argument: 'loras',
          value: request.path,
          message: `${request.path}: none of its ${lora.updates.length} layers matches a weight of ${this.folder} (${displayName}); first unmatched keys: ${unmapped.slice(0, 5).join(', ')}`,
        });
      }
      const ignored = [...unmapped, ...lora.unusedKeys];
      if (ignored.length > 0) warnings.push(`${lora.name}: ${ignored.length} keys match no weight of the model and were ignored: ${ignored.slice(0, 8).join(', ')}${ignored.length > 8 ? ', …' : ''}`);
      located.push({ request, lora, mapped });
    }
    const bytes = new Map<LoraComponent, ModelBytes>();
    for (const component of present) {
      const sets = located.map(({ request, mapped }) => ({ mapped: mapped.get(component) ?? [], scale: request.scale }));
      if (!sets.some((set) => set.mapped.length > 0 && set.scale !== 0)) continue;
      bytes.set(component, (await this.model(component)).patched(sets));
    }
    const applied = located.map(({ request, lora, mapped }) => ({
      name: lora.name,
      scale: request.scale,
      sha256: lora.sha256,
      format: lora.format,
      layers: [...mapped.values()].reduce((total, list) => total + list.length, 0),
    }));
    return { bytes, applied, warnings };
  }
}
