import type { HiresFixRequest, SpecControl } from '../specs/project-types.js';
// The shapes `pixelpipe build` passes between its stages: resolved outputs (from spec files), lockfile entries and the build report.

/** How one output picks among its candidates. */
export interface RankerChoice {
  /** `clip`, `aesthetic`, `vlm`, or the name of a custom ranker given to the library. */
  type: string;
  /** What the `vlm` judge scores by (the spec's rubric); templated like the prompt. */
  rubric?: string;
  /** `fast`: rank fast decodes of the candidates, write the winner decoded by the full VAE (the request's `rankDecoder`). */
  decoder?: 'fast';
}

/** What is done to the chosen image before it is written. */
export interface OutputFinish {
  /** The exact size of the written file; absent when the spec gave only an aspect ratio (the file keeps the generated size). */
  width?: number;
  height?: number;
  /** How the generated image is brought to that size (sharp's `fit`). Default `cover` (crop the overflow). */
  fit: 'cover' | 'contain' | 'fill';
  format: 'png' | 'webp' | 'jpeg';
  /** 1–100 for webp and jpeg. */
  quality?: number;
  /** Upscaling method when the target is larger than the generated image. */
  upscale?: 'lanczos' | 'esrgan';
}

/** One output of a build, after the matrix, data rows and templates were resolved. */
export interface ResolvedOutput {
  /** Where it is written, relative to the project folder, with `/` separators: `out/de-DE/shoe-1200x628.webp`. */
  path: string;
  /** The spec's name, and the file (relative to the project folder) that defined it. */
  spec: string;
  specFile: string;
  /** 1-based line of the spec in `specFile`, for error messages and reports. */
  line?: number;
  /** Every variable bound for this output (matrix, data row, `size`), as strings. */
  variables: Record<string, string>;
  /** What is asked of the model. `width`/`height` absent: the build picks the model's native size for the target's aspect ratio. */
  request: {
    /** A model or a comma fallback list; the project's default when absent. */
    model?: string;
    prompt: string;
    negativePrompt?: string;
    width?: number;
    height?: number;
    /** `16:9`, when the spec gave an aspect ratio instead of a size. */
    aspectRatio?: string;
    steps?: number;
    guidance?: number;
    sampler?: string;
    /** `fast`: the small fast decoder instead of the model's VAE (another output, so part of the key); absent: the VAE. */
    decoder?: 'fast';
    /** Decimal string (0 to 2^64−1); always resolved, so a rebuild makes the same image. */
    seed: string;
    providerOptions?: Record<string, Record<string, unknown>>;
    /** LoRAs by name (the LoRA folder's), with scales. */
    loras?: { name: string; scale: number }[];
    /** ControlNets, their control images as absolute paths (sent inline, so the key covers their bytes). */
    controls?: SpecControl[];
    hiresFix?: HiresFixRequest;
  };
  /** Candidates generated for this output (1: no ranking). */
  candidates: number;
  ranker?: RankerChoice;
  finish: OutputFinish;
  /** The moderation policy the spec names (a built-in name or a file path, relative to the project folder). */
  moderationPolicy?: string;
}

/** One output in `pixelpipe.lock`. */
export interface LockEntry {
  path: string;
  spec: string;
  /** `sha256:<hex>` over the resolved request, the finish, the model's identity and the engine version. */
  key: string;
  /** The seed of the chosen candidate. */
  seed: string;
  /** The model that made it (a fallback list resolves to one). */
  model: string;
  /** The model's weight hash (local) or version (hosted), when known. */
  modelHash?: string;
  /** Index of the chosen candidate among those generated (0-based). */
  candidate: number;
  /** Every candidate's score, in generation order; absent without ranking. */
  scores?: number[];
  /** SHA-256 of the written file, `sha256:<hex>`. */
  sha256: string;
  /** SHA-256 of the model's pixels before watermark and finish: the same seed gives the same value. */
  pixelSha256?: string;
  /** The record of the chosen image. */
  recordId: string;
}

/** The whole lockfile. */
export interface Lockfile {
  version: 1;
  /** Entries sorted by `path`. */
  outputs: LockEntry[];
}

/** A candidate image as the report shows it. */
export interface CandidateReport {
  index: number;
  seed?: string;
  score?: number;
  /** 1 for the best. */
  rank?: number;
  chosen: boolean;
  recordId?: string;
  /** Why the ranker placed it so (e.g. the VLM's comment). */
  reason?: string;
  /** Reads the image's bytes (for thumbnails); absent when they cannot be had. */
  load?: () => Promise<Uint8Array | undefined>;
}

/** What happened to one output. */
export interface OutputReport {
  path: string;
  spec: string;
  specFile: string;
  status: 'generated' | 'cached' | 'failed' | 'skipped';
  key: string;
  prompt: string;
  negativePrompt?: string;
  model?: string;
  seed: string;
  width: number;
  height: number;
  /** Wall time spent on this output in this build (0 for cached). */
  durationMs: number;
  /** Of which the generation (the job, queue wait excluded where known). */
  generationMs?: number;
  /** For failed outputs: a code and a message naming the cause and the fix. */
  error?: { code: string; message: string };
  ranker?: string;
  candidates: CandidateReport[];
  recordId?: string;
  sha256?: string;
}

/** A finished build, as the JSON report holds it (without the `load` functions). */
export interface BuildReport {
  project: string;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  /** Where it ran: `embedded` or the server's URL. */
  backend: string;
  counts: { generated: number; cached: number; failed: number; skipped: number };
  outputs: OutputReport[];
}
