// Reads a LoRA .safetensors file in any of the common key formats into one list of per-layer updates.
//
// Formats (all seen in the wild; diffusers' own loader fails on several, see its issues #9291, #10954):
// - kohya / A1111 / ComfyUI: `lora_unet_<module with _>.lora_down.weight`, `.lora_up.weight`, `.alpha`;
//   `lora_te_` (SD 1.x/2.x) or `lora_te1_` / `lora_te2_` (SDXL) for the text encoders. SDXL kohya files
//   name UNet blocks the original (SGM) way, `input_blocks_4_1_…`, translated here to diffusers' names.
// - diffusers / PEFT: `unet.<module>.lora_A.weight` / `.lora_B.weight` (and `.lora.down/.up.weight`),
//   `text_encoder.…`, `text_encoder_2.…`, optional `.alpha`.
// - old diffusers attention processors: `unet.….attn1.processor.to_q_lora.down.weight` / `.up.weight`,
//   `text_encoder.….self_attn.to_q_lora.down.weight`.
// - LyCORIS LoCon: the kohya names on Conv layers, down [r, in, kh, kw] and up [out, r, 1, 1].
// kohya's module names replace dots with underscores, which cannot be undone by string rules alone
// (`transformer_blocks` vs `attn1_to_q`), so they stay as written here and are resolved against the
// module names the ONNX graph holds (lora-mapping.ts).
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { InvalidModelError } from '../../spec/errors/invalid-model-error.js';
import { readSafetensorsFile, type SafetensorsTensor } from '../runtime/safetensors.js';

/** The parts of a model a LoRA patches, named as the Optimum folder names them. */
export type LoraComponent = 'unet' | 'text_encoder' | 'text_encoder_2';

/** One layer's low-rank update, before it is located in a graph. */
export interface LoraUpdate {
  component: LoraComponent;
  /**
   * The module: a diffusers path (`down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q`) when
   * `naming` is `dotted`, or kohya's underscore form (`down_blocks_1_attentions_0_…_attn1_to_q`).
   */
  module: string;
  naming: 'dotted' | 'underscored';
  /** [rank, in] for linear layers; [rank, in, kh, kw] for LoCon convolutions. */
  down: SafetensorsTensor;
  /** [out, rank] or [out, rank, 1, 1]. */
  up: SafetensorsTensor;
  /** `alpha / rank` when the file stores alpha, else 1 (diffusers' formats fold it into `up`). */
  factor: number;
  /** The file's keys this update came from, for messages. */
  keys: string[];
}

export interface LoraFile {
  path: string;
  /** The file name without `.safetensors`, as A1111 names LoRAs. */
  name: string;
  /** sha256 of the whole file, hex. */
  sha256: string;
  format: 'kohya' | 'peft' | 'diffusers-old';
  metadata: Record<string, string>;
  updates: LoraUpdate[];
  /** Keys of the file that belong to no update (counted and named in warnings). */
  unusedKeys: string[];
}

const kohyaPattern = /^lora_(unet|te|te1|te2)_(.+)\.(lora_down\.weight|lora_up\.weight|alpha)$/;
const lycorisOther = /^lora_(unet|te|te1|te2)_.+\.(hada_|lokr_|lora_mid|dora_scale|diff|w_norm|b_norm|on_input)/;
const peftPattern = /^(unet|text_encoder|text_encoder_2)\.(.+)\.(lora_A\.weight|lora_B\.weight|lora\.down\.weight|lora\.up\.weight|alpha)$/;
const oldPattern = /^(unet|text_encoder|text_encoder_2)\.(.+?)\.(?:processor\.)?(to_q|to_k|to_v|to_out)_lora\.(down|up)\.weight$/;

const kohyaComponents: Record<string, LoraComponent> = { unet: 'unet', te: 'text_encoder', te1: 'text_encoder', te2: 'text_encoder_2' };
const textProjections: Record<string, string> = { to_q: 'q_proj', to_k: 'k_proj', to_v: 'v_proj', to_out: 'out_proj' };

/**
 * SDXL kohya files name UNet blocks as the original code does. With two layers per block (SD 1.x, 2.x and
 * SDXL), input block i ≥ 1 is down block ⌊(i−1)/3⌋, layer (i−1) mod 3; output block i is up block ⌊i/3⌋,
 * layer i mod 3; `_1_` is the attention, as diffusers' `_maybe_map_sgm_blocks_to_diffusers` maps them.
 */
function sgmToDiffusers(module: string): string {
  const input = /^input_blocks_(\d+)_1_(.+)$/.exec(module);
  if (input) {
    const index = Number(input[1]) - 1;
    return `down_blocks_${Math.floor(index / 3)}_attentions_${index % 3}_${input[2]}`;
  }
  const output = /^output_blocks_(\d+)_1_(.+)$/.exec(module);
  if (output) return `up_blocks_${Math.floor(Number(output[1]) / 3)}_attentions_${Number(output[1]) % 3}_${output[2]}`;
  const middle = /^middle_block_1_(.+)$/.exec(module);
  if (middle) return `mid_block_attentions_0_${middle[1]}`;
  return module;
}

