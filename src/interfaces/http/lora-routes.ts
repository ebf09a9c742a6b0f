// GET /v1/loras: the LoRAs a request may name in `loras` (or as `<lora:NAME:SCALE>` in its prompt).
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { HttpAppOptions, HttpEnv } from './http-env.js';
import { errorResponses } from './http-schemas.js';

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

export function registerLoraRoutes(app: OpenAPIHono<HttpEnv>, { service }: HttpAppOptions): void {
  app.openapi(listRoute, async (context) => context.json({ data: (await service.listLoras()).map(({ name, triggerWord, bytes, sha256 }) => ({ name, ...(triggerWord ? { triggerWord } : {}), bytes, sha256 })) }, 200));
}
