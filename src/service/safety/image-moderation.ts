// The image check: nsfwjs (on its own thread, CPU only) or OpenAI's moderation endpoint with the image, decided by the policy.
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import sharp from 'sharp';
import type { EncodedImage } from '../provenance/image-finishing.js';
import type { ClassifierOptions } from './classifier-client.js';
import { decideCategories, mostSevere, type ModerationDecision } from './moderation-decision.js';
import { nsfwClasses, type ImageClassifier, type NsfwClass, type nsfwModels, type PolicySetting } from './moderation-policy.js';
import type { NsfwThreadReply, NsfwThreadRequest } from './nsfw-thread.js';
import { openaiModeration } from './openai-moderation.js';

export type NsfwModel = (typeof nsfwModels)[number];

/** The side of the square image each model reads. */
const inputSize: Record<NsfwModel, number> = { mobilenet_v2: 224, mobilenet_v2_mid: 224, inception_v3: 299 };

const threadEntry = new URL(`./nsfw-thread${extname(fileURLToPath(import.meta.url))}`, import.meta.url);

// Run from TypeScript sources (tests under tsx), the thread registers tsx itself: worker threads do not
// take the `--import tsx` of the process that starts them.
function startThread(model: NsfwModel): Worker {
  const options = { workerData: { model, size: inputSize[model] }, execArgv: [] };
  if (!threadEntry.pathname.endsWith('.ts')) return new Worker(threadEntry, options);
  const register = import.meta.resolve('tsx/esm/api');
  return new Worker(`import(${JSON.stringify(register)}).then(({ register }) => { register(); return import(${JSON.stringify(threadEntry.href)}); })`, { ...options, eval: true });
}

/** nsfwjs's class probabilities of an image; they sum to 1. */
export type NsfwScores = Record<NsfwClass, number>;

/** One nsfwjs model on its own thread, loaded once; images are classified one at a time, in order. */
export class NsfwClassifier {
  readonly model: NsfwModel;
  readonly #worker: Worker;
  readonly #waiting = new Map<number, { resolve: (probabilities: number[]) => void; reject: (error: Error) => void }>();
  #next = 1;

  private constructor(model: NsfwModel, worker: Worker) {
    this.model = model;
    this.#worker = worker;
    worker.on('message', (reply: NsfwThreadReply) => {
      const waiting = this.#waiting.get(reply.id);
      this.#waiting.delete(reply.id);
      // Like an idle socket: a loaded model alone does not keep the process running.
      if (this.#waiting.size === 0) worker.unref();
      if ('error' in reply) waiting?.reject(new Error(reply.error));
      else waiting?.resolve(reply.probabilities);
    });
    const fail = (error: Error) => {
      for (const waiting of this.#waiting.values()) waiting.reject(error);
      this.#waiting.clear();
    };
    worker.on('error', (error) => fail(new Error(`the nsfwjs thread failed: ${error.message}`, { cause: error })));
    worker.on('exit', (code) => fail(new Error(`the nsfwjs thread exited (code ${code})`)));
  }

  /** Starts the thread and waits until the model is loaded. */
  static async start(model: NsfwModel = 'mobilenet_v2'): Promise<NsfwClassifier> {
    const classifier = new NsfwClassifier(model, startThread(model));
    try {
      await new Promise<number[]>((resolve, reject) => classifier.#waiting.set(0, { resolve, reject }));
    } catch (error) {
      await classifier.#worker.terminate();
      throw error;
    }
    classifier.#worker.unref();
    return classifier;
  }

  /** Classifies an encoded image: decoded, flattened and squeezed to the model's square input, as nsfwjs does. */
  async classify(image: EncodedImage): Promise<NsfwScores> {
    const size = inputSize[this.model];
    const decoded = await sharp(image.bytes).flatten().resize(size, size, { fit: 'fill' }).removeAlpha().toColourspace('srgb').raw().toBuffer();
    const pixels = new Uint8Array(decoded.buffer, decoded.byteOffset, decoded.byteLength);
    const id = this.#next++;
    const done = new Promise<number[]>((resolve, reject) => this.#waiting.set(id, { resolve, reject }));
    this.#worker.ref();
    this.#worker.postMessage({ id, pixels } satisfies NsfwThreadRequest);
    const probabilities = await done;
    return Object.fromEntries(nsfwClasses.map((name, index) => [name, probabilities[index]!])) as NsfwScores;
  }

  async close(): Promise<void> {
    await this.#worker.terminate();
  }
}

type NsfwPolicy = Extract<ImageClassifier, { classifier: 'nsfwjs' }>;

const rounded = (score: number) => Math.round(score * 1e4) / 1e4;

/** The policy's decision on nsfwjs's scores: each class whose probability reaches its threshold acts; the most severe, then the most probable, wins. */
export function decideNsfw(scores: NsfwScores, policy: NsfwPolicy): ModerationDecision {
  const hits = Object.entries(policy.classes)
    .filter(([name, rule]) => scores[name as NsfwClass] >= rule.threshold && rule.action !== 'allow')
    .sort(([a], [b]) => scores[b as NsfwClass] - scores[a as NsfwClass])
    .map(([name, rule]): ModerationDecision => ({ action: rule.action, rule: `image.classes.${name}`, category: name }));
  return { ...mostSevere(hits), classifier: `nsfwjs:${policy.model}`, scores: Object.fromEntries(Object.entries(scores).map(([name, score]) => [name, rounded(score)])) };
}

/** What the image check is given besides the policy. */
export interface ImageModerationOptions extends ClassifierOptions {
  /** The loaded nsfwjs model of a name (kept by the caller, so it loads once per process). */
  nsfw: (model: NsfwModel) => Promise<NsfwClassifier>;
}

/** Checks an image under the policy; a classifier that fails throws, so no image is taken as allowed unchecked. */
export async function moderateImage(image: EncodedImage, policy: PolicySetting, { nsfw, ...options }: ImageModerationOptions): Promise<ModerationDecision> {
  if (policy === 'off') return { action: 'off' };
  const classifier = policy.image;
  switch (classifier.classifier) {
    case 'none':
      return { action: 'allow' };
    case 'nsfwjs':
      return decideNsfw(await (await nsfw(classifier.model)).classify(image), classifier);
    case 'openai':
      return decideCategories(await openaiModeration({ image }, classifier, options), policy);
  }
}
