// Picks a hosted LoRA trainer by provider name.
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { FalLoraTrainer } from '../fal/fal-training.js';
import type { LoraTrainer, LoraTrainerSettings } from '../shared/lora-trainer.js';
import { ReplicateLoraTrainer } from '../replicate/replicate-training.js';

export const loraTrainerProviders = ['replicate', 'fal'] as const;
export type LoraTrainerProvider = (typeof loraTrainerProviders)[number];

export function createLoraTrainer(provider: string, settings: LoraTrainerSettings = {}): LoraTrainer {
  switch (provider) {
    case 'replicate':
      return new ReplicateLoraTrainer(settings);
    case 'fal':
      return new FalLoraTrainer(settings);
    default:
      throw new InvalidArgumentError({ argument: 'provider', value: provider, message: `\`--provider\` must be one of ${loraTrainerProviders.join(', ')}, got ${JSON.stringify(provider)}` });
  }
}
