// GET /v1/audit: the moderation audit log, newest first, for admin API keys only.
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { auditActions } from '../../service/safety/audit-log.js';
import type { HttpAppOptions, HttpEnv } from './http-env.js';
import { HttpError } from './http-error.js';
import { errorResponses, errorSchema } from './http-schemas.js';

const auditQuerySchema = z.strictObject({
  since: z
    .string()
    .refine((text) => /^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(text) && !Number.isNaN(Date.parse(text)), 'must be an ISO 8601 date or time such as 2030-01-31 or 2030-01-31T12:00:00Z')
    .optional()
    .openapi({ description: 'ISO 8601 date or time; decisions made at or after it.' }),
  action: z.enum(auditActions).optional().openapi({ description: 'Only decisions with this action.' }),
  limit: z.coerce.number().int().min(1).max(1000).optional().openapi({ type: 'integer', description: '1 to 1000; default 100.' }),
  cursor: z.string().regex(/^[1-9]\d{0,18}$/, 'must be the `next_cursor` of a previous page').optional().openapi({ description: '`next_cursor` of the previous page.' }),
});

const auditEntrySchema = z
  .object({
    id: z.string(),
    createdAt: z.string(),
    stage: z.enum(['prompt', 'image', 'provider']),
    action: z.enum(auditActions),
    apiKeyId: z.string().optional(),
    jobId: z.string().optional(),
    recordId: z.string().optional(),
    policy: z.string().optional().openapi({ description: 'The moderation policy that decided (`off` when off).' }),
    rule: z.string().optional().openapi({ description: 'The policy rule, e.g. `terms.block`, `categories.sexual`, `image.classes.Porn`.' }),
    classifier: z.string().optional().openapi({ description: 'The classifier asked, e.g. `nsfwjs:mobilenet_v2`.' }),
    category: z.string().optional(),
    scores: z.record(z.string(), z.number()).optional(),
    details: z.record(z.string(), z.unknown()).optional(),
  })
  .openapi('AuditEntry');

const auditRoute = createRoute({
  method: 'get',
  path: '/v1/audit',
  summary: 'Moderation decisions on prompts and images, newest first (admin keys).',
  security: [{ bearer: [] }],
  request: { query: auditQuerySchema },
  responses: {
    200: { description: 'One page; pass `next_cursor` as `cursor` for the next.', content: { 'application/json': { schema: z.object({ data: z.array(auditEntrySchema), next_cursor: z.string().nullable() }).openapi('AuditPage') } } },
    ...errorResponses(400, 401, 429),
    403: { description: 'The key is no admin key (`admin_key_required`), or was revoked.', content: { 'application/json': { schema: errorSchema } } },
  },
});

export function registerAuditRoutes(app: OpenAPIHono<HttpEnv>, { service, trusted = false }: HttpAppOptions): void {
  app.openapi(auditRoute, async (context) => {
    if (!trusted && !context.var.apiKey?.admin) {
      const who = context.var.apiKey ? `the API key ${context.var.apiKey.prefix}… is no admin key` : 'this request has no API key';
      const message = `the audit log needs an admin API key, and ${who}; the operator makes one with \`pixelpipe keys create --name NAME --admin\`, or reads the log with \`pixelpipe audit\``;
      throw new HttpError(403, { message, type: 'permission_error', param: 'Authorization', code: 'admin_key_required' });
    }
    const query = context.req.valid('query');
    const page = await service.listAudit({
      since: query.since === undefined ? undefined : new Date(query.since),
      action: query.action,
      limit: query.limit,
      cursor: query.cursor,
    });
    return context.json({ data: page.entries, next_cursor: page.nextCursor ?? null }, 200);
  });
}
