// The admin socket's own routes: API keys, records, reproduction and the model catalog, for `pixelpipe keys|history|reproduce|models list` beside a running server.
import { Hono } from 'hono';
import { z } from 'zod';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import type { ServiceAdmin } from '../../service/admin/service-admin.js';
import { bytesReplacer, bytesReviver } from '../../service/admin/wire-bytes.js';
import type { GenerationToRecord } from '../../service/generation/image-recording.js';
import type { RecordFilter } from '../../service/image-service-types.js';
import type { AuditFilter } from '../../service/safety/audit-log.js';
import type { PolicySetting } from '../../service/safety/moderation-policy.js';
import { sendError } from './http-error.js';

const createKeySchema = z.strictObject({
  name: z.string(),
  rateLimitPerMinute: z.number().int().optional(),
  dailyImageQuota: z.number().int().optional(),
  maxConcurrentJobs: z.number().int().optional(),
  admin: z.boolean().optional(),
  // Checked by the key store, which names each field of a bad one.
  moderationPolicy: z.custom<PolicySetting>().optional(),
});

function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const field = issue.path.join('.') || 'body';
  throw new InvalidArgumentError({ argument: field, value: body, message: `\`${field}\` ${issue.message}` });
}

function jsonOf(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new InvalidArgumentError({ argument: 'body', value: text.slice(0, 100), message: `the body must be JSON: ${(error as Error).message}`, cause: error });
  }
}

const dateOf = (value: string | undefined) => (value === undefined ? undefined : new Date(value));

/**
 * Routes only the admin socket serves; its file permissions are their authentication, so they
 * never sit on the public port. Bodies and answers are JSON; errors use the API's one error shape.
 */
export function createAdminRoutes(admin: ServiceAdmin, describe: () => Record<string, unknown>): Hono {
  const app = new Hono();
  app.onError((error, context) => sendError(context, error));
  app.get('/admin/info', (context) => context.json(describe()));
  app.get('/admin/keys', async (context) => context.json(await admin.listKeys({ includeRevoked: context.req.query('all') === 'true' })));
  app.post('/admin/keys', async (context) => context.json(await admin.createKey(parseBody(createKeySchema, await context.req.json())), 201));
  app.post('/admin/keys/revoke', async (context) => {
    const { idOrPrefix } = parseBody(z.strictObject({ idOrPrefix: z.string().min(1) }), await context.req.json());
    return context.json(await admin.revokeKey(idOrPrefix));
  });
  app.post('/admin/records/list', async (context) => {
    const filter = parseBody(z.record(z.string(), z.unknown()), await context.req.json()) as RecordFilter & { since?: string; until?: string };
    return context.json(await admin.listRecords({ ...filter, since: dateOf(filter.since), until: dateOf(filter.until) }));
  });
  app.post('/admin/audit/list', async (context) => {
    const filter = parseBody(z.record(z.string(), z.unknown()), await context.req.json()) as AuditFilter & { since?: string };
    return context.json(await admin.listAudit({ ...filter, since: dateOf(filter.since) }));
  });
  app.get('/admin/models', async (context) => context.json(await admin.listModels()));
  // A generation `pixelpipe generate` made itself; its bytes travel as base64 (see wire-bytes.ts).
  app.post('/admin/generations', async (context) => {
    const generation = JSON.parse(await context.req.text(), bytesReviver) as GenerationToRecord;
    return new Response(JSON.stringify(await admin.recordGeneration(generation), bytesReplacer), { status: 201, headers: { 'content-type': 'application/json' } });
  });
  app.post('/admin/records/:id/reproduce', async (context) => {
    // An empty body (older clients) reproduces with the record's own model.
    const text = await context.req.text();
    const options = parseBody(z.strictObject({ model: z.string().min(1).optional() }), text === '' ? {} : jsonOf(text));
    const report = await admin.reproduce(context.req.param('id'), options);
    return context.json({ ...report, image: { mediaType: report.image.mediaType, base64: Buffer.from(report.image.bytes).toString('base64') } });
  });
  return app;
}
