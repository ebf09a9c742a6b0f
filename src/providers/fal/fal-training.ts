// Trains a FLUX LoRA on fal with fal-ai/flux-lora-fast-training: storage upload, then the queue (submit, status, result, cancel).
//
// Requests (https://fal.ai/models/fal-ai/flux-lora-fast-training/api, https://docs.fal.ai/model-endpoints/queue;
// the upload as fal's JavaScript client makes it, @fal-ai/client `storage.ts`):
//   POST {storage}/storage/upload/initiate {content_type, file_name} → {upload_url, file_url}
//   PUT  upload_url (the zip's bytes)
//   POST {queue}/fal-ai/flux-lora-fast-training {images_data_url, trigger_word, steps} → {request_id, status_url, response_url, cancel_url}
//   GET  status_url?logs=1 until COMPLETED; PUT cancel_url on abort
//   GET  response_url → {diffusers_lora_file: {url}, config_file: {url}}
// The trainer takes no rank or learning rate; asking for them is reported, not sent.
import { z } from 'zod';
import { AbortedError } from '../../spec/errors/aborted-error.js';
import { GenerationFailedError } from '../../spec/errors/generation-failed-error.js';
import type { CallContext } from '../shared/api-client.js';
import { createHostedClient } from '../shared/hosted-client.js';
import type { LoraTrainer, LoraTrainerSettings, LoraTrainingRequest, LoraTrainingResult } from '../shared/lora-trainer.js';
import { pollUntilDone } from '../shared/polling.js';
import { baseUrlVariable, resolveBaseUrl } from '../shared/provider-settings.js';
import { falSubmitSchema } from './fal-api.js';
import { readFalError } from './fal-image-model.js';
import { falProviderInfo } from './fal-provider.js';

export const falLoraTrainer = 'fal-ai/flux-lora-fast-training';
export const falStorageDefaultUrl = 'https://rest.alpha.fal.ai';

// Only the fields read.
const initiateSchema = z.object({ upload_url: z.string(), file_url: z.string() });
const statusSchema = z.object({
  status: z.string(),
  queue_position: z.number().nullish(),
  logs: z.array(z.object({ message: z.string() })).nullish(),
  /** Set on a COMPLETED request whose model failed, next to the error the result URL answers with. */
  error: z.string().nullish(),
});
const resultSchema = z.object({ diffusers_lora_file: z.object({ url: z.string() }), config_file: z.object({ url: z.string() }).nullish() });

export class FalLoraTrainer implements LoraTrainer {
  readonly provider = 'fal';
  readonly trainer = falLoraTrainer;
  private readonly hosted: ReturnType<typeof createHostedClient>;
  private readonly storageUrl: string;

  constructor(settings: LoraTrainerSettings = {}) {
    // fal's scheme is `Key`, not `Bearer` (https://docs.fal.ai/model-endpoints/queue).
    this.hosted = createHostedClient(settings, { info: falProviderInfo, readError: readFalError, authenticate: (key) => ({ authorization: `Key ${key()}` }) });
    this.storageUrl = resolveBaseUrl('fal-storage', settings.storageBaseURL, falStorageDefaultUrl);
  }

  /** PIXELPIPE_FAL_STORAGE_BASE_URL: where uploads are initiated (tests, proxies). */
  static readonly storageUrlVariable = baseUrlVariable('fal-storage');

  async train({ archive, archiveName, settings, signal, onStatus }: LoraTrainingRequest): Promise<LoraTrainingResult> {
    const { client, pollIntervalMs, sleep } = this.hosted;
    const context: CallContext = { modelId: this.trainer, signal, attempts: [] };
    const startedAt = new Date().toISOString();

    const { data: upload } = await client.request(context, { path: `${this.storageUrl}/storage/upload/initiate`, json: { content_type: 'application/zip', file_name: archiveName }, schema: initiateSchema });
    // The upload URL is signed: it takes no fal key.
    await client.request(context, { method: 'PUT', path: upload.upload_url, raw: { body: archive, contentType: 'application/zip' }, authenticated: false, schema: z.unknown() });

    const input: Record<string, unknown> = {
      images_data_url: upload.file_url,
      trigger_word: settings.triggerWord,
      ...(settings.steps !== undefined ? { steps: settings.steps } : {}),
    };
    const ignored = [...(settings.rank !== undefined ? ['rank'] : []), ...(settings.learningRate !== undefined ? ['learningRate'] : [])];
    const { data: submitted } = await client.request(context, { path: `/${this.trainer}`, json: input, schema: falSubmitSchema, retry: false });
    const { request_id: requestId, status_url: statusUrl, response_url: responseUrl, cancel_url: cancelUrl } = submitted;
    onStatus?.({ trainingId: requestId, status: 'IN_QUEUE' });

    let last = 'IN_QUEUE';
    const status = await pollUntilDone<z.infer<typeof statusSchema>>({
      context,
      intervalMs: pollIntervalMs,
      sleep,
      // Removes a queued request; one already running gets a cancellation signal (https://fal.ai/docs/inference-api/queue/cancel).
      cancel: (cancelContext) => client.request(cancelContext, { method: 'PUT', path: cancelUrl, schema: z.unknown(), retry: false }),
      check: async () => {
        const { data } = await client.request(context, { path: `${statusUrl}${statusUrl.includes('?') ? '&' : '?'}logs=1`, schema: statusSchema });
        if (data.status === 'COMPLETED') return { done: true, value: data };
        const detail = data.status === 'IN_QUEUE' && data.queue_position != null ? `queue position ${data.queue_position}` : data.logs?.at(-1)?.message;
        const line = `${data.status} ${detail ?? ''}`;
        if (line !== last) onStatus?.({ trainingId: requestId, status: data.status, detail });
        last = line;
        return { done: false };
      },
    }).catch((error: unknown) => {
      if (signal.aborted) throw new AbortedError({ message: `fal training ${requestId} was interrupted; a cancel request was sent to fal`, cause: error });
      throw error;
    });
    onStatus?.({ trainingId: requestId, status: 'COMPLETED' });

    const label = `fal training ${requestId} (${this.trainer})`;
    if (status.error) throw new GenerationFailedError({ provider: this.provider, url: statusUrl, message: `${label} failed: ${status.error}; nothing was registered` });
    let result: z.infer<typeof resultSchema>;
    try {
      result = (await client.request(context, { path: responseUrl, schema: resultSchema })).data;
    } catch (cause) {
      // A failed model run answers its result URL with the model's error.
      throw new GenerationFailedError({ provider: this.provider, url: responseUrl, cause, message: `${label} failed: ${(cause as Error).message}; nothing was registered` });
    }
    const weightsUrl = result.diffusers_lora_file.url;
    const { bytes } = await client.download(context, weightsUrl);
    return { trainingId: requestId, weights: bytes, weightsUrl, input, ignored, startedAt, completedAt: new Date().toISOString() };
  }
}
