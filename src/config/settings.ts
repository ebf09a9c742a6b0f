// Settings from the environment, read in one place and validated with one schema.
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { z } from 'zod';

const byteUnits: Record<string, number> = { b: 1, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12, kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40 };

// A number of bytes: a whole number from code, or `16GiB`, `16 GB`, `12000MB`, `17179869184` from the environment.
const bytes = z.union([
  z.number().int().positive(),
  z
    .string()
    .regex(/^\s*\d+(\.\d+)?\s*([kmgt]i?b|b)?\s*$/i, 'must be a size such as 16GiB, 16GB or 12000MB')
    .transform((text) => {
      const [, number, unit = 'b'] = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text)!;
      return Math.floor(Number(number) * byteUnits[unit.toLowerCase()]!);
    }),
]);

// A yes/no setting: a boolean from code, or `true`/`false`/`1`/`0` from the environment.
const flag = z.union([z.boolean(), z.enum(['true', 'false', '1', '0']).transform((value) => value === 'true' || value === '1')]);

// Jobs per hosted provider a worker runs at once: `{ openai: 8, '*': 16 }` from code, or `16` or
// `openai=8,fal=32,16` from the environment (a bare number is the limit of providers not named).
const perProviderText = /^\s*([\w.-]{1,64}\s*=\s*)?\d{1,4}\s*(,\s*([\w.-]{1,64}\s*=\s*)?\d{1,4}\s*)*$/;
const perProvider = z.union([z.record(z.string().regex(/^(\*|[\w.-]{1,64})$/), z.number().int().min(0).max(1000)), z.string()]).transform((value, context) => {
  if (typeof value !== 'string') return value;
  if (!perProviderText.test(value)) {
    context.addIssue({ code: 'custom', message: 'must be a number of jobs, or PROVIDER=N pairs and a number for the others, e.g. 16 or openai=8,fal=32,16' });
    return z.NEVER;
  }
  return Object.fromEntries(
    value.split(',').map((part) => {
      const [name, count] = part.includes('=') ? part.split('=') : ['*', part];
      return [name!.trim(), Number(count)];
    }),
  );
});

