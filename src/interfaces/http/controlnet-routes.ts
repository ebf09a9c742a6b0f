// GET /v1/controlnets: the ControlNets a request may name in `controls[].controlnet`.
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { HttpAppOptions, HttpEnv } from './http-env.js';
import { errorResponses } from './http-schemas.js';

const controlNetListSchema = z
  .object({
    data: z.array(
      z.object({
        name: z.string().openapi({ example: 'canny-sd15' }),
        baseFamily: z.enum(['SD 1.x/2.x', 'SDXL']).openapi({ description: 'The base its config.json says it was trained for; pixelpipe runs SD 1.x/2.x ControlNets.' }),
        bytes: z.number().openapi({ description: 'Of its graph and external data.' }),
        sha256: z.string().openapi({ description: "Of its graph and external data, as records' settings.controls name it." }),
      }),
    ),
  })
  .openapi('ControlNetList');

const listRoute = createRoute({
  method: 'get',
  path: '/v1/controlnets',
  summary: "The ControlNets in this server's ControlNet folder (PIXELPIPE_CONTROLNET_DIR), for `controls` on local SD 1.x/2.x models.",
  security: [{ bearer: [] }],
  responses: { 200: { description: 'Sorted by name; empty when the folder has none.', content: { 'application/json': { schema: controlNetListSchema } } }, ...errorResponses(401, 403, 429) },
});

export function registerControlNetRoutes(app: OpenAPIHono<HttpEnv>, { service }: HttpAppOptions): void {
  app.openapi(listRoute, async (context) => context.json({ data: await service.listControlNets() }, 200));
}
