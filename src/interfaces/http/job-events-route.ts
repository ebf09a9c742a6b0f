// GET /v1/jobs/{id}/events: a job's events as server-sent events, resumable with Last-Event-ID or ?after=.
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { streamSSE } from 'hono/streaming';
import { ownerScope, type HttpAppOptions, type HttpEnv } from './http-env.js';
import { HttpError } from './http-error.js';
import { errorResponses, idParamsSchema } from './http-schemas.js';

/** Time between comment pings, so proxies keep an idle stream open. */
const pingIntervalMilliseconds = 15_000;
const endingEvents = new Set(['done', 'error', 'cancelled']);

/** A stream also ends when the client leaves, or when the server closing ends the response (see http-server.ts). */
export function registerJobEventsRoute(app: OpenAPIHono<HttpEnv>, { service }: HttpAppOptions): void {
  const route = createRoute({
    method: 'get',
    path: '/v1/jobs/{id}/events',
    summary: 'The job\'s events as server-sent events; the stream ends after `done`, `error` or `cancelled`.',
    description: 'Each event has `id:` (its sequence), `event:` (its type) and `data:` (JSON of its data plus `jobId`). Resume with `Last-Event-ID` or `?after=<sequence>`.',
    security: [{ bearer: [] }],
    request: {
      params: idParamsSchema,
      query: z.object({ after: z.string().regex(/^\d{1,15}$/, 'must be a whole number ≥ 0 (an event sequence)').optional() }),
      headers: z.object({ 'last-event-id': z.string().regex(/^\d{1,15}$/, 'must be a whole number ≥ 0 (an event sequence)').optional() }),
    },
    responses: {
      200: { description: 'An event stream.', content: { 'text/event-stream': { schema: z.string() } } },
      ...errorResponses(400, 401, 403, 404, 429),
    },
  });

  app.openapi(route, async (context) => {
    const { id } = context.req.valid('param');
    const job = await service.getJob(id, { apiKeyId: ownerScope(context.var.apiKey) });
    if (!job) throw new HttpError(404, { message: `no job ${JSON.stringify(id)} exists (or it belongs to another API key)`, type: 'not_found_error', param: 'id', code: 'job_not_found' });
    // A reconnecting EventSource sends Last-Event-ID; it wins over the query the page was first opened with.
    const after = Number(context.req.valid('header')['last-event-id'] ?? context.req.valid('query').after ?? 0);

    return streamSSE(context, async (stream) => {
      const stop = new AbortController();
      const end = () => stop.abort();
      stream.onAbort(end);
      context.req.raw.signal.addEventListener('abort', end, { once: true });
      const ping = setInterval(() => void stream.write(': ping\n\n'), pingIntervalMilliseconds);
      try {
        for await (const event of service.events(id, { after, signal: stop.signal })) {
          if (stop.signal.aborted) break;
          await stream.writeSSE({ id: String(event.sequence), event: event.type, data: JSON.stringify({ ...event.data, jobId: event.jobId }) });
          if (endingEvents.has(event.type)) break;
        }
      } catch (error) {
        if (!stop.signal.aborted) console.error(`pixelpipe: the event stream of job ${id} failed`, error);
      } finally {
        clearInterval(ping);
        context.req.raw.signal.removeEventListener('abort', end);
        stop.abort();
      }
    });
  });
}