const settingsSchema = z.object({
  /** Where pulled models live. */
  cacheDir: z.string().min(1),
  /** The LoRA folder: `NAME.safetensors` with its `NAME.json` record. Default: `loras` beside the model cache. */
  loraDir: z.string().min(1),
  /** The ControlNet folder: `NAME/` (holding `controlnet/model.onnx` or `model.onnx`) or `NAME.onnx`, which requests name in `controls`. Default: `controlnets` beside the model cache. */
  controlnetDir: z.string().min(1),
  /** Hugging Face Hub base URL (a mirror or a test server). */
  hubUrl: z.string().url(),
  /** Token for gated or private repos. */
  hubToken: z.string().optional(),
  /** ONNX Runtime execution provider. */
  executionProvider: z.enum(['cpu', 'cuda']),
  /** ONNX Runtime intra-op threads; undefined = all cores. */
  threads: z.coerce.number().int().positive().optional(),
  /**
   * Largest estimated peak memory of one local generation, in bytes; larger jobs are refused when they
   * are submitted (and the CLI before it loads a model). Default: 90 % of the machine's memory less what is loaded.
   */
  memoryBudget: bytes.optional(),
  /** Largest input image or mask accepted for editing, in pixels (decoding stops before a larger one). */
  maxInputPixels: z.coerce.number().int().positive().default(4096 * 4096),
  /** A tiny latent decoder (ONNX) for step previews, e.g. VAElight's VAEpreview.onnx; a linear projection without it. */
  previewDecoder: z.string().min(1).optional(),
  /**
   * The small decoder (ONNX, VAElight-style, SD 1.x/2.x latents) that requests with `decoder: 'fast'` decode with:
   * drafts in a fraction of the VAE's time. `previewDecoder` serves when absent; without either, `fast` is refused.
   */
  fastDecoder: z.string().min(1).optional(),
  /**
   * Where graphs optimised at ONNX Runtime's level `all` are kept, one per model, runtime version and
   * CPU, so a model is optimised once per machine and later loads skip the work; `off` keeps none (the
   * text encoder and UNet then load at `extended`). Default: `graphs` beside the model cache.
   */
  graphCache: z.string().min(1),
  /** Load the text encoders for each prompt encoding and release them before the denoiser runs, so both are never in memory together (large T5 encoders beside SD3 or FLUX). Default off. */
  offloadTextEncoders: flag.default(false),
  /** `serve` and `worker` load their default model at start and run one throwaway image through it, so the first job runs at full speed. Default on. */
  warmUp: flag.default(true),
  /** The service's data directory: the embedded database and the default blob store live here. */
  dataDir: z.string().min(1),
  /** A PostgreSQL server for jobs and records; embedded PGlite in the data directory without it. */
  databaseUrl: z.string().regex(/^postgres(ql)?:\/\//, 'must start with postgres:// or postgresql://').optional(),
  /** An S3-compatible bucket for image bytes; the data directory's `blobs` folder without it. */
  s3Bucket: z.string().min(1).optional(),
  /** The S3 endpoint (MinIO, R2, a test server); AWS's own without it. */
  s3Endpoint: z.string().url().optional(),
  /** The bucket's region. */
  s3Region: z.string().min(1).default('us-east-1'),
  /** Key prefix inside the bucket. */
  s3Prefix: z.string().default(''),
  /** Path-style URLs (`endpoint/bucket/key`), which most S3-compatible servers need. */
  s3ForcePathStyle: flag.optional(),
  /** Secret webhook signatures are made with; without it one is generated once and kept in the database (receivers then cannot know it, so set it). */
  webhookSecret: z.string().min(16).optional(),
  /** Webhook destinations on private, loopback or link-local addresses are allowed (tests, trusted networks). */
  webhookAllowPrivate: flag.default(false),
  /**
   * Hosted jobs each worker runs at once, per provider (`*`: providers not named). They wait on a
   * network, not on this machine, so many run beside the local jobs. Default 16 per provider.
   */
  hostedConcurrency: perProvider.default({ '*': 16 }),
  /** The C2PA signing certificate chain (PEM, leaf first) every output is signed with; without it and its key, outputs are unsigned. */
  c2paCert: z.string().min(1).optional(),
  /** The C2PA signing certificate's private key (PEM, PKCS#8). */
  c2paKey: z.string().min(1).optional(),
  /** Hide the record's id in every output's pixels (an invisible watermark). Default on. */
  watermark: flag.default(true),
  /** The moderation policy for prompts and outputs: a YAML or JSON file, or `off`. Default: the built-in policy. */
  moderationPolicy: z.string().min(1).optional(),
  /** A CLIP ONNX export folder: the service offers the `clip` ranker for best-of-N (and the `aesthetic` one reads its image embeddings). */
  clipModel: z.string().min(1).optional(),
  /** LAION aesthetic predictor weights (.safetensors) on `clipModel`: the service offers the `aesthetic` ranker. */
  aestheticWeights: z.string().min(1).optional(),
  /** An OpenAI-compatible chat-completions endpoint of a vision-language model: the service offers the `vlm` ranker. */
  vlmUrl: z.string().url().optional(),
  /** The model the `vlm` ranker asks. */
  vlmModel: z.string().min(1).optional(),
  /** The `vlm` endpoint's API key, if it needs one. */
  vlmApiKey: z.string().min(1).optional(),
});

export type Settings = z.infer<typeof settingsSchema>;

// The service's variables, named in error messages.
const serviceVariables: Record<string, string> = {
  dataDir: 'PIXELPIPE_DATA_DIR',
  databaseUrl: 'PIXELPIPE_DATABASE_URL',
  s3Bucket: 'PIXELPIPE_S3_BUCKET',
  s3Endpoint: 'PIXELPIPE_S3_ENDPOINT',
  s3Region: 'PIXELPIPE_S3_REGION',
  s3Prefix: 'PIXELPIPE_S3_PREFIX',
  s3ForcePathStyle: 'PIXELPIPE_S3_FORCE_PATH_STYLE',
  webhookSecret: 'PIXELPIPE_WEBHOOK_SECRET',
  webhookAllowPrivate: 'PIXELPIPE_WEBHOOK_ALLOW_PRIVATE',
  hostedConcurrency: 'PIXELPIPE_HOSTED_CONCURRENCY',
  c2paCert: 'PIXELPIPE_C2PA_CERT',
  c2paKey: 'PIXELPIPE_C2PA_KEY',
  watermark: 'PIXELPIPE_WATERMARK',
  moderationPolicy: 'PIXELPIPE_MODERATION_POLICY',
  clipModel: 'PIXELPIPE_CLIP_MODEL',
  aestheticWeights: 'PIXELPIPE_AESTHETIC_WEIGHTS',
  vlmUrl: 'PIXELPIPE_VLM_URL',
  vlmModel: 'PIXELPIPE_VLM_MODEL',
  vlmApiKey: 'PIXELPIPE_VLM_API_KEY',
  loraDir: 'PIXELPIPE_LORA_DIR',
  controlnetDir: 'PIXELPIPE_CONTROLNET_DIR',
  graphCache: 'PIXELPIPE_GRAPH_CACHE',
  warmUp: 'PIXELPIPE_WARM_UP',
  offloadTextEncoders: 'PIXELPIPE_OFFLOAD_TEXT_ENCODERS',
};

// Settings this module made. A process loads them once, at its entry, and passes them down: given to
// `loadSettings` again they come back as they are, without the environment being read a second time.
const loaded = new WeakSet<object>();

/** Reads the environment lazily, when a command needs it. Explicit values win over the environment; settings already loaded are given back as they are. */
export function loadSettings(overrides: Partial<Settings> = {}, environment: NodeJS.ProcessEnv = process.env): Settings {
  if (loaded.has(overrides)) return overrides as Settings;
  const cacheDir = overrides.cacheDir ?? (environment.PIXELPIPE_CACHE_DIR || join(environment.XDG_CACHE_HOME || join(homedir(), '.cache'), 'pixelpipe', 'models'));
  const candidate = {
    cacheDir,
    loraDir: environment.PIXELPIPE_LORA_DIR || join(dirname(cacheDir), 'loras'),
    controlnetDir: environment.PIXELPIPE_CONTROLNET_DIR || join(dirname(cacheDir), 'controlnets'),
    graphCache: environment.PIXELPIPE_GRAPH_CACHE || join(dirname(cacheDir), 'graphs'),
    warmUp: environment.PIXELPIPE_WARM_UP || undefined,
    offloadTextEncoders: environment.PIXELPIPE_OFFLOAD_TEXT_ENCODERS || undefined,
    hubUrl: environment.PIXELPIPE_HUB_URL || environment.HF_ENDPOINT || 'https://huggingface.co',
    hubToken: environment.HF_TOKEN || environment.HUGGING_FACE_HUB_TOKEN || undefined,
    executionProvider: environment.PIXELPIPE_EXECUTION_PROVIDER || 'cpu',
    threads: environment.PIXELPIPE_THREADS || undefined,
    maxInputPixels: environment.PIXELPIPE_MAX_INPUT_PIXELS || undefined,
    memoryBudget: environment.PIXELPIPE_MEMORY_BUDGET || undefined,
    previewDecoder: environment.PIXELPIPE_PREVIEW_DECODER || undefined,
    fastDecoder: environment.PIXELPIPE_FAST_DECODER || undefined,
    dataDir: environment.PIXELPIPE_DATA_DIR || join(environment.XDG_DATA_HOME || join(homedir(), '.local', 'share'), 'pixelpipe'),
    databaseUrl: environment.PIXELPIPE_DATABASE_URL || undefined,
    s3Bucket: environment.PIXELPIPE_S3_BUCKET || undefined,
    s3Endpoint: environment.PIXELPIPE_S3_ENDPOINT || undefined,
    s3Region: environment.PIXELPIPE_S3_REGION || environment.AWS_REGION || undefined,
    s3Prefix: environment.PIXELPIPE_S3_PREFIX || undefined,
    s3ForcePathStyle: environment.PIXELPIPE_S3_FORCE_PATH_STYLE || undefined,
    webhookSecret: environment.PIXELPIPE_WEBHOOK_SECRET || undefined,
    webhookAllowPrivate: environment.PIXELPIPE_WEBHOOK_ALLOW_PRIVATE || undefined,
    hostedConcurrency: environment.PIXELPIPE_HOSTED_CONCURRENCY || undefined,
    c2paCert: environment.PIXELPIPE_C2PA_CERT || undefined,
    c2paKey: environment.PIXELPIPE_C2PA_KEY || undefined,
    watermark: environment.PIXELPIPE_WATERMARK || undefined,
    moderationPolicy: environment.PIXELPIPE_MODERATION_POLICY || undefined,
    clipModel: environment.PIXELPIPE_CLIP_MODEL || undefined,
    aestheticWeights: environment.PIXELPIPE_AESTHETIC_WEIGHTS || undefined,
    vlmUrl: environment.PIXELPIPE_VLM_URL || undefined,
    vlmModel: environment.PIXELPIPE_VLM_MODEL || undefined,
    vlmApiKey: environment.PIXELPIPE_VLM_API_KEY || undefined,
    ...Object.fromEntries(Object.entries(overrides).filter(([, value]) => value !== undefined)),
  };
  return parseSettings(candidate);
}

/** `settings`, loaded once at a process's entry, with `overrides` from code on top: checked, without reading the environment again. */
export function overrideSettings(settings: Settings, overrides: Partial<Settings>): Settings {
  const given = Object.fromEntries(Object.entries(overrides).filter(([, value]) => value !== undefined));
  return Object.keys(given).length === 0 ? settings : parseSettings({ ...settings, ...given });
}

function parseSettings(candidate: Record<string, unknown>): Settings {
  const parsed = settingsSchema.safeParse(candidate);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = String(issue.path[0]);
    const variable = { cacheDir: 'PIXELPIPE_CACHE_DIR', hubUrl: 'PIXELPIPE_HUB_URL', executionProvider: 'PIXELPIPE_EXECUTION_PROVIDER', threads: 'PIXELPIPE_THREADS', maxInputPixels: 'PIXELPIPE_MAX_INPUT_PIXELS', memoryBudget: 'PIXELPIPE_MEMORY_BUDGET', previewDecoder: 'PIXELPIPE_PREVIEW_DECODER', fastDecoder: 'PIXELPIPE_FAST_DECODER', ...serviceVariables }[field] ?? field;
    throw new Error(`setting \`${field}\` (${variable}) is invalid: ${issue.message}, got ${JSON.stringify(candidate[field])}`);
  }
  loaded.add(parsed.data);
  return parsed.data;
}
