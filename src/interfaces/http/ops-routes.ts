// /healthz, /readyz and /metrics: for orchestrators and Prometheus; no API key needed.
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { HttpAppOptions, HttpEnv } from './http-env.js';
import { HttpError } from './http-error.js';
import { errorSchema } from './http-schemas.js';

const workerProcessesSchema = z
  .object({
    isolation: z.enum(['process', 'in-process']),
    processes: z.array(z.object({ slot: z.number().int(), pid: z.number().int().optional(), state: z.enum(['starting', 'idle', 'busy', 'restarting', 'stopped']), restarts: z.number().int(), lastExit: z.string().optional() })),
    crashes: z.number().int(),
  })
  .openapi({ description: 'The supervisor\'s view of this server\'s worker processes: each one\'s state and restarts, and how the last one of each slot died.' });

export function registerOpsRoutes(app: OpenAPIHono<HttpEnv>, { service }: HttpAppOptions): void {
  const healthRoute = createRoute({
    method: 'get',
    path: '/healthz',
    summary: 'Liveness: 200 while the process runs.',
    responses: { 200: { description: 'Alive.', content: { 'application/json': { schema: z.object({ status: z.literal('ok') }) } } } },
  });
  app.openapi(healthRoute, (context) => context.json({ status: 'ok' as const }, 200));

  const readyRoute = createRoute({
    method: 'get',
    path: '/readyz',
    summary: 'Readiness: 200 when the database and blob store answer, else 503 saying which failed.',
    responses: {
      200: { description: 'Ready.', content: { 'application/json': { schema: z.object({ status: z.literal('ready'), database: z.boolean(), storage: z.boolean(), workers: z.number().int(), workerProcesses: workerProcessesSchema.optional() }) } } },
      503: { description: 'Not ready; `checks` says which part failed.', content: { 'application/json': { schema: errorSchema.extend({ checks: z.object({ database: z.boolean(), storage: z.boolean() }) }) } } },
    },
  });
  app.openapi(readyRoute, async (context) => {
    const health = await service.health().catch(() => ({ database: false, storage: false, workers: 0 }));
    if (health.database && health.storage) return context.json({ status: 'ready' as const, ...health }, 200);
    const failed = [health.database ? undefined : 'the database', health.storage ? undefined : 'the blob store'].filter(Boolean).join(' and ');
    const error = new HttpError(503, { message: `${failed} did not answer; check its connection settings and that it runs`, type: 'server_error', code: 'not_ready' });
    return context.json({ ...error.body, checks: { database: health.database, storage: health.storage } }, 503);
  });

  const metricsRoute = createRoute({
    method: 'get',
    path: '/metrics',
    summary: 'Prometheus metrics: queue depth, job latency, time per stage.',
    responses: { 200: { description: 'Text exposition format 0.0.4.', content: { 'text/plain': { schema: z.string() } } } },
  });
  app.openapi(metricsRoute, async (context) => {
    const text = await service.metrics();
    return context.text(text, 200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' });
  });
}
