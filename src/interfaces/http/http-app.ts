// The HTTP app of `pixelpipe serve`: middleware, the native and OpenAI-compatible routes, one error shape, /openapi.json.
import { randomUUID } from 'node:crypto';
import { OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { registerAuditRoutes } from './audit-routes.js';
import { nodeBodyLimit } from './body-limit.js';
import { registerBlobRoutes } from './blob-routes.js';
import { apiKeyAuth } from './http-auth.js';
import type { HttpAppOptions, HttpEnv } from './http-env.js';
import { HttpError, sendError, toHttpError } from './http-error.js';
import { bodyTooLarge, fromHttpException, validationHook } from './http-validation.js';
import { registerJobEventsRoute } from './job-events-route.js';
import { registerJobRoutes } from './job-routes.js';
import { registerModelRoutes } from './model-routes.js';
import { registerOpenAiRoutes } from './openai-routes.js';
import { registerOpsRoutes } from './ops-routes.js';
import { registerRankerRoutes } from './ranker-routes.js';
import { registerControlNetRoutes } from './controlnet-routes.js';
import { registerLoraRoutes } from './lora-routes.js';
import { registerRecordRoutes } from './record-routes.js';
import { registerVerifyRoutes } from './verify-routes.js';
import { registerWebRoutes } from './web-routes.js';

const requestIdPattern = /^[\w.:-]{1,128}$/;

/** Builds the app; it holds no state of its own beyond a short cache of whether API keys exist. */
export function createHttpApp(options: HttpAppOptions): OpenAPIHono<HttpEnv> {
  const { service } = options;
  const app = new OpenAPIHono<HttpEnv>({ defaultHook: validationHook });

  // A caller's own request id is kept, so its logs and ours line up.
  app.use('*', async (context, next) => {
    const given = context.req.header('x-request-id');
    context.header('X-Request-Id', given && requestIdPattern.test(given) ? given : randomUUID());
    await next();
  });
  const refuseBody = (context: Context) => {
    // The rest of the body may still be on its way; the connection cannot carry another request.
    context.header('Connection', 'close');
    return sendError(context, bodyTooLarge(service.limits.maxBodyBytes));
  };
  app.use('*', nodeBodyLimit({ maxSize: service.limits.maxBodyBytes, onError: refuseBody }));
  if (!options.trusted) app.use('/v1/*', apiKeyAuth(options));
  else app.use('/v1/*', async (context, next) => (context.set('apiKey', undefined), next()));

  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', { type: 'http', scheme: 'bearer', description: 'An API key from `pixelpipe keys create`; needed only once a key exists.' });
  registerJobRoutes(app, options);
  registerJobEventsRoute(app, options);
  registerRecordRoutes(app, options);
  registerBlobRoutes(app, options);
  registerOpsRoutes(app, options);
  registerOpenAiRoutes(app, options);
  registerModelRoutes(app, options);
  registerRankerRoutes(app, options);
  registerLoraRoutes(app, options);
  registerControlNetRoutes(app, options);
  registerAuditRoutes(app, options);
  registerVerifyRoutes(app, options);
  app.doc('/openapi.json', {
    openapi: '3.0.0',
    info: { title: 'pixelpipe', version: '1', description: 'Self-hosted image generation: native jobs API and OpenAI-compatible image routes. Errors are `{ "error": { message, type, param, code } }`.' },
  });

  // Last, so every API route above keeps priority over the web UI's client-side routes.
  registerWebRoutes(app, options);

  app.notFound((context) =>
    sendError(context, new HttpError(404, { message: `no route ${context.req.method} ${context.req.path}; see /openapi.json for the routes`, type: 'not_found_error', code: 'route_not_found' })),
  );
  app.onError((error, context) => {
    if (error instanceof HTTPException) return sendError(context, fromHttpException(error));
    const httpError = toHttpError(error);
    // Failed jobs answered as 502/504 are expected outcomes; only errors nobody mapped are logged with
    // their stack. A client that hung up while its request waited is no server error: nobody reads the answer.
    if (httpError.body.error.code === 'internal_error' && !context.req.raw.signal.aborted) console.error(`pixelpipe: ${context.req.method} ${context.req.path} failed`, error);
    return sendError(context, httpError);
  });
  return app;
}
