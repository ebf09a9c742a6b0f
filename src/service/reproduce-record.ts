// Makes a record's image again from what the record kept, and says whether the pixels are the same.
import { createHash } from 'node:crypto';
import { InvalidArgumentError } from '../spec/errors/invalid-argument-error.js';
import type { GeneratedImage } from '../spec/image-model-result.js';
import { engineControls } from './controlnets/served-controlnets.js';
import { hiresPass } from './generation/hires-fix.js';
import { bundledUpscaling, type ImageUpscaling } from './upscaling/image-upscaling.js';
import type { JobRequestInput } from './generation/job-request.js';
import type { ImageRecord } from './image-service-types.js';
import { pixelSha256 } from './pixel-hash.js';
import type { Pixelpipe } from './pixelpipe.js';
import type { BlobStorage } from './storage/blob-storage.js';

/** How to reproduce a record. */
export interface ReproduceOptions {
  /**
   * The model to load instead of the one the record names: a folder or hub id on this machine, or a
   * model of the server's catalog. A record names a local model by its name, and the weights' hash
   * (compared after) says whether they are the same.
   */
  model?: string;
  /** Where the LoRAs a record names are (the service's LoRA folder); a record that used LoRAs cannot be reproduced without it. */
  loraPath?: (name: string) => string;
  /** What the engine loads for a recorded control's ControlNet: a named one of the ControlNet folder, or (unnamed) the folder of the model `reference`. */
  controlNetLocation?: (name: string | undefined, reference: string) => Promise<string>;
}

/** What reproducing a record found. */
export interface Reproduction {
  record: ImageRecord;
  /** The new image. */
  image: GeneratedImage;
  /** SHA-256 of the new bytes, `sha256:<hex>`. */
  sha256: string;
  /** SHA-256 of the new image's decoded pixels. */
  pixelSha256: string;
  /** True when the new pixels are the record's (files differ anyway in the timings and time they carry). */
  matches: boolean;
  /** True when even the file bytes are the same. */
  bytesMatch: boolean;
  /** The model's weight hash now; differs from the record's when the weights changed. */
  modelHash?: string;
}

/**
 * The request that makes the record's image again: the same model, prompt and request, with the
 * settings the record says were used (the image's own seed, steps, guidance, sampler, size, decoder) and n = 1.
 * A best-of-N candidate is made again on its own, unranked. Input images stay blob references.
 */
export function reproductionRequest(record: ImageRecord, { model }: ReproduceOptions = {}): JobRequestInput {
  const { request, settings } = record;
  const { webhook: _webhook, parentRecordId: _parent, n: _n, seed: _seed, aspectRatio: _aspectRatio, bestOf: _bestOf, rankBy: _rankBy, rankRubric: _rankRubric, rankDecoder: _rankDecoder, ...options } = request;
  return {
    ...options,
    model: model ?? request.model ?? record.modelId,
    n: 1,
    ...(settings.seed === undefined ? {} : { seed: settings.seed }),
    ...(settings.steps === undefined ? {} : { steps: settings.steps }),
    ...(settings.guidance === undefined ? {} : { guidance: settings.guidance }),
    ...(settings.sampler === undefined ? {} : { sampler: settings.sampler }),
    // The fast decoder's pixels are not the VAE's: a record made with it is made again with it.
    ...(settings.decoder ? { decoder: settings.decoder.type } : {}),
    ...(request.images ? {} : { width: settings.width, height: settings.height }),
  };
}

/**
 * Compares a new image with the record it reproduces. `modelPixels`: the new image's pixel hash as the
 * model made it, when `image` is a stored (watermarked) file whose own pixels differ from the model's.
 */
export async function compareReproduction(record: ImageRecord, image: GeneratedImage, modelHash: string | undefined, modelPixels?: string): Promise<Reproduction> {
  const sha256 = `sha256:${createHash('sha256').update(image.bytes).digest('hex')}`;
  const pixels = modelPixels ?? (await pixelSha256(image.bytes)).pixelSha256;
  // Records made before pixel hashes were kept can only be compared by file.
  const matches = record.pixelSha256 === undefined ? sha256 === record.sha256 : pixels === record.pixelSha256;
  return { record, image, sha256, pixelSha256: pixels, matches, bytesMatch: sha256 === record.sha256, modelHash };
}

