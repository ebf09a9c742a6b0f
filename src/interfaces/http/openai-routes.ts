// OpenAI-compatible image routes: /v1/images/generations, /v1/images/edits, /v1/models.
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { JobRequestInput } from '../../service/generation/job-request.js';
import type { ImageService } from '../../service/image-service-types.js';
import { blobUrl, requestBaseUrl } from './blob-urls.js';
import type { HttpAppOptions, HttpEnv } from './http-env.js';
import { HttpError } from './http-error.js';
import { awaitJob, imagesResponse } from './openai-job-outcome.js';
import { renameArgumentError, resolveModel, toJobRequest } from './openai-job-request.js';
import { editsRoute, generationsRoute, modelRoute, modelsRoute } from './openai-openapi.js';
import { editRequestSchema, generationRequestSchema, parseFields, type ImagesResponse } from './openai-schemas.js';

/**
 * Adds the OpenAI-compatible routes to `app`; auth, body limits and errors come from the app's middleware.
 * The routes are documented from their zod schemas but parse their own bodies, so that a wrong media
 * type, malformed JSON or a bad multipart field answers in OpenAI's terms (field names, `image[]`).
 */
export function registerOpenAiRoutes(app: OpenAPIHono<HttpEnv>, options: HttpAppOptions): void {
  const { service, urlSigningSecret, urlExpirySeconds = 3600, now = Date.now } = options;
  for (const route of [generationsRoute, editsRoute, modelsRoute, modelRoute]) app.openAPIRegistry.registerPath(route);

  /** Queues `request`, waits for it (cancelling it if the client leaves) and answers OpenAI's way. */
  async function runJob(context: Context<HttpEnv>, request: JobRequestInput, responseFormat: 'b64_json' | 'url'): Promise<ImagesResponse> {
    const apiKey = context.var.apiKey;
    const idempotencyKey = readIdempotencyKey(context);
    const { job } = await service.submit(request, { apiKey, idempotencyKey }).catch(renameArgumentError);
    // With an idempotency key the client can come back for the job, so a dropped connection leaves it running.
    const finished = await awaitJob(service, job.id, { signal: context.req.raw.signal, apiKeyId: apiKey?.id, cancelOnAbort: idempotencyKey === undefined });
    const baseUrl = requestBaseUrl(context, options);
    return imagesResponse(finished, {
      responseFormat,
      defaultModel: service.defaultModel,
      urlOf: (key) => blobUrl({ storage: service.storage, key, baseUrl, secret: urlSigningSecret, expiresInSeconds: urlExpirySeconds, now }),
      read: async (key) => {
        const blob = await service.storage.get(key);
        if (!blob) throw new Error(`blob ${key} of a finished job is missing from storage`);
        return blob.bytes;
      },
    });
  }

  app.post('/v1/images/generations', async (context) => {
    const fields = parseFields(generationRequestSchema, await readJson(context));
    return context.json(await runJob(context, toJobRequest(fields), fields.response_format ?? 'b64_json'));
  });

  app.post('/v1/images/edits', async (context) => {
    const { image, 'image[]': imageList, mask, ...fields } = parseFields(editRequestSchema, await readForm(context));
    const files = [image, imageList].flat().filter((file): file is File => file !== undefined);
    if (files.length === 0) {
      throw new HttpError(400, { message: '`image` is missing: send the image to edit as a file field `image` (several as `image[]`)', type: 'invalid_request_error', param: 'image', code: 'invalid_argument' });
    }
    if (mask === undefined && fields.mask_convention != null) {
      const message = `\`mask_convention\` (${JSON.stringify(fields.mask_convention)}) says how \`mask\` marks what to repaint, but no \`mask\` was sent; send the mask as a file field \`mask\` or leave \`mask_convention\` out`;
      throw new HttpError(400, { message, type: 'invalid_request_error', param: 'mask_convention', code: 'invalid_argument' });
    }
    const images = [];
    for (const [index, file] of files.entries()) {
      const field = files.length === 1 ? 'image' : `image[${index}]`;
      images.push(await service.storeUpload(await fileBytes(file), { field }).catch(renameArgumentError));
    }
    const first = images[0]!;
    const storedMask = mask === undefined ? undefined : await service.storeUpload(await fileBytes(mask), { field: 'mask' }).catch(renameArgumentError);
    if (storedMask && (storedMask.width !== first.width || storedMask.height !== first.height)) {
      const message = `\`mask\` must be the size of the first image, ${first.width}x${first.height}, got ${storedMask.width}x${storedMask.height}; resize the mask or send a matching one`;
      throw new HttpError(400, { message, type: 'invalid_request_error', param: 'mask', code: 'invalid_argument' });
    }
    const request = toJobRequest(fields, { images: images.map((upload) => upload.blobKey), mask: storedMask?.blobKey });
    return context.json(await runJob(context, request, fields.response_format ?? 'b64_json'));
  });

  app.get('/v1/models', async (context) => {
    const models = await service.listModels();
    return context.json({ object: 'list' as const, data: models.map(toOpenAiModel) });
  });

  // `{.+}` because local model ids may hold slashes (`stabilityai/sd-turbo`).
  app.get('/v1/models/:id{.+}', async (context) => {
    const id = context.req.param('id');
    const models = await service.listModels();
    const model = models.find((candidate) => candidate.id === id) ?? models.find((candidate) => candidate.id === resolveModel(id));
    if (!model) {
      const message = `no model ${JSON.stringify(id)} is served here; GET /v1/models lists those that are`;
      throw new HttpError(404, { message, type: 'invalid_request_error', param: 'model', code: 'model_not_found' });
    }
    return context.json(toOpenAiModel(model));
  });
}

