// Ranks candidates by asking a vision-language model, over any OpenAI-compatible chat-completions endpoint, to score each 0–10.
//
// Request, as OpenAI documents chat completions with images (vLLM, Ollama, LM Studio and gateways
// take the same): POST {baseUrl}/chat/completions, `Authorization: Bearer`, body {model, messages,
// temperature: 0, response_format: {type: 'json_object'}}, the images as `image_url` content parts
// holding data URLs. The answer must be the JSON {"scores":[{"candidate":1,"score":7.5,"reason":"..."}]}
// with exactly one entry per candidate of the request; anything else fails the ranking rather than
// guessing, and the error quotes what the model said.
import { z } from 'zod';
import type { ApiClient, CallContext } from '../../providers/shared/api-client.js';
import { chatCompletionsClient } from '../../providers/shared/chat-completions-client.js';
import { hostedDefaults } from '../../providers/shared/provider-settings.js';
import { AbortedError } from '../../spec/errors/aborted-error.js';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { InvalidResponseError } from '../../spec/errors/invalid-response-error.js';
import { TimeoutError } from '../../spec/errors/timeout-error.js';
import { throwIfAborted, type CandidateScore, type RankCandidate, type RankContext, type Ranker } from './ranker.js';

export interface VlmRankerOptions {
  /** The API's base URL up to `/chat/completions`, e.g. `https://api.openai.com/v1` or `http://localhost:11434/v1`. */
  baseUrl: string;
  /** The vision model's name on that server, e.g. `gpt-4o-mini` or `qwen2.5vl:7b`. */
  model: string;
  /** Sent as `Authorization: Bearer`; none is sent without it (local servers). */
  apiKey?: string;
  /** The fetch to use (proxies, tests); the global one when omitted. */
  fetch?: typeof fetch;
  /** Candidates shown in one request; default 8. Scores are absolute (0–10), so batches compare. */
  maxImagesPerRequest?: number;
  /** Longest one request may take, retries included; default 120 000 ms. */
  timeoutMs?: number;
  /** Retries of a request after a retryable failure (429, 5xx, no connection); default 2. */
  maxRetries?: number;
  /** Waits between retries; injectable so tests need not sleep. */
  sleep?: (milliseconds: number, signal?: AbortSignal) => Promise<void>;
}

/** Used when the context has no rubric. */
export const defaultRubric =
  'Prompt adherence first: every subject, attribute, count, colour, relation and style the prompt asks for is present and nothing it excludes is. ' +
  'Then image quality: coherent anatomy and objects, no artefacts, distortions, garbled text or watermarks, and a pleasing composition.';

const provider = 'vlm-ranker';

// Only the field read.
const chatResponseSchema = z.object({
  choices: z.array(z.object({ message: z.object({ content: z.string().nullable() }) })).min(1),
});

// Strict where it matters (numbers, range, one per candidate); extra keys a model adds are ignored.
const answerSchema = z.object({
  scores: z.array(
    z.object({
      candidate: z.number().int(),
      score: z.number().min(0).max(10),
      reason: z.string().optional(),
    }),
  ),
});

function instructions(count: number): string {
  return (
    'You judge images made by an image generator. You are shown the prompt they were made from, a rubric, ' +
    `and ${count} candidate image${count === 1 ? '' : 's'} numbered 1 to ${count} in the order given. ` +
    'Score every candidate on its own from 0 (worst) to 10 (best) against the rubric and the prompt; decimals are allowed, and equal images get equal scores. ' +
    'Answer only with a JSON object, no other text: {"scores":[{"candidate":1,"score":7.5,"reason":"one short sentence"}]}, ' +
    `with exactly one entry for each candidate number from 1 to ${count}.`
  );
}

/** The chat messages for one batch: instructions as the system turn; prompt, rubric and the numbered images as the user turn. */
export function vlmMessages(batch: readonly RankCandidate[], context: RankContext): unknown[] {
  const brief = [
    `Prompt: ${context.prompt}`,
    ...(context.negativePrompt ? [`The image should not show: ${context.negativePrompt}`] : []),
    `Rubric: ${context.rubric ?? defaultRubric}`,
    `Score these ${batch.length} candidates and answer in JSON.`,
  ].join('\n');
  const images = batch.flatMap((candidate, position) => [
    { type: 'text', text: `Candidate ${position + 1}:` },
    { type: 'image_url', image_url: { url: `data:${candidate.mediaType};base64,${Buffer.from(candidate.bytes).toString('base64')}` } },
  ]);
  return [
    { role: 'system', content: instructions(batch.length) },
    { role: 'user', content: [{ type: 'text', text: brief }, ...images] },
  ];
}

