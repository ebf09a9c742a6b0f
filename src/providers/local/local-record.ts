// The generation record embedded in every PNG: A1111's `parameters` text and the full record as JSON.
import type { ImageModelWarning } from '../../spec/warning.js';
import type { ImageSettings } from '../../spec/image-model-result.js';

export interface GenerationRecord {
  /** Record format version. */
  version: 1;
  settings: ImageSettings;
  model: { id: string; hash: string; family: string };
  runtime: { name: string; version: string; executionProvider: string };
  timings: Record<string, number>;
  warnings: ImageModelWarning[];
  createdAt: string;
}

/** A1111/Forge sampler labels, so tools that read `parameters` show familiar names. */
const a1111SamplerNames: Record<string, string> = {
  euler: 'Euler',
  euler_a: 'Euler a',
  ddim: 'DDIM',
  dpmpp_2m: 'DPM++ 2M',
  dpmpp_2m_karras: 'DPM++ 2M Karras',
  lcm: 'LCM',
  pndm: 'PLMS',
};

/** The `parameters` text A1111 writes: prompt, negative prompt, then one line of settings. */
export function a1111Parameters(record: GenerationRecord): string {
  const { settings, model } = record;
  const fields = [
    `Steps: ${settings.steps}`,
    `Sampler: ${a1111SamplerNames[settings.sampler ?? ''] ?? settings.sampler}`,
    `CFG scale: ${settings.guidance}`,
    `Seed: ${settings.seed}`,
    `Size: ${settings.width}x${settings.height}`,
    ...(settings.edit ? [`Denoising strength: ${settings.edit.strength}`] : []),
    ...(settings.edit?.maskBlur ? [`Mask blur: ${settings.edit.maskBlur}`] : []),
    `Model hash: ${model.hash.replace(/^sha256:/, '').slice(0, 10)}`,
    `Model: ${model.id}`,
    // A1111's field: each LoRA by name with the first 10 hex digits of its file's sha256, quoted as one value.
    ...(settings.loras?.length ? [`Lora hashes: "${settings.loras.map((lora) => `${lora.name}: ${lora.sha256.slice(0, 10)}`).join(', ')}"`] : []),
    ...(settings.loras?.length ? [`Loras: "${settings.loras.map((lora) => `${lora.name}: ${lora.scale}`).join(', ')}"`] : []),
    // A1111's sd-webui-controlnet fields, one per unit.
    ...(settings.controls ?? []).map((control, index) => `ControlNet ${index}: "Module: ${control.type}, Model: ${control.model} [${control.sha256.slice(0, 8)}], Weight: ${control.scale}, Guidance Start: ${control.start}, Guidance End: ${control.end}, Image hash: ${control.image.replace(/^sha256:/, '').slice(0, 10)}"`),
    // Not the model's VAE: readers must know the pixels are an approximation. Quoted, as it holds a comma.
    ...(settings.decoder ? [`Decoder: "${settings.decoder.type} (${settings.decoder.name}, ${settings.decoder.sha256.slice(0, 10)})"`] : []),
    `Version: pixelpipe`,
  ];
  const lines = [settings.prompt];
  if (settings.negativePrompt) lines.push(`Negative prompt: ${settings.negativePrompt}`);
  lines.push(fields.join(', '));
  return lines.join('\n');
}
