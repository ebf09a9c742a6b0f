// GET /v1/rankers: the rankers a best-of-N request may name as `rankBy` (`rank_by` on the OpenAI routes).
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { HttpAppOptions, HttpEnv } from './http-env.js';
import { errorResponses } from './http-schemas.js';

const rankerListSchema = z
  .object({ data: z.array(z.object({ name: z.string().openapi({ example: 'clip' }) })) })
  .openapi('RankerList');

const listRoute = createRoute({
  method: 'get',
  path: '/v1/rankers',
  summary: 'The rankers this server has for best-of-N (`rankBy`, `rank_by`).',
  security: [{ bearer: [] }],
  responses: { 200: { description: 'Their names, sorted; empty when none is configured.', content: { 'application/json': { schema: rankerListSchema } } }, ...errorResponses(401, 403, 429) },
});

export function registerRankerRoutes(app: OpenAPIHono<HttpEnv>, { service }: HttpAppOptions): void {
  app.openapi(listRoute, (context) => context.json({ data: service.rankers().map((name) => ({ name })) }, 200));
}