function toOpenAiModel({ id, ownedBy, capabilities }: Awaited<ReturnType<ImageService['listModels']>>[number]) {
  // OpenAI's `created` is when the model was made; the service does not know it. Its clients ignore the `pixelpipe` object.
  return { id, object: 'model' as const, created: 0, owned_by: ownedBy, ...(capabilities && { pixelpipe: { capabilities } }) };
}

async function readJson(context: Context<HttpEnv>): Promise<unknown> {
  const contentType = context.req.header('content-type') ?? '';
  if (!/^application\/([\w.-]+\+)?json\b/i.test(contentType)) {
    const message = `the body must be JSON: send \`Content-Type: application/json\`, got ${contentType ? JSON.stringify(contentType) : 'none'}`;
    throw new HttpError(415, { message, type: 'invalid_request_error', code: 'unsupported_media_type' });
  }
  try {
    return await context.req.json();
  } catch (error) {
    if (error instanceof SyntaxError) {
      throw new HttpError(400, { message: `the body is not valid JSON (${error.message}); check quotes, commas and brackets`, type: 'invalid_request_error', code: 'invalid_json' });
    }
    throw error;
  }
}

/** The multipart fields as an object: repeated or `name[]` fields become lists, as hono's form validator does. */
async function readForm(context: Context<HttpEnv>): Promise<Record<string, unknown>> {
  const contentType = context.req.header('content-type') ?? '';
  if (!/^multipart\/form-data\b/i.test(contentType)) {
    const message = `the body must be multipart/form-data with the image as a file field, got ${contentType ? JSON.stringify(contentType) : 'no Content-Type'}`;
    throw new HttpError(415, { message, type: 'invalid_request_error', code: 'unsupported_media_type' });
  }
  let form: FormData;
  try {
    form = await context.req.formData();
  } catch (error) {
    if (!(error instanceof TypeError)) throw error;
    throw new HttpError(400, { message: `the multipart body could not be read (${error.message}); let your HTTP client build it`, type: 'invalid_request_error', code: 'invalid_multipart' });
  }
  const fields: Record<string, unknown> = Object.create(null);
  for (const [name, value] of form.entries()) {
    const earlier = fields[name];
    if (name.endsWith('[]')) fields[name] = [...((earlier as unknown[] | undefined) ?? []), value];
    else if (earlier === undefined) fields[name] = value;
    else fields[name] = [earlier, value].flat();
  }
  return fields;
}

function readIdempotencyKey(context: Context<HttpEnv>): string | undefined {
  const key = context.req.header('idempotency-key');
  if (key === undefined) return undefined;
  if (key.length < 1 || key.length > 255) {
    const message = `the \`Idempotency-Key\` header must be 1 to 255 characters, got ${key.length}; send a shorter key (a UUID works)`;
    throw new HttpError(400, { message, type: 'invalid_request_error', param: 'Idempotency-Key', code: 'invalid_argument' });
  }
  return key;
}

async function fileBytes(file: File): Promise<Uint8Array> {
  return new Uint8Array(await file.arrayBuffer());
}
