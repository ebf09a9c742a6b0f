// Waits for an OpenAI-route job (cancelling it when the client leaves) and turns how it ended into OpenAI's answer or error.
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { ImageService, JobView } from '../../service/image-service-types.js';
import type { JobError } from '../../service/jobs/job-types.js';
import { HttpError } from './http-error.js';
import { inOpenAiTerms, openAiParam } from './openai-job-request.js';
import type { ImagesResponse } from './openai-schemas.js';

/** Waits for the job; when `signal` aborts (the client hung up) the job is cancelled, since no one will read its images, unless `cancelOnAbort` is false. */
export async function awaitJob(service: ImageService, jobId: string, { signal, apiKeyId, cancelOnAbort = true }: { signal: AbortSignal; apiKeyId: string | undefined; cancelOnAbort?: boolean }): Promise<JobView> {
  try {
    return await service.waitForJob(jobId, { signal });
  } catch (error) {
    // No one is left to tell if cancelling fails; the job then just finishes unread.
    if (signal.aborted && cancelOnAbort) await service.cancelJob(jobId, { apiKeyId }).catch(() => undefined);
    throw error;
  }
}

/** How a failed job's error class answers: status, error type, code. */
const failures: Record<string, { status: ContentfulStatusCode; type: string; code: string }> = {
  ContentPolicyError: { status: 400, type: 'invalid_request_error', code: 'content_policy_violation' },
  InvalidArgumentError: { status: 400, type: 'invalid_request_error', code: 'invalid_argument' },
  InvalidRequestError: { status: 400, type: 'invalid_request_error', code: 'invalid_request' },
  ProviderUnavailableError: { status: 502, type: 'server_error', code: 'provider_unavailable' },
  RateLimitError: { status: 502, type: 'server_error', code: 'provider_rate_limited' },
  AuthenticationError: { status: 502, type: 'server_error', code: 'provider_authentication_failed' },
  InvalidResponseError: { status: 502, type: 'server_error', code: 'provider_invalid_response' },
  GenerationFailedError: { status: 502, type: 'server_error', code: 'generation_failed' },
  RouterExhaustedError: { status: 502, type: 'server_error', code: 'all_models_failed' },
  DownloadError: { status: 502, type: 'server_error', code: 'model_download_failed' },
  TimeoutError: { status: 504, type: 'server_error', code: 'timeout' },
  AbortedError: { status: 503, type: 'server_error', code: 'job_aborted' },
  InsufficientMemoryError: { status: 400, type: 'invalid_request_error', code: 'insufficient_memory' },
  WorkerCrashedError: { status: 502, type: 'server_error', code: 'worker_crashed' },
};

/** The error a job that did not succeed answers with; never a 200 without images. `defaultModel`: the service's, which is never the client's fault. */
export function jobFailure(job: JobView, defaultModel?: string): HttpError {
  if (job.state === 'cancelled') {
    // Someone cancelled it (the jobs API, an operator); asking again would not be a retry of the same thing.
    return new HttpError(409, { message: `job ${job.id} was cancelled before it finished; submit the request again to make new images`, type: 'invalid_request_error', code: 'job_cancelled' }, { 'x-should-retry': 'false' });
  }
  if (job.state === 'succeeded') {
    return new HttpError(500, { message: `job ${job.id} succeeded but stored no images; this is a server bug, please report it`, type: 'server_error', code: 'no_images' });
  }
  return failureOf(job.id, job.error, job.request.model !== undefined && job.request.model !== defaultModel);
}

function failureOf(jobId: string, error: JobError | undefined, modelNamed: boolean): HttpError {
  const name = error?.name ?? 'Error';
  const message = error?.message ?? 'no reason was recorded';
  if (name === 'InvalidModelError') {
    // The client's fault only when it named the model; a broken default model is the server's.
    return modelNamed
      ? new HttpError(400, { message, type: 'invalid_request_error', param: 'model', code: 'invalid_model' })
      : new HttpError(500, { message: `the server's default model cannot be used: ${message}`, type: 'server_error', code: 'invalid_default_model' });
  }
  const failure = failures[name] ?? { status: 500, type: 'server_error', code: 'job_failed' };
  const param = failure.status === 400 ? paramOf(message) : null;
  const text = failure.status === 400 ? inOpenAiTerms(message) : `job ${jobId} failed: ${message}`;
  return new HttpError(failure.status, { message: text, type: failure.type, param, code: failure.code });
}

/** Our errors open with the field in backticks ("`width` must be ..."); that is all a stored job error keeps of it. */
function paramOf(message: string): string | null {
  const match = /^`([\w.[\]]+)`/.exec(message);
  return match ? openAiParam(match[1]!) : null;
}

/** Options of `imagesResponse`. */
export interface ImagesResponseOptions {
  responseFormat: 'b64_json' | 'url';
  /** A signed URL for a blob key (used for `url`). */
  urlOf: (key: string) => Promise<string>;
  /** Reads a blob's bytes (used for `b64_json`). */
  read: (key: string) => Promise<Uint8Array>;
  /** The service's default model (see `jobFailure`). */
  defaultModel?: string;
}

const outputFormats: Record<string, 'png' | 'jpeg' | 'webp'> = { 'image/png': 'png', 'image/jpeg': 'jpeg', 'image/webp': 'webp' };

/** OpenAI's answer for a succeeded job: one entry per image, in the job's order (a best-of-N job's chosen images, best first). */
export async function imagesResponse(job: JobView, { responseFormat, urlOf, read, defaultModel }: ImagesResponseOptions): Promise<ImagesResponse> {
  const { records } = job;
  if (job.state !== 'succeeded' || records.length === 0) throw jobFailure(job, defaultModel);
  const data = await Promise.all(
    records.map(async (record) => ({
      ...(responseFormat === 'url' ? { url: await urlOf(record.blobKey) } : { b64_json: Buffer.from(await read(record.blobKey)).toString('base64') }),
      ...(record.revisedPrompt ? { revised_prompt: record.revisedPrompt } : {}),
    })),
  );
  const first = records[0]!;
  const outputFormat = outputFormats[first.mediaType];
  return {
    created: Math.floor(Date.parse(job.finishedAt ?? first.createdAt) / 1000),
    data,
    ...(outputFormat ? { output_format: outputFormat } : {}),
    size: `${first.width}x${first.height}`,
  };
}
