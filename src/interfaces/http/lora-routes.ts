// GET /v1/loras: the LoRAs a request may name in `loras` (or as `<lora:NAME:SCALE>` in its prompt); POST /v1/loras/pull
// adds one from the hub (admin keys, on a server started with --allow-pull), as POST /v1/models/pull adds a model.
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { HttpAppOptions, HttpEnv } from './http-env.js';
import { isHubRepoId } from '../../service/models/model-cache.js';
import { DownloadError } from '../../spec/errors/download-error.js';
import { errorResponses, errorSchema } from './http-schemas.js';
import { validationError } from './http-validation.js';
import { checkPullAllowed, pullFailure, readJson } from './model-routes.js';

const loraListSchema = z
  .object({
    data: z.array(
      z.object({
        name: z.string().openapi({ example: 'acme_style' }),
        triggerWord: z.string().optional().openapi({ description: 'The word the LoRA was trained on, when it was registered by `pixelpipe lora train`.' }),
        bytes: z.number(),
        sha256: z.string().openapi({ description: 'Of the .safetensors file; records and PNG parameters name the same hash.' }),
      }),
    ),
  })
  .openapi('LoraList');

const listRoute = createRoute({
  method: 'get',
  path: '/v1/loras',
  summary: "The LoRAs in this server's LoRA folder (PIXELPIPE_LORA_DIR), for `loras` on local models.",
  security: [{ bearer: [] }],
  responses: { 200: { description: 'Sorted by name; empty when the folder has none.', content: { 'application/json': { schema: loraListSchema } } }, ...errorResponses(401, 403, 429) },
});

const pullRequestSchema = z
  .strictObject({
    repo: z.string().refine(isHubRepoId, 'must be a hub repository, OWNER/NAME').openapi({ example: 'someone/acme-style-lora' }),
    file: z.string().min(1).max(300).optional().openapi({ description: 'The .safetensors file in the repo; needed when it has several.' }),
    name: z.string().regex(/^[\w][\w.-]{0,99}$/, 'must be letters, digits, _ - and . (no extension)').optional().openapi({ description: "Its name in the LoRA folder; default the repo's name." }),
    revision: z.string().min(1).max(200).optional(),
  })
  .openapi('LoraPullRequest');

const refusal = (description: string) => ({ description, content: { 'application/json': { schema: errorSchema } } });

const pullRoute = createRoute({
  method: 'post',
  path: '/v1/loras/pull',
  summary: "Pull a LoRA from the hub into the server's LoRA folder (admin keys; `serve --allow-pull`).",
  description: 'Answers when it is registered: then in GET /v1/loras and usable in `loras`. See docs/loras.md.',
  security: [{ bearer: [] }],
  request: { body: { required: true, content: { 'application/json': { schema: pullRequestSchema } } } },
  responses: {
    200: { description: 'Registered: the LoRA\'s record (`NAME.json`).', content: { 'application/json': { schema: z.object({ name: z.string(), triggerWord: z.string().optional(), source: z.record(z.string(), z.unknown()), weights: z.record(z.string(), z.unknown()) }).openapi('PulledLora') } } },
    400: refusal('The repo has no single .safetensors file, its file is no LoRA pixelpipe merges or is a full model, or the name is taken.'),
    401: refusal('No API key, or an unknown one.'),
    403: refusal('The server was started without `--allow-pull` (`model_pull_disabled`), or the key is no admin key (`admin_key_required`).'),
    404: refusal('The hub has no such repo or revision, or will not show it to this server (`model_not_found`).'),
    502: refusal('The hub could not be reached or refused the download (`model_pull_failed`).'),
  },
});

export function registerLoraRoutes(app: OpenAPIHono<HttpEnv>, { service, trusted = false, allowModelPull = false }: HttpAppOptions): void {
  app.openapi(listRoute, async (context) => context.json({ data: (await service.listLoras()).map(({ name, triggerWord, bytes, sha256 }) => ({ name, ...(triggerWord ? { triggerWord } : {}), bytes, sha256 })) }, 200));

  app.openAPIRegistry.registerPath(pullRoute);
  app.post('/v1/loras/pull', async (context) => {
    checkPullAllowed(context, { allowModelPull, trusted }, 'LoRAs', 'pixelpipe lora pull OWNER/NAME');
    const body = await readJson(context, '{"repo": "owner/name"}');
    const parsed = pullRequestSchema.safeParse(body);
    if (!parsed.success) throw validationError(parsed.error, body);
    try {
      return context.json(await service.pullLora(parsed.data), 200);
    } catch (error) {
      throw DownloadError.isInstance(error) ? pullFailure(error, 'repo') : error;
    }
  });
}
