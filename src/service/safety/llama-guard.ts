// Llama Guard 3 or 4 behind any OpenAI-compatible chat endpoint (vLLM, Ollama, LocalAI) as a prompt classifier: POST {baseURL}/chat/completions.
import { z } from 'zod';
import { InvalidResponseError } from '../../spec/errors/invalid-response-error.js';
import { classifierCall, type ClassifierOptions } from './classifier-client.js';
import type { ClassifierResult } from './moderation-decision.js';
import type { ModerationCategory } from './moderation-policy.js';

/** The policy's Llama Guard classifier. */
export interface LlamaGuardConfig {
  baseURL: string;
  /** The model's name on that server, e.g. `llama-guard3:8b` (Ollama) or `meta-llama/Llama-Guard-3-8B` (vLLM). */
  model: string;
  apiKeyVariable?: string;
}

/**
 * Llama Guard 3's hazard codes (MLCommons taxonomy; Llama Guard 4 keeps them), each with its name and
 * the policy category it counts as. Hazards with an OpenAI counterpart take its name.
 */
export const llamaGuardCategories: Record<string, { name: string; category: ModerationCategory }> = {
  S1: { name: 'Violent Crimes', category: 'illicit/violent' },
  S2: { name: 'Non-Violent Crimes', category: 'illicit' },
  S3: { name: 'Sex-Related Crimes', category: 'sex-crimes' },
  S4: { name: 'Child Sexual Exploitation', category: 'sexual/minors' },
  S5: { name: 'Defamation', category: 'defamation' },
  S6: { name: 'Specialized Advice', category: 'specialized-advice' },
  S7: { name: 'Privacy', category: 'privacy' },
  S8: { name: 'Intellectual Property', category: 'intellectual-property' },
  S9: { name: 'Indiscriminate Weapons', category: 'illicit/violent' },
  S10: { name: 'Hate', category: 'hate' },
  S11: { name: 'Suicide & Self-Harm', category: 'self-harm' },
  S12: { name: 'Sexual Content', category: 'sexual' },
  S13: { name: 'Elections', category: 'elections' },
  S14: { name: 'Code Interpreter Abuse', category: 'code-interpreter-abuse' },
};

// Only the field read.
const chatResponseSchema = z.object({
  choices: z.array(z.object({ message: z.object({ content: z.string().nullable() }) })).min(1),
});

/**
 * Reads Llama Guard's answer: `safe`, or `unsafe` and on the next line the violated codes separated by
 * commas. Anything else (another model behind the URL, a cut-off answer) throws: a prompt is never
 * taken as safe because the answer could not be read.
 */
export function parseLlamaGuardAnswer(answer: string): { safe: true } | { safe: false; codes: string[] } {
  const lines = answer.trim().split(/\r?\n/).map((line) => line.trim()).filter((line) => line !== '');
  if (lines.length === 1 && lines[0] === 'safe') return { safe: true };
  if (lines.length === 2 && lines[0] === 'unsafe') {
    const codes = lines[1]!.split(',').map((code) => code.trim());
    if (codes.every((code) => Object.hasOwn(llamaGuardCategories, code))) return { safe: false, codes: [...new Set(codes)] };
  }
  throw new Error(`expected \`safe\`, or \`unsafe\` and a line of codes S1 to S14, got ${JSON.stringify(answer.slice(0, 200))}`);
}

/** Asks Llama Guard about a prompt, as the user's turn of a conversation; the server's chat template adds Llama Guard's instructions. */
export async function llamaGuardModeration(prompt: string, config: LlamaGuardConfig, options: ClassifierOptions = {}): Promise<ClassifierResult> {
  const { client, context } = classifierCall({ provider: 'llama-guard', ...config }, options);
  const url = client.url('/chat/completions');
  const { data } = await client.request(context, {
    path: '/chat/completions',
    json: { model: config.model, messages: [{ role: 'user', content: prompt }], temperature: 0, max_tokens: 32 },
    schema: chatResponseSchema,
  });
  const answer = data.choices[0]!.message.content ?? '';
  let verdict: ReturnType<typeof parseLlamaGuardAnswer>;
  try {
    verdict = parseLlamaGuardAnswer(answer);
  } catch (cause) {
    throw new InvalidResponseError({ provider: 'llama-guard', url, responseBody: answer, cause, message: `llama-guard (${config.model} at ${config.baseURL}) answered in a shape Llama Guard does not: ${(cause as Error).message}; check that the policy's model is a Llama Guard 3 or 4 model` });
  }
  const categories: ClassifierResult['categories'] = {};
  if (!verdict.safe) for (const code of verdict.codes) categories[llamaGuardCategories[code]!.category] = { flagged: true, score: 1 };
  return { classifier: `llama-guard:${config.model}`, categories, ...(verdict.safe ? {} : { details: { codes: verdict.codes } }) };
}
