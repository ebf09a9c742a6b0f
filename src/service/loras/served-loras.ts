// The LoRAs a service offers: names in its LoRA folder, which requests use by name (never by path), and A1111's
// `<lora:NAME:SCALE>` prompt syntax, moved into the request's `loras` at submit.
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import type { JobRequest } from '../generation/job-request.js';
import { listLoras, type LoraListing } from './lora-folder.js';

/** `<lora:NAME>` or `<lora:NAME:SCALE>`, as A1111 and Forge write them in prompts. */
const promptToken = /<lora:([^:<>]+)(?::(-?\d+(?:\.\d+)?))?>/g;

export interface ServedLoras {
  /** The folder's LoRAs, with trigger words and hashes. */
  list(): Promise<LoraListing[]>;
  /** The file a name stands for. */
  path(name: string): string;
  /**
   * Moves the prompt's `<lora:…>` tokens into `loras` (A1111 removes them from the text the model reads) and checks
   * that every LoRA is in the folder and that the model is local; throws InvalidArgumentError naming the field.
   */
  prepare(request: JobRequest, { hosted }: { hosted: () => Promise<boolean> }): Promise<void>;
}

export function createServedLoras(folder: string): ServedLoras {
  const path = (name: string) => join(folder, `${name}.safetensors`);
  const names = async () => ((await readdir(folder).catch(() => [])) as string[]).filter((file) => file.endsWith('.safetensors')).map((file) => file.slice(0, -'.safetensors'.length)).sort();
  return {
    list: () => listLoras(folder),
    path,
    async prepare(request, { hosted }) {
      const fromPrompt: NonNullable<JobRequest['loras']> = [];
      const prompt = request.prompt.replace(promptToken, (_token, name: string, scale: string | undefined) => {
        fromPrompt.push({ name: name.trim(), ...(scale === undefined ? {} : { scale: Number(scale) }) });
        return ' ';
      });
      if (fromPrompt.length > 0) {
        request.prompt = prompt.replace(/\s{2,}/g, ' ').trim() || request.prompt;
        request.loras = [...(request.loras ?? []), ...fromPrompt];
      }
      const loras = request.loras ?? [];
      if (loras.length === 0) return;
      // Asked only of requests with LoRAs: every submit passes here, most without any.
      if (await hosted()) throw new InvalidArgumentError({ argument: 'loras', value: loras, message: `\`loras\` (or a prompt's <lora:…>) apply to local models; ${JSON.stringify(request.model)} is hosted: leave them out or name a local model` });
      if (loras.length > 8) throw new InvalidArgumentError({ argument: 'loras', value: loras.length, message: `at most 8 LoRAs may be merged at once, got ${loras.length}` });
      for (const [index, { name }] of loras.entries()) {
        const found = /^[\w][\w.-]{0,99}$/.test(name) && (await stat(path(name)).then((info) => info.isFile(), () => false));
        if (found) continue;
        const known = await names();
        throw new InvalidArgumentError({
          argument: `loras.${index}.name`,
          value: name,
          message: `\`loras.${index}.name\` names LoRA ${JSON.stringify(name)}, which is not in this server's LoRA folder: ${known.length > 0 ? `it has ${known.slice(0, 20).join(', ')}${known.length > 20 ? ', …' : ''}` : 'it has none'} (GET /v1/loras lists them; the operator adds one with \`pixelpipe lora train\` or by copying NAME.safetensors into PIXELPIPE_LORA_DIR)`,
        });
      }
    },
  };
}
