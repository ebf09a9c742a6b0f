// What `pixelpipe build` needs from whatever generates its images: the embedded service in this process, or a running server.
import { PixelpipeError } from '../../spec/errors/pixelpipe-error.js';
import type { ImageRecord, JobView } from '../image-service-types.js';

/** A model as a build sees it: what its key names and what its size rule is. */
export interface BuildModel {
  /** The reference the spec gave (a folder relative to the project, an alias, `PROVIDER:MODEL` or a comma fallback list); empty for the backend's default model. */
  reference: string;
  /** What identifies the weights: `sha256:<hex>` of a local model's UNet; a hosted model's id (no hash exists). */
  hash?: string;
  /** True when every model of the list is hosted: no local size rule applies. */
  hosted: boolean;
  /** A local model's size rule and native size, from its configs (the first local model of a fallback list). */
  sizeMultiple?: number;
  defaultSize?: { width: number; height: number };
}

/** One image a job made, as the build keeps it. */
export interface BuildRecord {
  id: string;
  /** The candidate's place among those the job generated (0-based). */
  imageIndex: number;
  seed?: string;
  /** Hex SHA-256 of the stored (finished) file. */
  sha256: string;
  /** Hex SHA-256 of the model's pixels (what a rebuild makes again). */
  pixelSha256?: string;
  mediaType: string;
  width: number;
  height: number;
  blobKey: string;
  provider: string;
  modelId: string;
  modelHash?: string;
  ranking?: { ranker: string; score: number; rank: number; chosen: boolean; reason?: string };
}

/** A finished job: the chosen image and the candidates it beat. */
export interface BuildJobResult {
  chosen: BuildRecord;
  /** In rank order. */
  rejected: BuildRecord[];
  /** Time the job ran (queue wait excluded), when the backend knows it. */
  generationMs?: number;
}

export interface BuildBackend {
  /** `embedded`, or the server's URL. */
  readonly name: string;
  /** The model a spec names, without generating anything (a local model not cached yet is pulled by the embedded backend). */
  model(reference: string | undefined): Promise<BuildModel>;
  /** SHA-256 of each named LoRA in the backend's LoRA folder; a name it does not have is left out. */
  loraHashes(names: string[]): Promise<Record<string, string>>;
  /** SHA-256 of each named ControlNet in the backend's ControlNet folder; a name it does not have is left out. */
  controlNetHashes(names: string[]): Promise<Record<string, string>>;
  /** Ranker names this backend provides, when it can say; a build checks specs against them before it starts. */
  rankers(): Promise<string[] | undefined>;
  /** Submits one job (a native `/v1/jobs` request) and waits for it; throws the job's error when it fails. */
  generate(request: Record<string, unknown>, options: { signal?: AbortSignal; moderationPolicy?: string }): Promise<BuildJobResult>;
  /** The stored bytes of a record's image. */
  read(record: BuildRecord): Promise<Uint8Array>;
  close(): Promise<void>;
}

/** A job that ended without images, with the service's error code and message. */
export class BuildJobError extends PixelpipeError {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super({ name: 'BuildJobError', message });
  }
}

export function toBuildRecord(record: ImageRecord): BuildRecord {
  const { id, imageIndex, seed, sha256, pixelSha256, mediaType, width, height, blobKey, provider, modelId, modelHash, ranking } = record;
  return {
    id, imageIndex, seed, sha256, pixelSha256, mediaType, width, height, blobKey, provider, modelId, modelHash,
    ...(ranking && { ranking: { ranker: ranking.ranker, score: ranking.score, rank: ranking.rank, chosen: ranking.chosen, ...(ranking.reason !== undefined && { reason: ranking.reason }) } }),
  };
}

/** The outcome of a finished job, or its error. */
export function jobResult(job: JobView): { chosen: BuildRecord; rejected: BuildRecord[]; generationMs?: number } {
  if (job.state !== 'succeeded' || job.records.length === 0) {
    throw new BuildJobError(job.error?.code ?? job.state, job.error?.message ?? `the job ended ${job.state} without an image`);
  }
  const generationMs = job.startedAt && job.finishedAt ? Date.parse(job.finishedAt) - Date.parse(job.startedAt) : undefined;
  return { chosen: toBuildRecord(job.records[0]!), rejected: (job.rejected ?? []).map(toBuildRecord), ...(generationMs !== undefined && { generationMs }) };
}

/** The named entries' SHA-256 from a folder listing; names it lacks are left out. */
export function hashesOf(listed: readonly { name: string; sha256: string }[], names: readonly string[]): Record<string, string> {
  return Object.fromEntries(listed.filter(({ name }) => names.includes(name)).map(({ name, sha256 }) => [name, sha256]));
}
