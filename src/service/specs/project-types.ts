// What `loadProject` returns: the project's settings and its specs, checked and with defaults applied, each field traceable to its file and line.
import type { DataTable } from './data-files.js';
import type { Matrix } from './matrix.js';
import type { SeedRule } from './seeds.js';
import type { RankerSetup } from './spec-schema.js';
import type { SizeTarget } from './sizes.js';
import { formatFieldPath, type FieldPath, type SourceLocation } from './spec-files.js';
import type { Template } from './templates.js';

/** One spec after defaults were merged in and every field was checked. */
export interface LoadedSpec {
  name: string;
  /** The file that defines it, relative to the project folder. */
  file: string;
  /** 1-based line where the spec starts in `file`. */
  line?: number;
  /** A model or a comma fallback list; `./` and `../` paths are made relative to the project folder. */
  model?: string;
  prompt: Template;
  negativePrompt?: Template;
  /** Empty when the spec gives no size (the build uses the model's default). */
  sizes: SizeTarget[];
  generationSize?: { width: number; height: number };
  steps?: number;
  guidance?: number;
  sampler?: string;
  /** `fast`: decode with the small fast decoder instead of the model's VAE. */
  decoder?: 'full' | 'fast';
  seed: SeedRule;
  providerOptions?: Record<string, Record<string, unknown>>;
  /** LoRAs of the project's LoRA folder, with their scales. */
  loras?: { name: string; scale: number }[];
  /** ControlNets, their control images as absolute paths. */
  controls?: SpecControl[];
  hiresFix?: HiresFixRequest;
  matrix: Matrix;
  /** Rows of every data file, file after file. */
  data: DataTable[];
  candidates: number;
  ranker?: { type: string; rubric?: Template; decoder?: 'full' | 'fast' };
  output: {
    path: Template;
    /** From `format`; absent: from each path's extension. */
    format?: 'png' | 'webp' | 'jpeg';
    quality?: number;
    fit: 'cover' | 'contain' | 'fill';
    upscale?: 'lanczos' | 'esrgan';
  };
  /** A policy name, or a policy file relative to the project folder. */
  moderation?: string;
  /** Where each field was written (the spec, or the project's defaults), keyed by `formatFieldPath` relative to the spec. */
  sources: ReadonlyMap<string, SourceLocation>;
}

/** A loaded `pixelpipe.yaml` and everything it names. */
export interface Project {
  /** Absolute path of the project folder. */
  root: string;
  /** The project file's name within `root`: `pixelpipe.yaml`. */
  file: string;
  /** Normalised, relative to `root`, without a trailing `/`: `out`. */
  outputDir: string;
  concurrency?: number;
  moderation?: string;
  /** Absolute path of the folder specs' LoRAs are in: `loraDir`, else `loras` beside the project file when it exists. */
  loraDir?: string;
  /** Rankers an embedded build provides, by name; model paths made absolute. */
  rankers?: Record<string, RankerSetup>;
  specs: LoadedSpec[];
}

/** Where a spec's field (`['output', 'path']`) was written; a field given by no file points at the spec itself. */
export function locateField(spec: Pick<LoadedSpec, 'sources' | 'file' | 'line'>, path: FieldPath): SourceLocation {
  for (let length = path.length; length >= 0; length -= 1) {
    const source = spec.sources.get(formatFieldPath(path.slice(0, length)));
    if (source !== undefined) return { ...source, field: formatFieldPath(path.slice(length), source.field ?? '') || undefined };
  }
  return { file: spec.file, line: spec.line, field: formatFieldPath(path) || undefined };
}

/** A spec's ControlNet: a name of the ControlNet folder (or none: the model's own) and its control image's file. */
export interface SpecControl {
  controlnet?: string;
  /** Absolute path of the control image. */
  image: string;
  type?: 'canny' | 'scribble' | 'image';
  scale?: number;
  start?: number;
  end?: number;
  low?: number;
  high?: number;
  threshold?: number;
}

/** A hires fix as a spec asks for it (the job's `hiresFix`). */
export interface HiresFixRequest {
  scale?: 2 | 3 | 4 | 8;
  strength?: number;
  steps?: number;
}
