// GET /v1/records and /v1/records/{id}: the images made, filtered and paged, scoped to the caller's key (an admin key sees all).
import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import { ownerScope, type HttpAppOptions, type HttpEnv } from './http-env.js';
import { HttpError } from './http-error.js';
import { errorResponses, idParamsSchema, imageRecordSchema, recordPageSchema, recordQuerySchema } from './http-schemas.js';

const bearer = [{ bearer: [] }];

export function registerRecordRoutes(app: OpenAPIHono<HttpEnv>, { service }: HttpAppOptions): void {
  const listRoute = createRoute({
    method: 'get',
    path: '/v1/records',
    summary: 'Records of generated images, newest first.',
    security: bearer,
    request: { query: recordQuerySchema },
    responses: { 200: { description: 'One page; pass `next_cursor` as `cursor` for the next.', content: { 'application/json': { schema: recordPageSchema } } }, ...errorResponses(400, 401, 403, 429) },
  });

  app.openapi(listRoute, async (context) => {
    const query = context.req.valid('query');
    const since = query.since === undefined ? undefined : new Date(query.since);
    const until = query.until === undefined ? undefined : new Date(query.until);
    if (since && until && since > until) {
      throw new HttpError(400, { message: `\`since\` (${query.since}) must not be after \`until\` (${query.until})`, type: 'invalid_request_error', param: 'since', code: 'invalid_argument' });
    }
    const page = await service.listRecords({
      apiKeyId: ownerScope(context.var.apiKey),
      jobId: query.job_id,
      provider: query.provider,
      model: query.model,
      prompt: query.prompt,
      since,
      until,
      limit: query.limit,
      cursor: query.cursor,
    });
    return context.json({ data: page.records, next_cursor: page.nextCursor ?? null }, 200);
  });

  const getRoute = createRoute({
    method: 'get',
    path: '/v1/records/{id}',
    summary: 'One record: the settings, seed, model and blob of one image.',
    security: bearer,
    request: { params: idParamsSchema },
    responses: { 200: { description: 'The record.', content: { 'application/json': { schema: imageRecordSchema } } }, ...errorResponses(401, 403, 404, 429) },
  });

  app.openapi(getRoute, async (context) => {
    const { id } = context.req.valid('param');
    const record = await service.getRecord(id, { apiKeyId: ownerScope(context.var.apiKey) });
    if (!record) throw new HttpError(404, { message: `no record ${JSON.stringify(id)} exists (or it belongs to another API key)`, type: 'not_found_error', param: 'id', code: 'record_not_found' });
    return context.json(record, 200);
  });
}