async function input(storage: BlobStorage, key: string, field: string): Promise<Uint8Array> {
  const blob = await storage.get(key);
  if (!blob) throw new InvalidArgumentError({ argument: field, value: key, message: `the record's ${field} (${key}) is no longer in blob storage, so the edit cannot be repeated` });
  return blob.bytes;
}

/** Generates the record's image again in this process (see `reproductionRequest`). */
export async function reproduceRecord(record: ImageRecord, { pixelpipe, storage, signal, model, loraPath, controlNetLocation, upscaling }: { pixelpipe: Pixelpipe; storage: BlobStorage; signal?: AbortSignal; upscaling?: ImageUpscaling } & ReproduceOptions): Promise<Reproduction> {
  // Upscaling, resizing and encoding happen when a service stores an image; the model's pixels are what is compared.
  const { images, mask, upscale: _upscale, resize: _resize, outputFormat: _format, outputQuality: _quality, loras: loraNames, controls: controlRequests, hiresFix, ...options } = reproductionRequest(record, { model });
  if (loraNames?.length && !loraPath) throw new InvalidArgumentError({ argument: 'loras', value: loraNames, message: `record ${record.id} used LoRAs (${loraNames.map(({ name }) => name).join(', ')}); reproduce it where its LoRA folder is` });
  const loras = loraNames?.map(({ name, scale }) => ({ path: loraPath!(name), scale: scale ?? 1 }));
  const controls = await engineControls(controlRequests, { storage, location: controlNetLocation && ((name) => controlNetLocation(name, options.model ?? record.modelId)), where: `record ${record.id} used ControlNets; reproduce it where its ControlNet folder is` });
  const call = {
    ...options,
    ...(loras ? { loras } : {}),
    ...(controls ? { controls } : {}),
    ...(images ? { images: await Promise.all(images.map((image, index) => input(storage, image.blobKey, `images.${index}`))) } : {}),
    ...(mask ? { mask: await input(storage, mask.blobKey, 'mask') } : {}),
    abortSignal: signal,
  };
  const hires = record.settings.hiresFix;
  let result;
  if (hiresFix && hires) {
    // The record's own settings are the hires pass's; the first pass's are kept beside them.
    const first = await pixelpipe.generate({ ...call, ...hires.firstPass, n: 1 });
    const upscaler = upscaling ?? bundledUpscaling({ maxOutputPixels: Number.POSITIVE_INFINITY });
    ({ result } = await hiresPass(first.images[0]!, hiresFix, { upscaling: upscaler, generate: (task) => pixelpipe.generate({ ...call, ...task }) }));
  } else {
    result = await pixelpipe.generate(call);
  }
  // The same LoRA names may hold other weights now: the record's hashes say whether they do.
  const used = result.images[0]!.settings.loras ?? [];
  for (const recorded of record.settings.loras ?? []) {
    const now = used.find((lora) => lora.name === recorded.name);
    if (now && now.sha256 !== recorded.sha256) throw new InvalidArgumentError({ argument: 'loras', value: recorded.name, message: `LoRA ${recorded.name} is not the file record ${record.id} used: its SHA-256 is ${now.sha256}, the record's ${recorded.sha256}` });
  }
  // Likewise the fast decoder: another file under the server's setting decodes other pixels.
  const decoder = result.images[0]!.settings.decoder;
  if (record.settings.decoder && decoder && decoder.sha256 !== record.settings.decoder.sha256) {
    throw new InvalidArgumentError({ argument: 'decoder', value: decoder.name, message: `the fast decoder ${decoder.name} is not the file record ${record.id} used (${record.settings.decoder.name}): its SHA-256 is ${decoder.sha256}, the record's ${record.settings.decoder.sha256}; point PIXELPIPE_FAST_DECODER at that file` });
  }
  return await compareReproduction(record, result.images[0]!, result.response.modelHash);
}
