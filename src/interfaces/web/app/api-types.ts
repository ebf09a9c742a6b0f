// The API's types as the UI reads and writes them: the fields it uses, no more. They hold no DOM or Node types, so
// ../api-types-check.ts (in the server's type check) proves the server's zod schemas still give and accept exactly this.
/** The body of `POST /v1/jobs` the UI sends. */
export interface JobSubmit {
  prompt: string;
  model?: string;
  negativePrompt?: string;
  width?: number;
  height?: number;
  steps?: number;
  guidance?: number;
  sampler?: string;
  decoder?: 'full' | 'fast';
  seed?: string | number;
  n?: number;
  bestOf?: number;
  rankBy?: string;
  previews?: boolean;
  /** Edits: the input image (inline as a data URL, or a stored blob), the mask (white repaints), and how far the input changes. */
  images?: ({ b64_json: string } | { blobKey: string })[];
  mask?: { b64_json: string };
  maskConvention?: 'luminance' | 'alpha';
  strength?: number;
  /** Outpainting: pixels added on each side. */
  extend?: { top?: number; right?: number; bottom?: number; left?: number };
  /** The record an edit starts from, so the result links back to it. */
  parentRecordId?: string;
}

/** A record's `request`: what was asked. */
export interface RecordRequest {
  model?: string;
  prompt: string;
  negativePrompt?: string;
  n: number;
  steps?: number;
  guidance?: number;
  sampler?: string;
  bestOf?: number;
  loras?: { name: string; scale?: number }[];
}

/** One stored image and how it was made (`GET /v1/records/{id}`). */
export interface ImageRecord {
  id: string;
  jobId?: string;
  /** The record an edit started from. */
  parentId?: string;
  imageIndex: number;
  createdAt: string;
  request: RecordRequest;
  settings: Record<string, unknown>;
  provider: string;
  modelId: string;
  modelHash?: string;
  seed?: string;
  revisedPrompt?: string;
  warnings: { type: string; setting?: string; details?: string; message?: string }[];
  blobKey: string;
  sha256: string;
  /** SHA-256 of the pixels the model made, before watermark and signature: what reproducing compares. */
  pixelSha256?: string;
  mediaType: string;
  width: number;
  height: number;
  provenance?: { c2pa: 'signed' | 'unsigned'; signer?: string; watermark?: string; moderation?: Record<string, unknown> };
  ranking?: { ranker: string; score: number; rank: number; chosen: boolean; candidates: number };
}

/** A job (`POST /v1/jobs`, `GET`/`DELETE /v1/jobs/{id}`). */
export interface JobView {
  id: string;
  state: 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
  position?: number;
  request: RecordRequest;
  records: ImageRecord[];
}

/** `GET /v1/records`. */
export interface RecordPage {
  data: ImageRecord[];
  next_cursor: string | null;
}

export interface ModelCapabilities {
  operations: ('text-to-image' | 'image-to-image' | 'inpaint' | 'outpaint')[];
  sizeMultiple: number;
  defaultSize: { width: number; height: number };
  defaultSteps: number;
  defaultGuidance: number;
  samplers: string[];
  decoders: ('full' | 'fast')[];
}

/** One entry of `GET /v1/models`. */
export interface Model {
  id: string;
  owned_by: string;
  pixelpipe?: { capabilities: ModelCapabilities };
}

export interface ModelList {
  data: Model[];
}

/** The one error body. */
export interface ApiErrorBody {
  error: { message: string; type: string; param: string | null; code: string };
}

/** The `event:` names of a job's event stream. */
export type JobEventName = 'queued' | 'position' | 'running' | 'step' | 'done' | 'error' | 'cancelled';

/** `data:` of a `step` event (docs/http-api.md). */
export interface StepEventData {
  imageIndex: number;
  step: number;
  steps: number;
  elapsedMs: number;
  preview?: { mediaType: string; width: number; height: number; base64: string };
}
