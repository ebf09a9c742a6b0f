// A model made of models: picks candidates by rule and cost ceiling, falls back on failure, reports every attempt.
import { z } from 'zod';
import type { ImageModel } from '../../spec/image-model.js';
import type { ImageModelCallOptions } from '../../spec/image-model-call-options.js';
import type { ImageModelResult } from '../../spec/image-model-result.js';
import type { ImageModelAttempt, ImageModelRouting } from '../../spec/image-model-usage.js';
import { AbortedError } from '../../spec/errors/aborted-error.js';
import { ContentPolicyError } from '../../spec/errors/content-policy-error.js';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { PixelpipeError } from '../../spec/errors/pixelpipe-error.js';
import { RouterExhaustedError } from '../../spec/errors/router-exhausted-error.js';
import { estimateCost } from '../shared/cost.js';
import type { RouterRule } from './router-rules.js';

/** Per-call router options (`providerOptions.router`); anything else in there is refused so a typo shows. */
export const routerOptionsSchema = z.object({
  /** Overrides the router's cost ceiling for this call, in US dollars. */
  maxCostUsd: z.number().nonnegative().optional(),
}).strict();

export interface RouterSettings {
  /** The router's name: its `modelId`, and `routing.router` in results. Default `router`. */
  name?: string;
  /** Candidates in order, tried when no rule matches and after a matching rule's candidates. */
  fallback: ImageModel[];
  /** Checked in order; the first that matches puts its models first. */
  rules?: RouterRule[];
  /** Candidates whose estimated cost for the call (price table) is above this many US dollars are skipped. */
  maxCostUsd?: number;
  /** Whether a failure moves on to the next candidate; default: see `shouldFallBack`. */
  shouldFallBack?: (error: unknown) => boolean;
}

/** Options a candidate may refuse although another accepts them: moving on can help. */
const capabilityArguments = new Set(['images', 'mask', 'extend', 'aspectRatio', 'sampler', 'decoder']);

/**
 * Default: move on after errors another model may not have (rate limits, outages, timeouts, bad
 * credentials, a request this provider refused, an unreadable answer, a capability it lacks). Stop on
 * an abort, a content-policy refusal (another provider is no answer to a policy) and invalid input.
 */
export function shouldFallBack(error: unknown): boolean {
  if (AbortedError.isInstance(error) || ContentPolicyError.isInstance(error)) return false;
  if (InvalidArgumentError.isInstance(error)) return capabilityArguments.has(error.argument) || error.argument.startsWith('providerOptions.');
  return PixelpipeError.isInstance(error);
}

const label = (model: ImageModel) => `${model.provider}:${model.modelId}`;

export class RouterImageModel implements ImageModel {
  readonly provider = 'router';
  readonly maxImagesPerCall = undefined;
  readonly modelId: string;

  constructor(private readonly settings: RouterSettings) {
    this.modelId = settings.name ?? 'router';
    if (settings.fallback.length === 0 && !settings.rules?.length) {
      throw new InvalidArgumentError({ argument: 'fallback', value: [], message: 'a router needs at least one model in `fallback` or in a rule' });
    }
  }

  /** The candidates for a call, in order, and why. */
  plan(options: ImageModelCallOptions): Omit<ImageModelRouting, 'chosen'> & { models: ImageModel[] } {
    const parsed = routerOptionsSchema.safeParse(options.providerOptions?.router ?? {});
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const argument = ['providerOptions', 'router', ...issue.path.map(String)].join('.');
      throw new InvalidArgumentError({ argument, value: options.providerOptions?.router, message: `\`${argument}\` is invalid: ${issue.message}; the router takes only \`maxCostUsd\`` });
    }
    const { rules = [], fallback } = this.settings;
    const maxCostUsd = parsed.data.maxCostUsd ?? this.settings.maxCostUsd;
    let rule = 'fallback';
    let reason = 'no rule matched: the fallback list in order';
    let ordered = fallback;
    for (const candidate of rules) {
      const matched = candidate.when(options);
      if (matched === undefined) continue;
      rule = candidate.name;
      reason = matched;
      ordered = [...candidate.models, ...fallback.filter((model) => !candidate.models.includes(model))];
      break;
    }
    const skipped: ImageModelRouting['skipped'] = [];
    const models = ordered.filter((model) => {
      if (maxCostUsd === undefined) return true;
      const cost = estimateCost({ provider: model.provider, modelId: model.modelId, images: options.n, width: options.width, height: options.height });
      if (cost === undefined || cost.amountUsd <= maxCostUsd) return true;
      skipped.push({ model: label(model), reason: `estimated $${cost.amountUsd} (${cost.basis}) is above the ceiling of $${maxCostUsd}` });
      return false;
    });
    return { router: this.modelId, rule, reason, candidates: models.map(label), skipped, models };
  }

  async doGenerate(options: ImageModelCallOptions): Promise<ImageModelResult> {
    const { models, ...routing } = this.plan(options);
    if (models.length === 0) {
      throw new InvalidArgumentError({ argument: 'maxCostUsd', value: this.settings.maxCostUsd, message: `router ${this.modelId}: every candidate is above the cost ceiling (${routing.skipped.map((entry) => `${entry.model}: ${entry.reason}`).join('; ')}); raise \`maxCostUsd\` or add a cheaper model` });
    }
    const attempts: ImageModelAttempt[] = [];
    const fallBack = this.settings.shouldFallBack ?? shouldFallBack;
    let lastError: unknown;
    for (const model of models) {
      const started = performance.now();
      try {
        const result = await model.doGenerate(options);
        attempts.push({ provider: model.provider, modelId: model.modelId, outcome: 'succeeded', durationMs: Math.round(performance.now() - started) });
        return { ...result, attempts: [...attempts, ...(result.attempts ?? [])], routing: { ...routing, chosen: label(model) } };
      } catch (error) {
        const failure = PixelpipeError.isInstance(error) ? error : undefined;
        attempts.push({
          provider: model.provider,
          modelId: model.modelId,
          outcome: 'failed',
          statusCode: (error as { statusCode?: number }).statusCode,
          error: { name: failure?.name ?? 'Error', message: (error as Error)?.message ?? String(error), isRetryable: failure?.isRetryable ?? false },
          durationMs: Math.round(performance.now() - started),
        });
        lastError = error;
        if (options.abortSignal?.aborted || !fallBack(error)) throw error;
      }
    }
    const summary = attempts.map((attempt) => `${attempt.provider}:${attempt.modelId}: ${attempt.error?.name}: ${attempt.error?.message}`).join('\n  ');
    throw new RouterExhaustedError({ router: this.modelId, attempts, cause: lastError, message: `router ${this.modelId}: every candidate failed:\n  ${summary}` });
  }
}
