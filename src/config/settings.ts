// Settings from the environment, read in one place and validated with one schema.
import { homedir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';

const settingsSchema = z.object({
  /** Where pulled models live. */
  cacheDir: z.string().min(1),
  /** Hugging Face Hub base URL (a mirror or a test server). */
  hubUrl: z.string().url(),
  /** Token for gated or private repos. */
  hubToken: z.string().optional(),
  /** ONNX Runtime execution provider. */
  executionProvider: z.enum(['cpu', 'cuda']),
  /** ONNX Runtime intra-op threads; undefined = all cores. */
  threads: z.coerce.number().int().positive().optional(),
  /** Largest input image or mask accepted for editing, in pixels (decoding stops before a larger one). */
  maxInputPixels: z.coerce.number().int().positive().default(4096 * 4096),
  /** A tiny latent decoder (ONNX) for step previews, e.g. VAElight's VAEpreview.onnx; a linear projection without it. */
  previewDecoder: z.string().min(1).optional(),
});

export type Settings = z.infer<typeof settingsSchema>;

/** Reads the environment lazily, when a command needs it. Explicit values win over the environment. */
export function loadSettings(overrides: Partial<Settings> = {}, environment: NodeJS.ProcessEnv = process.env): Settings {
  const candidate = {
    cacheDir: environment.PIXELPIPE_CACHE_DIR || join(environment.XDG_CACHE_HOME || join(homedir(), '.cache'), 'pixelpipe', 'models'),
    hubUrl: environment.PIXELPIPE_HUB_URL || environment.HF_ENDPOINT || 'https://huggingface.co',
    hubToken: environment.HF_TOKEN || environment.HUGGING_FACE_HUB_TOKEN || undefined,
    executionProvider: environment.PIXELPIPE_EXECUTION_PROVIDER || 'cpu',
    threads: environment.PIXELPIPE_THREADS || undefined,
    maxInputPixels: environment.PIXELPIPE_MAX_INPUT_PIXELS || undefined,
    previewDecoder: environment.PIXELPIPE_PREVIEW_DECODER || undefined,
    ...Object.fromEntries(Object.entries(overrides).filter(([, value]) => value !== undefined)),
  };
  const parsed = settingsSchema.safeParse(candidate);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = String(issue.path[0]);
    const variable = { cacheDir: 'PIXELPIPE_CACHE_DIR', hubUrl: 'PIXELPIPE_HUB_URL', executionProvider: 'PIXELPIPE_EXECUTION_PROVIDER', threads: 'PIXELPIPE_THREADS', maxInputPixels: 'PIXELPIPE_MAX_INPUT_PIXELS', previewDecoder: 'PIXELPIPE_PREVIEW_DECODER' }[field] ?? field;
    throw new Error(`setting \`${field}\` (${variable}) is invalid: ${issue.message}, got ${JSON.stringify((candidate as Record<string, unknown>)[field])}`);
  }
  return parsed.data;
}