interface Parts {
  component: LoraComponent;
  module: string;
  naming: LoraUpdate['naming'];
  down?: SafetensorsTensor;
  up?: SafetensorsTensor;
  alpha?: number;
  keys: string[];
}

function classify(key: string): { format: LoraFile['format']; component: LoraComponent; module: string; naming: LoraUpdate['naming']; role: 'down' | 'up' | 'alpha' } | undefined {
  const kohya = kohyaPattern.exec(key);
  if (kohya) {
    const component = kohyaComponents[kohya[1]!]!;
    const module = component === 'unet' ? sgmToDiffusers(kohya[2]!) : kohya[2]!;
    const role = kohya[3] === 'alpha' ? 'alpha' : kohya[3]!.startsWith('lora_down') ? 'down' : 'up';
    return { format: 'kohya', component, module, naming: 'underscored', role };
  }
  const old = oldPattern.exec(key);
  if (old) {
    const component = old[1] as LoraComponent;
    const projection = component === 'unet' ? (old[3] === 'to_out' ? 'to_out.0' : old[3]!) : textProjections[old[3]!]!;
    return { format: 'diffusers-old', component, module: `${old[2]}.${projection}`, naming: 'dotted', role: old[4] as 'down' | 'up' };
  }
  const peft = peftPattern.exec(key);
  if (peft) {
    const role = peft[3] === 'alpha' ? 'alpha' : /lora_A|down/.test(peft[3]!) ? 'down' : 'up';
    return { format: 'peft', component: peft[1] as LoraComponent, module: peft[2]!, naming: 'dotted', role };
  }
  return undefined;
}

/** Reads and parses a LoRA file; throws InvalidModelError naming the file when it is unreadable or in no known format. */
export async function readLoraFile(path: string): Promise<LoraFile> {
  const { tensors, metadata } = await readSafetensorsFile(path);
  const sha256 = createHash('sha256').update(await readFile(path)).digest('hex');
  const fail = (message: string): never => {
    throw new InvalidModelError({ model: path, file: path, message });
  };
  const keys = [...tensors.keys()];
  const lycoris = keys.filter((key) => lycorisOther.test(key));
  if (lycoris.length > 0) {
    fail(`${path} is a LyCORIS LoHa/LoKr/DoRA or Tucker LoCon file (keys such as ${lycoris.slice(0, 3).join(', ')}); pixelpipe merges plain LoRA and LoCon (lora_down/lora_up) only: convert or extract it to a plain LoRA`);
  }
  const groups = new Map<string, Parts>();
  const formats = new Set<LoraFile['format']>();
  const unusedKeys: string[] = [];
  for (const key of keys) {
    const parsed = classify(key);
    if (!parsed) {
      unusedKeys.push(key);
      continue;
    }
    formats.add(parsed.format);
    const id = `${parsed.component}\0${parsed.module}`;
    let parts = groups.get(id);
    if (!parts) groups.set(id, (parts = { component: parsed.component, module: parsed.module, naming: parsed.naming, keys: [] }));
    parts.keys.push(key);
    const tensor = tensors.get(key)!;
    if (parsed.role === 'alpha') parts.alpha = tensor.values[0];
    else parts[parsed.role] = tensor;
  }
  if (groups.size === 0) {
    fail(`${path} is in no LoRA key format pixelpipe knows (kohya lora_unet_/lora_te_ …lora_down/lora_up, diffusers/PEFT unet.…lora_A/lora_B, or …processor.to_q_lora.down); its first keys: ${keys.slice(0, 5).join(', ') || '(none)'}`);
  }
  const updates: LoraUpdate[] = [];
  for (const parts of groups.values()) {
    if (!parts.down || !parts.up) {
      unusedKeys.push(...parts.keys);
      continue;
    }
    const rank = parts.down.shape[0]!;
    if (parts.up.shape[1] !== rank) fail(`${path}: ${parts.keys[0]} has rank ${rank} but its up weight is [${parts.up.shape.join(', ')}]`);
    updates.push({ component: parts.component, module: parts.module, naming: parts.naming, down: parts.down, up: parts.up, factor: parts.alpha === undefined ? 1 : parts.alpha / rank, keys: parts.keys });
  }
  if (updates.length === 0) fail(`${path} has LoRA keys but no complete down/up pair; first keys: ${keys.slice(0, 5).join(', ')}`);
  return { path, name: basename(path).replace(/\.safetensors$/i, ''), sha256, format: [...formats][0]!, metadata, updates, unusedKeys };
}
