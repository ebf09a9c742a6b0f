// `pixelpipe lora pull REPO`: a LoRA from the Hugging Face Hub into the LoRA folder, as models are pulled into the
// model cache: the file is verified against the hub's hash, checked to be a LoRA pixelpipe can merge, and
// registered with a record of where it came from.
import { mkdir, readFile, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { readLoraFile } from '../../engine/lora/lora-file.js';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { createHubClient, type HubFile } from '../models/hub-client.js';
import { isHubRepoId } from '../models/model-cache.js';
import { checkLoraFree, checkLoraName, checkSafetensors, weightsEntry, writeLoraFiles, type HubLoraRecord } from './lora-folder.js';

/** A LoRA is tens to hundreds of megabytes; a file above this is a full checkpoint, not a LoRA. */
const largestLora = 2 ** 30;

export interface PullLoraOptions {
  /** `owner/name` on the hub. */
  repoId: string;
  /** The `.safetensors` file in the repo; needed when it has several. */
  file?: string;
  /** The name in the LoRA folder; default the repo's name. */
  name?: string;
  revision?: string;
  loraDir: string;
  hubUrl: string;
  hubToken?: string;
  fetch?: typeof fetch;
  onProgress?: (bytes: number, total: number) => void;
}

/** Pulls and registers the LoRA; gives its record. Nothing is left in the folder when any check fails. */
export async function pullLora({ repoId, file, name: nameOption, revision = 'main', loraDir, hubUrl, hubToken, fetch, onProgress }: PullLoraOptions): Promise<HubLoraRecord> {
  if (!isHubRepoId(repoId)) throw new InvalidArgumentError({ argument: 'REPO', value: repoId, message: `give the LoRA's hub repository as OWNER/NAME, got ${JSON.stringify(repoId)}` });
  // A repo name may hold characters a LoRA name may not: those become `_`.
  const name = checkLoraName(nameOption ?? repoId.slice(repoId.indexOf('/') + 1).replace(/[^\w.-]/g, '_'));
  await checkLoraFree(loraDir, name);
  const hub = createHubClient({ hubUrl, accessToken: hubToken, fetch });
  const info = await hub.modelInfo(repoId, revision);
  const chosen = chooseFile(repoId, await hub.listFiles(repoId, info.commit), file);
  if (chosen.size > largestLora) {
    throw new InvalidArgumentError({ argument: 'REPO', value: `${repoId}/${chosen.path}`, message: `${repoId}/${chosen.path} is ${(chosen.size / 2 ** 30).toFixed(1)} GiB: a LoRA is at most a few hundred MB, so this is a full model; pull models with \`pixelpipe models pull\`` });
  }
  await mkdir(loraDir, { recursive: true });
  const download = join(loraDir, `.${name}.download.safetensors`);
  try {
    await hub.downloadFile({ repoId, commit: info.commit, file: chosen, destination: download, onBytes: (bytes) => onProgress?.(bytes, chosen.size) });
    const weights = new Uint8Array(await readFile(download));
    const url = `${hubUrl.replace(/\/+$/, '')}/${repoId}/resolve/${info.commit}/${chosen.path}`;
    const tensors = checkSafetensors(weights, url);
    // Refused now, not at the first generation: a file in no LoRA key format pixelpipe merges.
    await readLoraFile(download).catch((error: Error) => {
      throw new InvalidArgumentError({ argument: 'REPO', value: repoId, message: `${repoId}/${chosen.path} is not a LoRA pixelpipe can merge, so nothing was registered: ${error.message.replaceAll(download, 'the file')}`, cause: error });
    });
    const triggerWord = typeof info.cardData.instance_prompt === 'string' && info.cardData.instance_prompt.trim() ? info.cardData.instance_prompt.trim() : undefined;
    const baseModel = typeof info.cardData.base_model === 'string' ? info.cardData.base_model : undefined;
    const record: HubLoraRecord = {
      version: 1,
      name,
      ...(triggerWord ? { triggerWord } : {}),
      provider: 'hub',
      source: { hubUrl, repoId, commit: info.commit, file: chosen.path, ...(info.license ? { license: info.license } : {}), ...(baseModel ? { baseModel } : {}) },
      weights: weightsEntry(name, weights, url, tensors),
      registeredAt: new Date().toISOString(),
    };
    await checkLoraFree(loraDir, name);
    await writeLoraFiles(loraDir, name, record, weights);
    return record;
  } finally {
    await rm(download, { force: true });
    await rm(`${download}.part`, { force: true });
  }
}

/** The repo's `.safetensors` file: the one asked for, or its only one. */
function chooseFile(repoId: string, files: HubFile[], wanted: string | undefined): HubFile {
  const weights = files.filter((candidate) => candidate.path.endsWith('.safetensors'));
  if (wanted !== undefined) {
    const found = files.find((candidate) => candidate.path === wanted);
    if (found && found.path.endsWith('.safetensors')) return found;
    throw new InvalidArgumentError({ argument: 'file', value: wanted, message: `${repoId} has no file ${JSON.stringify(wanted)} ending in .safetensors; it has ${weights.map((candidate) => candidate.path).join(', ') || 'none'}` });
  }
  if (weights.length === 1) return weights[0]!;
  if (weights.length === 0) throw new InvalidArgumentError({ argument: 'REPO', value: repoId, message: `${repoId} has no .safetensors file (pixelpipe loads LoRAs in .safetensors only); its files: ${files.map((candidate) => candidate.path).slice(0, 20).join(', ')}` });
  throw new InvalidArgumentError({ argument: 'file', value: undefined, message: `${repoId} has ${weights.length} .safetensors files (${weights.map((candidate) => basename(candidate.path)).slice(0, 10).join(', ')}); choose one with --file PATH` });
}
