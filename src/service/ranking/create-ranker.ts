// Chooses a ranker by its config's `type`: clip, aesthetic, vlm or custom.
import type { RuntimeOptions } from '../../engine/runtime/onnx-model.js';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { AestheticRanker } from './aesthetic-ranker.js';
import { ClipRanker } from './clip-ranker.js';
import { CustomRanker, type CustomScoreFunction } from './custom-ranker.js';
import type { Ranker } from './ranker.js';
import { VlmRanker, type VlmRankerOptions } from './vlm-ranker.js';

export type RankerConfig =
  /** CLIP similarity of prompt and image; `model` is a CLIP ONNX export folder. */
  | { type: 'clip'; model: string; runtime?: RuntimeOptions }
  /** LAION aesthetic predictor (`weights`, .safetensors) on `clipModel`'s image embeddings. */
  | { type: 'aesthetic'; clipModel: string; weights: string; runtime?: RuntimeOptions }
  /** A vision-language model behind an OpenAI-compatible chat-completions endpoint. */
  | ({ type: 'vlm' } & VlmRankerOptions)
  /** The library user's own scoring function. */
  | { type: 'custom'; name: string; score: CustomScoreFunction };

export const rankerTypes = ['clip', 'aesthetic', 'vlm', 'custom'] as const;

/** Configs also come from JSON settings, where the types above were never checked. */
function requireText(config: RankerConfig, field: string): void {
  const value = (config as unknown as Record<string, unknown>)[field];
  if (typeof value !== 'string' || value.trim() === '') {
    throw new InvalidArgumentError({ argument: field, value, message: `the ${config.type} ranker needs \`${field}\`, a non-empty string, got ${JSON.stringify(value) ?? String(value)}` });
  }
}

export function createRanker(config: RankerConfig): Ranker {
  switch (config.type) {
    case 'clip':
      requireText(config, 'model');
      return new ClipRanker({ model: config.model, runtime: config.runtime });
    case 'aesthetic':
      requireText(config, 'clipModel');
      requireText(config, 'weights');
      return new AestheticRanker({ clipModel: config.clipModel, weights: config.weights, runtime: config.runtime });
    case 'vlm': {
      requireText(config, 'baseUrl');
      requireText(config, 'model');
      const { type: _type, ...options } = config;
      return new VlmRanker(options);
    }
    case 'custom':
      return new CustomRanker(config.name, config.score);
    default: {
      const type = (config as { type?: unknown }).type;
      throw new InvalidArgumentError({ argument: 'type', value: type, message: `ranker \`type\` must be one of ${rankerTypes.join(', ')}, got ${JSON.stringify(type)}` });
    }
  }
}
