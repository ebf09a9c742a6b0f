// Trains a FLUX LoRA on Replicate with ostris/flux-dev-lora-trainer: upload the zip, create a training, poll it, download the weights.
//
// Requests (https://replicate.com/docs/reference/http, https://replicate.com/ostris/flux-dev-lora-trainer/train):
//   POST /files (multipart, part `content`) → {id, urls: {get}}               upload the zip
//   GET  /models/ostris/flux-dev-lora-trainer → {latest_version: {id}}      unless a version is given
//   POST /models/ostris/flux-dev-lora-trainer/versions/{version}/trainings
//        {destination, input: {input_images, trigger_word, steps, lora_rank, learning_rate}}
//   GET  urls.get until succeeded | failed | canceled; POST urls.cancel on abort
//   output.weights: a URL of the weights (a `trained_model.tar` holding `…/lora.safetensors`, or the file itself).
import { z } from 'zod';
import { AbortedError } from '../../spec/errors/aborted-error.js';
import { GenerationFailedError } from '../../spec/errors/generation-failed-error.js';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { InvalidResponseError } from '../../spec/errors/invalid-response-error.js';
import type { CallContext } from '../shared/api-client.js';
import { createHostedClient } from '../shared/hosted-client.js';
import { stepCounterOf, type LoraTrainer, type LoraTrainerSettings, type LoraTrainingRequest, type LoraTrainingResult } from '../shared/lora-trainer.js';
import { pollUntilDone } from '../shared/polling.js';
import { readReplicateError } from './replicate-image-model.js';
import { replicateProviderInfo } from './replicate-provider.js';

export const replicateLoraTrainer = 'ostris/flux-dev-lora-trainer';

// Only the fields read.
const fileSchema = z.object({ id: z.string(), urls: z.object({ get: z.string() }) });
const modelSchema = z.object({ latest_version: z.object({ id: z.string() }).nullish() });
const trainingSchema = z.object({
  id: z.string(),
  /** starting, processing, succeeded, failed or canceled (https://replicate.com/docs/reference/http#trainings.get). */
  status: z.string(),
  output: z.object({ weights: z.string().nullish(), version: z.string().nullish() }).passthrough().nullish(),
  error: z.unknown().optional(),
  logs: z.string().nullish(),
  urls: z.object({ get: z.string(), cancel: z.string() }),
});
type ReplicateTraining = z.infer<typeof trainingSchema>;

const finished = new Set(['succeeded', 'failed', 'canceled', 'aborted']);

/** The first `.safetensors` file of an uncompressed tar (ustar) archive, or undefined when `bytes` is not one. */
export function safetensorsFromTar(bytes: Uint8Array): Uint8Array | undefined {
  const text = (start: number, length: number) => Buffer.from(bytes.subarray(start, start + length)).toString('latin1').replace(/\0.*$/s, '');
  if (bytes.byteLength < 512 || text(257, 5) !== 'ustar') return undefined;
  for (let offset = 0; offset + 512 <= bytes.byteLength; ) {
    const name = text(offset, 100);
    if (name === '') return undefined;
    const prefix = text(offset + 345, 155);
    const size = Number.parseInt(text(offset + 124, 12).trim() || '0', 8);
    const type = text(offset + 156, 1);
    const path = prefix ? `${prefix}/${name}` : name;
    if ((type === '0' || type === '') && path.endsWith('.safetensors')) return bytes.subarray(offset + 512, offset + 512 + size);
    offset += 512 + Math.ceil(size / 512) * 512;
  }
  return undefined;
}

export class ReplicateLoraTrainer implements LoraTrainer {
  readonly provider = 'replicate';
  readonly trainer = replicateLoraTrainer;
  private readonly hosted: ReturnType<typeof createHostedClient>;

  constructor(private readonly settings: LoraTrainerSettings = {}) {
    this.hosted = createHostedClient(settings, { info: replicateProviderInfo, keyDescription: 'API token', readError: readReplicateError, authenticate: (key) => ({ authorization: `Bearer ${key()}` }) });
  }

