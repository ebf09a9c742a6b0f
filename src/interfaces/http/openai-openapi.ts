// How the OpenAI-compatible routes appear in /openapi.json.
import { createRoute, z } from '@hono/zod-openapi';
import { errorResponses, errorSchema } from './http-schemas.js';
import { editRequestSchema, generationRequestSchema, imagesResponseSchema, modelListSchema, modelSchema } from './openai-schemas.js';

const tags = ['OpenAI-compatible'];
const security = [{ bearer: [] }];

const idempotencyHeader = z.object({
  'idempotency-key': z.string().min(1).max(255).optional().openapi({ description: 'The same key gives back the first job; the job then keeps running when the connection drops, so a retry picks it up.' }),
});

const errorContent = { 'application/json': { schema: errorSchema } };

/** Statuses a finished job can answer with besides 200 (see openai-job-outcome.ts). */
const jobFailureResponses = {
  500: { description: 'The job failed inside pixelpipe.', content: errorContent },
  502: { description: 'The provider failed or refused to serve (unavailable, rate limited, bad credentials on the server).', content: errorContent },
  503: { description: 'The job was stopped (worker shut down); asking again makes a new job.', content: errorContent },
  504: { description: 'The provider timed out.', content: errorContent },
};

export const generationsRoute = createRoute({
  method: 'post',
  path: '/v1/images/generations',
  tags,
  security,
  summary: 'Generate images (OpenAI Images API)',
  description: 'Queues a job, waits for it and answers with its images. Closing the connection cancels the job (unless the request had an `Idempotency-Key`). A content-policy refusal answers 400 with code `content_policy_violation`. With `best_of` (and `rank_by`) it makes that many candidates and answers with the best `n`, best first; the rejected ones are in the native job view and in history.',
  request: { headers: idempotencyHeader, body: { required: true, content: { 'application/json': { schema: generationRequestSchema } } } },
  responses: {
    200: { description: 'The images, in order (with `best_of`, best first).', content: { 'application/json': { schema: imagesResponseSchema } } },
    ...errorResponses(400, 401, 403, 409, 413, 429),
    ...jobFailureResponses,
  },
});

export const editsRoute = createRoute({
  method: 'post',
  path: '/v1/images/edits',
  tags,
  security,
  summary: 'Edit images (OpenAI Images API)',
  description: 'Stores the uploads, queues an edit job (mask: transparent pixels are repainted) and answers with its images.',
  request: { headers: idempotencyHeader, body: { required: true, content: { 'multipart/form-data': { schema: editRequestSchema } } } },
  responses: {
    200: { description: 'The images, in order (with `best_of`, best first).', content: { 'application/json': { schema: imagesResponseSchema } } },
    ...errorResponses(400, 401, 403, 409, 413, 429),
    ...jobFailureResponses,
  },
});

export const modelsRoute = createRoute({
  method: 'get',
  path: '/v1/models',
  tags,
  security,
  summary: 'List the models this server serves (OpenAI Models API)',
  responses: { 200: { description: 'The models.', content: { 'application/json': { schema: modelListSchema } } }, ...errorResponses(401, 403, 429) },
});

export const modelRoute = createRoute({
  method: 'get',
  path: '/v1/models/{id}',
  tags,
  security,
  summary: 'One model this server serves (OpenAI Models API)',
  request: { params: z.object({ id: z.string().min(1).openapi({ param: { name: 'id', in: 'path' }, example: 'local:sd-turbo' }) }) },
  responses: { 200: { description: 'The model.', content: { 'application/json': { schema: modelSchema } } }, ...errorResponses(401, 403, 404, 429) },
});
