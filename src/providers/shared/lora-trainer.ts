// The contract every hosted LoRA trainer meets: take a zip of images and captions, train, give back the weights' bytes.
import type { HostedProviderSettings } from './provider-settings.js';

/** What the user asked of the training; each trainer maps it to its own input names. */
export interface LoraTrainingSettings {
  /** The word captions carry and prompts use to call up the LoRA, e.g. `acmecorp_style`. */
  triggerWord: string;
  /** Optimisation steps; the trainer's default when omitted. */
  steps?: number;
  /** LoRA rank (the size of the low-rank update); the trainer's default when omitted. */
  rank?: number;
  /** Learning rate; the trainer's default when omitted. */
  learningRate?: number;
}

/** One line of progress while a hosted training runs. */
export interface LoraTrainingStatus {
  trainingId: string;
  /** The provider's own status word (starting, processing, IN_QUEUE, IN_PROGRESS, ...). */
  status: string;
  /** Queue position, a step counter or the last log line, when the provider tells. */
  detail?: string;
}

export interface LoraTrainingRequest {
  /** The zip of images and `NAME.txt` captions. */
  archive: Uint8Array;
  /** The zip's file name as uploaded. */
  archiveName: string;
  settings: LoraTrainingSettings;
  /** Aborting it cancels the training at the provider. */
  signal: AbortSignal;
  onStatus?: (status: LoraTrainingStatus) => void;
}

export interface LoraTrainingResult {
  trainingId: string;
  /** The `.safetensors` bytes as downloaded (unpacked from an archive when the trainer ships one). */
  weights: Uint8Array;
  /** Where the weights were downloaded from. */
  weightsUrl: string;
  /** The trainer's input exactly as sent, for the record. */
  input: Record<string, unknown>;
  /** Settings the trainer has no input for, named so the record and the CLI can say they were not applied. */
  ignored: string[];
  startedAt: string;
  completedAt: string;
}

export interface LoraTrainer {
  /** `replicate` or `fal`. */
  readonly provider: string;
  /** The trainer model, e.g. `ostris/flux-dev-lora-trainer`. */
  readonly trainer: string;
  train(request: LoraTrainingRequest): Promise<LoraTrainingResult>;
}

/** Settings of a hosted trainer: those of its provider, plus trainer-specific ones. */
export interface LoraTrainerSettings extends HostedProviderSettings {
  /** Replicate: the model that receives the trained version, `owner/name` (it must exist). */
  destination?: string;
  /** Replicate: the trainer version id; the model's latest version when omitted. */
  trainerVersion?: string;
  /** fal: the storage API's base URL (default https://rest.alpha.fal.ai, or PIXELPIPE_FAL_STORAGE_BASE_URL). */
  storageBaseURL?: string;
}

/** The last `step/steps [` counter a tqdm progress bar wrote to the logs, as `step/steps`. */
export function stepCounterOf(logs: string | null | undefined): string | undefined {
  const last = [...(logs ?? '').matchAll(/(\d+)\/(\d+) \[/g)].at(-1);
  return last ? `step ${last[1]}/${last[2]}` : undefined;
}
