// POST /v1/jobs, GET and DELETE /v1/jobs/{id}: submit with inline or stored images, look up, cancel.
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { JobView } from '../../service/image-service-types.js';
import { ownerScope, type HttpAppOptions, type HttpEnv } from './http-env.js';
import { HttpError } from './http-error.js';
import { errorResponses, idParamsSchema, jobSubmitSchema, jobViewSchema } from './http-schemas.js';

const bearer = [{ bearer: [] }];
const finished = new Set(['succeeded', 'failed', 'cancelled']);
const base64Pattern = /^[A-Za-z0-9+/_-]*={0,2}$/;

/** An input image once stored, with its size where it is known without reading it again. */

export function registerJobRoutes(app: OpenAPIHono<HttpEnv>, { service }: HttpAppOptions): void {
  const jobResponse = (description: string) => ({ description, content: { 'application/json': { schema: jobViewSchema } } });

  const submitRoute = createRoute({
    method: 'post',
    path: '/v1/jobs',
    summary: 'Queue a generation or edit job.',
    security: bearer,
    request: {
      headers: z.object({ 'idempotency-key': z.string().min(1).max(255).optional().openapi({ description: 'Sending the same key again gives back the first job.' }) }),
      body: { required: true, content: { 'application/json': { schema: jobSubmitSchema(service.limits) } } },
    },
    responses: {
      202: { ...jobResponse('Queued; `Location` points at the job.'), headers: { Location: { schema: { type: 'string' } } } },
      200: jobResponse('The job an earlier request with the same `Idempotency-Key` made (`Idempotent-Replayed: true`).'),
      ...errorResponses(400, 401, 403, 413, 429),
    },
  });

  app.openapi(submitRoute, async (context) => {
    const { priority, images, mask, controls, ...fields } = context.req.valid('json');
    const idempotencyKey = context.req.valid('header')['idempotency-key'];
    // Sequential, so one request never holds several decoded images at once.
    const storedImages: string[] = [];
    for (const [index, image] of (images ?? []).entries()) storedImages.push(await resolveImage(image, `images.${index}`));
    // The service checks the mask against the image's size (for stored and uploaded images alike).
    const storedMask = mask ? await resolveImage(mask, 'mask') : undefined;
    const storedControls = [];
    for (const [index, { image, ...control }] of (controls ?? []).entries()) storedControls.push({ ...control, image: { blobKey: await resolveImage(image, `controls.${index}.image`) } });

    const request = {
      ...fields,
      ...(images ? { images: storedImages.map((blobKey) => ({ blobKey })) } : {}),
      ...(storedMask ? { mask: { blobKey: storedMask } } : {}),
      ...(controls ? { controls: storedControls } : {}),
    };
    const { job, created } = await service.submit(request, { apiKey: context.var.apiKey, priority, idempotencyKey });
    context.header('Location', `/v1/jobs/${job.id}`);
    if (!created) {
      context.header('Idempotent-Replayed', 'true');
      return context.json(job as JobView, 200);
    }
    return context.json(job as JobView, 202);
  });

  const getRoute = createRoute({
    method: 'get',
    path: '/v1/jobs/{id}',
    summary: 'A job: its state, position, progress and, once done, its records.',
    security: bearer,
    request: { params: idParamsSchema },
    responses: { 200: jobResponse('The job.'), ...errorResponses(401, 403, 404, 429) },
  });

  app.openapi(getRoute, async (context) => {
    const { id } = context.req.valid('param');
    const job = await service.getJob(id, { apiKeyId: ownerScope(context.var.apiKey) });
    if (!job) throw jobNotFound(id);
    return context.json(job, 200);
  });

  const cancelRoute = createRoute({
    method: 'delete',
    path: '/v1/jobs/{id}',
    summary: 'Cancel a queued or running job.',
    security: bearer,
    request: { params: idParamsSchema },
    responses: { 200: jobResponse('The job, now cancelled.'), ...errorResponses(401, 403, 404, 409, 429) },
  });

  app.openapi(cancelRoute, async (context) => {
    const { id } = context.req.valid('param');
    const apiKeyId = ownerScope(context.var.apiKey);
    const before = await service.getJob(id, { apiKeyId });
    if (!before) throw jobNotFound(id);
    if (finished.has(before.state)) throw jobFinished(before);
    const job = await service.cancelJob(id, { apiKeyId });
    if (!job) throw jobNotFound(id);
    // It may have ended on its own between the two calls.
    if (job.state !== 'cancelled') throw jobFinished(job);
    return context.json(job, 200);
  });

  /** The blob key of an inline (stored now) or already stored image. */
  async function resolveImage(image: { b64_json?: string; blobKey?: string }, field: string): Promise<string> {
    if (image.blobKey !== undefined) {
      if (!(await service.storage.head(image.blobKey))) {
        throw new HttpError(400, { message: `\`${field}.blobKey\` names no stored blob (${image.blobKey}); upload the image as \`b64_json\` instead`, type: 'invalid_request_error', param: `${field}.blobKey`, code: 'blob_not_found' });
      }
      return image.blobKey;
    }
    const bytes = decodeBase64(image.b64_json ?? '', `${field}.b64_json`);
    return (await service.storeUpload(bytes, { field })).blobKey;
  }
}

/** The bytes of a base64 (or base64url) string, optionally a `data:` URL; a 400 naming `field` otherwise. */
export function decodeBase64(text: string, field: string): Uint8Array {
  const payload = text.replace(/^data:[\w/+.-]+;base64,/, '').replace(/\s+/g, '');
  if (payload.length === 0 || payload.length % 4 === 1 || !base64Pattern.test(payload)) {
    const shown = text.length > 20 ? `${JSON.stringify(text.slice(0, 20))}… (${text.length} characters)` : JSON.stringify(text);
    throw new HttpError(400, { message: `\`${field}\` must be an image file encoded as base64, got ${shown}`, type: 'invalid_request_error', param: field, code: 'invalid_base64' });
  }
  return new Uint8Array(Buffer.from(payload, payload.includes('-') || payload.includes('_') ? 'base64url' : 'base64'));
}

function jobNotFound(id: string): HttpError {
  return new HttpError(404, { message: `no job ${JSON.stringify(id)} exists (or it belongs to another API key)`, type: 'not_found_error', param: 'id', code: 'job_not_found' });
}

function jobFinished(job: JobView): HttpError {
  return new HttpError(409, { message: `job ${job.id} has already ended (${job.state}) and cannot be cancelled`, type: 'invalid_request_error', param: 'id', code: 'job_finished' });
}
