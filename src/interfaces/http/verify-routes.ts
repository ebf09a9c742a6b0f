// POST /v1/verify: what an image says about where it came from (C2PA manifest, watermark, embedded record).
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { HonoRequest } from 'hono';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { ownerScope, type HttpAppOptions, type HttpEnv } from './http-env.js';
import { HttpError } from './http-error.js';
import { errorResponses } from './http-schemas.js';

const stepSchema = z.object({
  signer: z.string().optional(),
  claimGenerator: z.string().optional(),
  actions: z.array(z.object({ action: z.string(), softwareAgent: z.string().optional(), digitalSourceType: z.string().optional() })),
  ingredients: z.array(z.record(z.string(), z.unknown())),
  record: z.object({ recordId: z.string(), settings: z.record(z.string(), z.unknown()) }).optional(),
});

const verificationSchema = z
  .object({
    mediaType: z.string(),
    width: z.number().int(),
    height: z.number().int(),
    c2pa: stepSchema.extend({ state: z.enum(['valid', 'invalid', 'absent']), trusted: z.boolean(), errors: z.array(z.string()) }),
    watermark: z.object({ found: z.boolean(), payload: z.string().optional(), records: z.array(z.object({ id: z.string(), createdAt: z.string() })).optional() }),
    record: z.record(z.string(), z.unknown()).optional(),
  })
  .openapi('Verification');

const verifyRoute = createRoute({
  method: 'post',
  path: '/v1/verify',
  summary: 'Reads an image\'s C2PA manifest, watermark and embedded record, and finds the record its watermark names.',
  description: 'The body is the image itself (`Content-Type: image/png`, `image/jpeg` or `image/webp`), or multipart/form-data with the image in the `image` field. Records found through the watermark are the caller\'s own, or any for an admin key.',
  security: [{ bearer: [] }],
  responses: { 200: { description: 'What the image carries.', content: { 'application/json': { schema: verificationSchema } } }, ...errorResponses(400, 401, 403, 413, 415, 429) },
});

// The image from either body form; anything else is a 415 that says what to send.
// Read through Hono's request, whose body cache the body limit may already have filled.
async function imageOf(request: HonoRequest): Promise<Uint8Array> {
  const contentType = request.header('content-type') ?? '';
  if (/^image\/(png|jpeg|webp)\b/i.test(contentType)) return new Uint8Array(await request.arrayBuffer());
  if (/^multipart\/form-data\b/i.test(contentType)) {
    const image = (await request.formData().catch(() => undefined))?.get('image');
    if (image instanceof File) return new Uint8Array(await image.arrayBuffer());
    throw new HttpError(400, { message: 'the multipart body needs the image as a file in the `image` field', type: 'invalid_request_error', param: 'image', code: 'missing_image' });
  }
  throw new HttpError(415, { message: `send the image itself with Content-Type image/png, image/jpeg or image/webp, or multipart/form-data with an \`image\` field; got ${contentType ? JSON.stringify(contentType) : 'no Content-Type'}`, type: 'invalid_request_error', code: 'unsupported_media_type' });
}

export function registerVerifyRoutes(app: OpenAPIHono<HttpEnv>, { service }: HttpAppOptions): void {
  app.openapi(verifyRoute, async (context) => {
    const bytes = await imageOf(context.req);
    const key = context.var.apiKey;
    try {
      return context.json(await service.verifyImage(bytes, { apiKeyId: ownerScope(key) }), 200);
    } catch (error) {
      if (!InvalidArgumentError.isInstance(error)) throw error;
      throw new HttpError(400, { message: error.message.replace(/^image /, 'the body '), type: 'invalid_request_error', param: 'image', code: 'invalid_image' });
    }
  });
}