/** Reads the model's answer for a batch of `count`: one score per candidate 1..count, in candidate order. */
export function parseVlmAnswer(answer: string, count: number): CandidateScore[] {
  let json: unknown;
  try {
    json = JSON.parse(answer);
  } catch {
    throw new Error('it is not JSON');
  }
  const parsed = answerSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`\`${issue.path.join('.') || '(top level)'}\`: ${issue.message}`);
  }
  const byCandidate = new Map<number, CandidateScore>();
  for (const entry of parsed.data.scores) {
    if (entry.candidate < 1 || entry.candidate > count) throw new Error(`it scores candidate ${entry.candidate}, but there were candidates 1 to ${count}`);
    if (byCandidate.has(entry.candidate)) throw new Error(`it scores candidate ${entry.candidate} twice`);
    byCandidate.set(entry.candidate, { score: entry.score, ...(entry.reason ? { reason: entry.reason } : {}), detail: { vlmScore: entry.score } });
  }
  const missing = Array.from({ length: count }, (_, position) => position + 1).filter((candidate) => !byCandidate.has(candidate));
  if (missing.length > 0) throw new Error(`it has no score for candidate${missing.length === 1 ? '' : 's'} ${missing.join(', ')}`);
  return Array.from({ length: count }, (_, position) => byCandidate.get(position + 1)!);
}

export class VlmRanker implements Ranker {
  readonly name = 'vlm';
  private readonly client: ApiClient;
  private readonly maxImagesPerRequest: number;
  private readonly timeoutMs: number;

  constructor(private readonly options: VlmRankerOptions) {
    const { baseUrl, apiKey, fetch, maxImagesPerRequest = 8, timeoutMs = 120_000, maxRetries = hostedDefaults.maxRetries, sleep = hostedDefaults.sleep } = options;
    if (!Number.isInteger(maxImagesPerRequest) || maxImagesPerRequest < 1) {
      throw new InvalidArgumentError({ argument: 'maxImagesPerRequest', value: maxImagesPerRequest, message: `\`maxImagesPerRequest\` must be a whole number of at least 1, got ${maxImagesPerRequest}` });
    }
    if (!(timeoutMs > 0)) throw new InvalidArgumentError({ argument: 'timeoutMs', value: timeoutMs, message: `\`timeoutMs\` must be a positive number of milliseconds, got ${timeoutMs}` });
    this.maxImagesPerRequest = maxImagesPerRequest;
    this.timeoutMs = timeoutMs;
    this.client = chatCompletionsClient({ provider, baseUrl, apiKey, fetch, maxRetries, sleep });
  }

  async score(candidates: RankCandidate[], context: RankContext): Promise<CandidateScore[]> {
    const scores: CandidateScore[] = [];
    // One request at a time: local VLM servers usually run one at a time anyway.
    for (let start = 0; start < candidates.length; start += this.maxImagesPerRequest) {
      throwIfAborted(context.signal, this.name);
      scores.push(...(await this.scoreBatch(candidates.slice(start, start + this.maxImagesPerRequest), context)));
    }
    return scores;
  }

  private async scoreBatch(batch: RankCandidate[], context: RankContext): Promise<CandidateScore[]> {
    const { model, baseUrl } = this.options;
    const deadline = AbortSignal.timeout(this.timeoutMs);
    const call: CallContext = { modelId: model, signal: context.signal ? AbortSignal.any([context.signal, deadline]) : deadline, attempts: [] };
    const url = this.client.url('/chat/completions');
    let answer: string;
    try {
      const { data } = await this.client.request(call, {
        path: '/chat/completions',
        json: { model, messages: vlmMessages(batch, context), temperature: 0, response_format: { type: 'json_object' } },
        schema: chatResponseSchema,
      });
      answer = data.choices[0]!.message.content ?? '';
    } catch (error) {
      if (context.signal?.aborted) throw new AbortedError({ message: `the vlm ranker (${model} at ${baseUrl}) was stopped by its abort signal`, cause: error });
      if (deadline.aborted) throw new TimeoutError({ provider, url, timeoutMs: this.timeoutMs, cause: error, message: `the vlm ranker (${model} at ${baseUrl}) got no answer within ${this.timeoutMs} ms for ${batch.length} images; raise \`timeoutMs\` or lower \`maxImagesPerRequest\`` });
      throw error;
    }
    try {
      return parseVlmAnswer(answer, batch.length);
    } catch (cause) {
      const quoted = answer.length > 300 ? `${answer.slice(0, 300)}…` : answer;
      throw new InvalidResponseError({
        provider,
        url,
        responseBody: answer,
        cause,
        message: `the vlm ranker's model ${model} at ${baseUrl} did not answer with one 0–10 score for each of candidates 1 to ${batch.length}: ${(cause as Error).message}. It said: ${JSON.stringify(quoted)}. Use a model that follows JSON instructions (and supports response_format json_object)`,
      });
    }
  }
}