  async train({ archive, archiveName, settings, signal, onStatus }: LoraTrainingRequest): Promise<LoraTrainingResult> {
    const { destination, trainerVersion } = this.settings;
    if (!destination || !/^[\w.-]+\/[\w.-]+$/.test(destination)) {
      throw new InvalidArgumentError({ argument: 'destination', value: destination, message: `replicate trains into a model of yours: give \`--destination owner/name\` (create the model first at https://replicate.com/create, or with POST /v1/models), got ${JSON.stringify(destination ?? '')}` });
    }
    const { client, pollIntervalMs, sleep } = this.hosted;
    const context: CallContext = { modelId: this.trainer, signal, attempts: [] };
    const startedAt = new Date().toISOString();

    // Upload the zip; the file's API URL is what model inputs take (https://replicate.com/docs/topics/predictions/input-files).
    const form = new FormData();
    form.append('content', new Blob([archive], { type: 'application/zip' }), archiveName);
    const { data: file } = await client.request(context, { path: '/files', form, schema: fileSchema });
    const version = trainerVersion ?? (await client.request(context, { path: `/models/${this.trainer}`, schema: modelSchema })).data.latest_version?.id;
    if (!version) throw new InvalidResponseError({ provider: this.provider, url: client.url(`/models/${this.trainer}`), message: `replicate lists no version of ${this.trainer}; pass a trainer version` });

    const input: Record<string, unknown> = {
      input_images: file.urls.get,
      trigger_word: settings.triggerWord,
      ...(settings.steps !== undefined ? { steps: settings.steps } : {}),
      ...(settings.rank !== undefined ? { lora_rank: settings.rank } : {}),
      ...(settings.learningRate !== undefined ? { learning_rate: settings.learningRate } : {}),
      // The captions are in the zip beside each image, so the trainer's own LLaVA captioner is not needed.
      autocaption: false,
    };
    const { data: created } = await client.request(context, { path: `/models/${this.trainer}/versions/${version}/trainings`, json: { destination, input }, schema: trainingSchema, retry: false });
    onStatus?.({ trainingId: created.id, status: created.status });

    let last = `${created.status}`;
    const training = finished.has(created.status) ? created : await pollUntilDone<ReplicateTraining>({
      context,
      intervalMs: pollIntervalMs,
      sleep,
      cancel: (cancelContext) => client.request(cancelContext, { method: 'POST', path: created.urls.cancel, schema: z.unknown(), retry: false }),
      check: async () => {
        const { data } = await client.request(context, { path: created.urls.get, schema: trainingSchema });
        if (finished.has(data.status)) return { done: true, value: data };
        const detail = stepCounterOf(data.logs);
        const line = `${data.status} ${detail ?? ''}`;
        if (line !== last) onStatus?.({ trainingId: data.id, status: data.status, detail });
        last = line;
        return { done: false };
      },
    }).catch((error: unknown) => {
      if (signal.aborted) throw new AbortedError({ message: `replicate training ${created.id} was interrupted; a cancel request was sent to replicate`, cause: error });
      throw error;
    });
    onStatus?.({ trainingId: training.id, status: training.status });

    const label = `replicate training ${training.id} (${this.trainer})`;
    if (training.status === 'failed') {
      const said = typeof training.error === 'string' ? training.error : JSON.stringify(training.error ?? 'no error message');
      throw new GenerationFailedError({ provider: this.provider, url: training.urls.get, responseBody: training.logs ?? undefined, message: `${label} failed: ${said}; nothing was registered` });
    }
    if (training.status !== 'succeeded') throw new AbortedError({ message: `${label} was ${training.status} at replicate (not by this command); nothing was registered` });
    const weightsUrl = training.output?.weights;
    if (!weightsUrl) throw new InvalidResponseError({ provider: this.provider, url: training.urls.get, message: `${label} succeeded without \`output.weights\` (got ${JSON.stringify(training.output)?.slice(0, 200)})` });

    const { bytes } = await client.download(context, weightsUrl);
    return { trainingId: training.id, weights: safetensorsFromTar(bytes) ?? bytes, weightsUrl, input, ignored: [], startedAt, completedAt: new Date().toISOString() };
  }
}
