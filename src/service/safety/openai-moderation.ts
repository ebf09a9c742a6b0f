// OpenAI's moderation endpoint as a classifier of prompts and images: POST {baseURL}/moderations.
// Shapes: https://platform.openai.com/docs/api-reference/moderations (the `openai` package's resources/moderations.d.ts).
import { z } from 'zod';
import { readOpenAIError } from '../../providers/openai/openai-image-model.js';
import type { EncodedImage } from '../provenance/image-finishing.js';
import { classifierCall, type ClassifierOptions } from './classifier-client.js';
import type { ClassifierResult } from './moderation-decision.js';

/** The policy's OpenAI classifier. */
export interface OpenAIModerationConfig {
  baseURL: string;
  /** `omni-moderation-latest` reads text and images. */
  model: string;
  apiKeyVariable: string;
}

// Only the fields read. `illicit` and `illicit/violent` may be null (text-moderation models lack them).
const moderationResponseSchema = z.object({
  model: z.string().optional(),
  results: z.array(z.object({
    flagged: z.boolean(),
    categories: z.record(z.string(), z.boolean().nullable()),
    category_scores: z.record(z.string(), z.number()),
    category_applied_input_types: z.record(z.string(), z.array(z.string()).nullable()).optional(),
  })).min(1),
});

/** What is classified: a prompt, or an image (sent inline as a data URL, never as a link to fetch). */
export type OpenAIModerationInput = { text: string } | { image: EncodedImage };

/**
 * Classifies one input. Every category OpenAI scored comes back with its score and OpenAI's own
 * flag; for an image, only the categories OpenAI applied to images count (the others score text only).
 */
export async function openaiModeration(input: OpenAIModerationInput, config: OpenAIModerationConfig, options: ClassifierOptions = {}): Promise<ClassifierResult> {
  const { client, context } = classifierCall({ provider: 'openai', ...config, readError: readOpenAIError }, options);
  const body = 'text' in input
    ? { model: config.model, input: input.text }
    : { model: config.model, input: [{ type: 'image_url', image_url: { url: `data:${input.image.mediaType};base64,${Buffer.from(input.image.bytes).toString('base64')}` } }] };
  const { data } = await client.request(context, { path: '/moderations', json: body, schema: moderationResponseSchema });
  const [result] = data.results;
  const applied = result!.category_applied_input_types;
  const categories: ClassifierResult['categories'] = {};
  for (const [category, score] of Object.entries(result!.category_scores)) {
    if ('image' in input && applied && !applied[category]?.includes('image')) continue;
    categories[category] = { flagged: result!.categories[category] === true, score };
  }
  return { classifier: `openai:${data.model ?? config.model}`, categories, details: { flagged: result!.flagged } };
}
