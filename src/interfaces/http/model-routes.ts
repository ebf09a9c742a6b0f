// POST /v1/models/pull: an admin API key pulls a hub model into the server's cache, on a server started with --allow-pull.
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { DownloadError } from '../../spec/errors/download-error.js';
import type { HttpAppOptions, HttpEnv } from './http-env.js';
import { HttpError } from './http-error.js';
import { errorSchema } from './http-schemas.js';
import { validationError } from './http-validation.js';

const pullRequestSchema = z
  .strictObject({
    model: z.string().min(1).max(300).openapi({ description: 'A hub repo id, `owner/name` or `owner/name@revision`, or a known-good alias such as `sd-turbo`.', example: 'TensorStack/SD-Turbo-onnx' }),
  })
  .openapi('ModelPullRequest');

const pulledModelSchema = z
  .object({
    id: z.string().openapi({ description: 'Its id in GET /v1/models: what requests name it by.' }),
    repoId: z.string(),
    revision: z.string().openapi({ description: 'The commit pulled.' }),
    license: z.string().optional().openapi({ description: "The licence its model card names." }),
    licenseLink: z.string().optional(),
    downloadedBytes: z.number().int().openapi({ description: '0 when the model was already in the cache.' }),
  })
  .openapi('PulledModel');

const refusal = (description: string) => ({ description, content: { 'application/json': { schema: errorSchema } } });

const pullRoute = createRoute({
  method: 'post',
  path: '/v1/models/pull',
  summary: 'Pull a hub model into the server\'s model cache (admin keys; `serve --allow-pull`).',
  description: 'Answers when the download is done; the model is then in GET /v1/models and usable as `model`. A pull of a model already in the cache downloads nothing.',
  security: [{ bearer: [] }],
  request: { body: { required: true, content: { 'application/json': { schema: pullRequestSchema } } } },
  responses: {
    200: { description: 'Pulled (or already in the cache).', content: { 'application/json': { schema: pulledModelSchema } } },
    400: refusal('`model` is no hub repo id or alias, or the repo is no ONNX export in Optimum\'s layout.'),
    401: refusal('No API key, or an unknown one.'),
    403: refusal('The server was started without `--allow-pull` (`model_pull_disabled`), or the key is no admin key (`admin_key_required`).'),
    404: refusal('The hub has no such repo or revision, or will not show it to this server: gated or private without a token in HF_TOKEN (`model_not_found`).'),
    502: refusal('The hub could not be reached or refused the download (`model_pull_failed`); the message says why.'),
  },
});

export function registerModelRoutes(app: OpenAPIHono<HttpEnv>, { service, trusted = false, allowModelPull = false }: HttpAppOptions): void {
  app.openAPIRegistry.registerPath(pullRoute);

  app.post('/v1/models/pull', async (context) => {
    checkPullAllowed(context, { allowModelPull: allowModelPull && service.pullModel !== undefined, trusted }, 'models', 'pixelpipe models pull ID');
    const body = await readJson(context, '{"model": "owner/name"}');
    const parsed = pullRequestSchema.safeParse(body);
    if (!parsed.success) throw validationError(parsed.error, body);
    try {
      return context.json(await service.pullModel!(parsed.data.model), 200);
    } catch (error) {
      throw DownloadError.isInstance(error) ? pullFailure(error) : error;
    }
  });
}

/**
 * Refuses a pull before its body is read, unless the server was started with --allow-pull and the key is an
 * admin key: a server without the flag never reaches the hub for a client.
 */
export function checkPullAllowed(context: Context<HttpEnv>, { allowModelPull, trusted }: { allowModelPull: boolean; trusted: boolean }, what: string, command: string): void {
  if (!allowModelPull) {
    const message = `pulling ${what} over HTTP is off on this server; its operator can start it with \`pixelpipe serve --allow-pull\` (then admin API keys may pull), or pull on its machine with \`${command}\``;
    throw new HttpError(403, { message, type: 'permission_error', code: 'model_pull_disabled' });
  }
  if (!trusted && !context.var.apiKey?.admin) {
    const who = context.var.apiKey ? `the API key ${context.var.apiKey.prefix}… is no admin key` : 'this request has no API key';
    const message = `pulling ${what} needs an admin API key, and ${who}; the operator makes one with \`pixelpipe keys create --name NAME --admin\`, sent as \`Authorization: Bearer <key>\``;
    throw new HttpError(403, { message, type: 'permission_error', param: 'Authorization', code: 'admin_key_required' });
  }
}

/**
 * The hub's refusal in the one error shape. A repo it does not have, or will not show this server
 * (the hub answers an unknown repo as unauthorized), is a 404 on `model`; the rest is the hub's (502).
 * Each message names the fix.
 */
export function pullFailure(error: DownloadError, param = 'model'): HttpError {
  if (error.reason === 'not-found' || error.reason === 'unauthorized') return new HttpError(404, { message: error.message, type: 'invalid_request_error', param, code: 'model_not_found' });
  return new HttpError(502, { message: error.message, type: 'server_error', code: 'model_pull_failed' });
}

export async function readJson(context: Context<HttpEnv>, example: string): Promise<unknown> {
  const contentType = context.req.header('content-type') ?? '';
  if (!/^application\/([\w.-]+\+)?json\b/i.test(contentType)) {
    throw new HttpError(415, { message: `the body must be JSON: send \`Content-Type: application/json\`, got ${contentType ? JSON.stringify(contentType) : 'none'}`, type: 'invalid_request_error', code: 'unsupported_media_type' });
  }
  try {
    return await context.req.json();
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error;
    throw new HttpError(400, { message: `the body is not valid JSON (${error.message}); send ${example}`, type: 'invalid_request_error', code: 'invalid_json' });
  }
}
