// Trains a LoRA end to end: check the images, caption them, zip, train on a hosted trainer, check and register the weights.
import { readFile, writeFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { strToU8, zipSync, type Zippable } from 'fflate';
import type { LoraTrainer, LoraTrainingSettings } from '../../providers/shared/lora-trainer.js';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { withTriggerWord, type Captioner } from './image-captioner.js';
import { checkLoraFree, checkLoraName, registerLora, type LoraRecord } from './lora-folder.js';
import { checkTrainingImages, defaultTrainingImageRules, type TrainingImage, type TrainingImageRules } from './training-images.js';

export interface TrainLoraOptions {
  /** The folder of training images; captions are read from and written to `NAME.txt` beside each. */
  imagesDir: string;
  triggerWord: string;
  /** The LoRA's name in the folder; the trigger word when omitted. */
  name?: string;
  /** The LoRA folder (settings' `loraDir`). */
  loraDir: string;
  trainer: LoraTrainer;
  settings?: Omit<LoraTrainingSettings, 'triggerWord'>;
  /** Captions images without a caption file; needed only when some lack one (or with `recaption`). */
  captioner?: Captioner;
  /** Caption every image again, replacing the caption files. */
  recaption?: boolean;
  /** Aborting it stops the run; a hosted training already started is cancelled at the provider. */
  signal?: AbortSignal;
  /** Told each step as a line of text. */
  onProgress?: (line: string) => void;
  rules?: TrainingImageRules;
}

const mediaTypes = { png: 'image/png', jpeg: 'image/jpeg', webp: 'image/webp' } as const;
const captionFile = (image: TrainingImage) => `${image.file.slice(0, image.file.length - extname(image.file).length)}.txt`;

/** The zip the trainers read: each image and its `NAME.txt` caption at the top level. Images are stored, not deflated: they are compressed already. */
export function trainingArchive(images: readonly TrainingImage[], captions: readonly string[]): Uint8Array {
  const entries: Zippable = {};
  images.forEach((image, index) => {
    entries[image.file] = [image.bytes, { level: 0 }];
    entries[captionFile(image)] = strToU8(`${captions[index]}\n`);
  });
  return zipSync(entries);
}

export async function trainLora(options: TrainLoraOptions): Promise<LoraRecord> {
  const { imagesDir, triggerWord, loraDir, trainer, captioner, recaption = false, onProgress = () => {}, rules = defaultTrainingImageRules } = options;
  const signal = options.signal ?? new AbortController().signal;
  if (!/^\S{2,64}$/.test(triggerWord)) throw new InvalidArgumentError({ argument: 'trigger', value: triggerWord, message: `\`--trigger\` must be one word of 2 to 64 characters without spaces (e.g. acmecorp_style), got ${JSON.stringify(triggerWord)}` });
  const name = checkLoraName(options.name ?? triggerWord);
  await checkLoraFree(loraDir, name);

  // 1. Check the images; any problem stops here, before a caption is asked for or a byte uploaded.
  const { images, warnings } = await checkTrainingImages(imagesDir, rules);
  for (const warning of warnings) onProgress(`warning: ${warning}`);
  onProgress(`${images.length} images checked in ${imagesDir}`);

  // 2. Captions: reuse the files beside the images unless asked to caption again.
  const existing = await Promise.all(images.map((image) => (recaption ? Promise.resolve(undefined) : readFile(join(imagesDir, captionFile(image)), 'utf8').then((text) => text.trim() || undefined, () => undefined))));
  const missing = images.filter((_, index) => existing[index] === undefined);
  if (missing.length > 0 && !captioner) {
    throw new InvalidArgumentError({ argument: 'caption-model', value: undefined, message: `${missing.length} image${missing.length === 1 ? ' has' : 's have'} no caption file (${missing.slice(0, 3).map(captionFile).join(', ')}${missing.length > 3 ? ', ...' : ''}); give \`--caption-url\` and \`--caption-model\` (or PIXELPIPE_VLM_URL and PIXELPIPE_VLM_MODEL) of a vision model, or write the captions by hand` });
  }
  const captions: string[] = [];
  for (const [index, image] of images.entries()) {
    signal.throwIfAborted();
    if (existing[index] !== undefined) {
      captions.push(withTriggerWord(existing[index]!, triggerWord));
      continue;
    }
    const caption = withTriggerWord(await captioner!({ file: image.file, bytes: image.bytes, mediaType: mediaTypes[image.format] }, signal), triggerWord);
    await writeFile(join(imagesDir, captionFile(image)), `${caption}\n`);
    onProgress(`captioned ${image.file}: ${caption}`);
    captions.push(caption);
  }
  onProgress(`${images.length - missing.length} caption${images.length - missing.length === 1 ? '' : 's'} reused, ${missing.length} written`);

  // 3. Zip and train.
  const archive = trainingArchive(images, captions);
  const settings: LoraTrainingSettings = { triggerWord, ...options.settings };
  onProgress(`uploading ${(archive.byteLength / 1e6).toFixed(1)} MB to ${trainer.provider} and starting ${trainer.trainer}`);
  const result = await trainer.train({
    archive,
    archiveName: `${name}-training.zip`,
    settings,
    signal,
    onStatus: ({ trainingId, status, detail }) => onProgress(`${trainer.provider} training ${trainingId}: ${status}${detail ? ` (${detail})` : ''}`),
  });
  for (const setting of result.ignored) onProgress(`warning: ${trainer.trainer} has no input for ${setting}; it was not sent`);

  // 4. Check the weights and register them.
  const record = await registerLora(loraDir, {
    name,
    triggerWord,
    provider: trainer.provider,
    trainer: trainer.trainer,
    trainingId: result.trainingId,
    settings: { ...options.settings, input: result.input, ignored: result.ignored },
    images: images.map((image, index) => ({ file: image.file, sha256: image.sha256, width: image.width, height: image.height, caption: captions[index]! })),
    startedAt: result.startedAt,
    completedAt: result.completedAt,
    weightsUrl: result.weightsUrl,
  }, result.weights);
  onProgress(`registered ${join(loraDir, record.weights.file)} (${record.weights.bytes} bytes, sha256 ${record.weights.sha256})`);
  return record;
}
