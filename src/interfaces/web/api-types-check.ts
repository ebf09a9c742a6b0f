// Compile-time proof that the web UI's API types (app/api-types.ts) match the server's zod schemas: `npm run typecheck`
// fails when a schema drops or changes a field the UI reads, or stops accepting a field the UI sends. Nothing runs.
import type { z } from '@hono/zod-openapi';
import type { JobEventType } from '../../service/image-service-types.js';
import type { errorSchema, imageRecordSchema, jobSubmitSchema, jobViewSchema, recordPageSchema } from '../http/http-schemas.js';
import type { modelListSchema } from '../http/openai-schemas.js';
import type * as Ui from './app/api-types.js';

/** Compiles only when `Actual` can be used where `Expected` is. */
type Assignable<Actual extends Expected, Expected> = [Actual, Expected];
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;

export type ApiTypeChecks = [
  // What the server answers has every field the UI reads, with the type it expects.
  Assignable<z.output<typeof imageRecordSchema>, Ui.ImageRecord>,
  Assignable<z.output<typeof jobViewSchema>, Ui.JobView>,
  Assignable<z.output<typeof recordPageSchema>, Ui.RecordPage>,
  Assignable<z.output<typeof modelListSchema>, Ui.ModelList>,
  Assignable<z.output<typeof errorSchema>, Ui.ApiErrorBody>,
  // What the UI sends is a body the server accepts.
  Assignable<Ui.JobSubmit, z.input<ReturnType<typeof jobSubmitSchema>>>,
  Assignable<Same<Ui.JobEventName, JobEventType>, true>,
];
