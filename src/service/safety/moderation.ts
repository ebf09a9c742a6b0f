// The moderation a service or the CLI runs: the prompt checked before anything is queued, each image before it is stored, every decision an audit entry.
import { ContentPolicyError } from '../../spec/errors/content-policy-error.js';
import type { ModerationVerdict } from '../image-service-types.js';
import type { EncodedImage, FinishingContext, ImageScreen } from '../provenance/image-finishing.js';
import type { AuditEntry, AuditLog, AuditStage } from './audit-log.js';
import type { ClassifierOptions } from './classifier-client.js';
import { moderateImage, NsfwClassifier, type NsfwModel } from './image-moderation.js';
import type { ModerationDecision } from './moderation-decision.js';
import { policyName, type PolicySetting } from './moderation-policy.js';
import { moderatePrompt } from './prompt-moderation.js';

/** What `createModeration` takes. */
export interface ModerationConfig extends Omit<ClassifierOptions, 'signal'> {
  /** The server's policy, for keys without their own (and calls without a key). */
  policy: PolicySetting;
  /** A key's own policy, when it has one (`keys create --moderation-policy`); for checks that know only the key's id. */
  keyPolicy?: (apiKeyId: string) => Promise<PolicySetting | undefined>;
}

/** Who and what a check is about. */
export interface ModerationContext {
  apiKeyId?: string;
  jobId?: string;
  recordId?: string;
  /** The key's own policy, when the caller has it at hand (the authenticated key); else `keyPolicy` is asked. */
  policy?: PolicySetting;
  signal?: AbortSignal;
}

/** A check's outcome: the decision, the record's short form of it, its audit entry, and the error to throw when it blocks. */
export interface ModerationOutcome {
  decision: ModerationDecision;
  /** The policy's name (`off` when off). */
  policy: string;
  /** What the record keeps. */
  verdict: ModerationVerdict;
  /** The entry to write; at submit time the caller adds the job's id once the job exists. */
  entry: AuditEntry;
  /**
   * Set when nothing may go on: a `ContentPolicyError` naming the rule and category (OpenAI's
   * `content_policy_violation`), or the classifier's own error when it could not be asked (a
   * prompt or image is never let through unchecked).
   */
  refusal?: Error;
}

/** The checks of one process. */
export interface Moderation {
  /** Checks a prompt; never throws for a decision (see `refusal`). */
  checkPrompt(input: { prompt: string; negativePrompt?: string } & ModerationContext): Promise<ModerationOutcome>;
  /** Checks an image; never throws for a decision (see `refusal`). */
  checkImage(image: EncodedImage, context: ModerationContext): Promise<ModerationOutcome>;
  /** Stops the nsfwjs threads. */
  close(): Promise<void>;
}

// Long matches (a pattern such as `.*`) are cut: the audit log keeps why, not the whole prompt.
const shortened = (text: string) => (text.length > 100 ? `${text.slice(0, 97)}...` : text);

function outcomeOf(stage: AuditStage, setting: PolicySetting, decision: ModerationDecision, context: ModerationContext, failure?: Error): ModerationOutcome {
  const policy = policyName(setting);
  const { action, rule, category, classifier, scores, matched } = decision;
  const details = { ...(matched !== undefined ? { matched: shortened(matched) } : {}), ...(failure ? { error: failure.message } : {}) };
  const entry: AuditEntry = Object.fromEntries(Object.entries({
    stage, action, apiKeyId: context.apiKeyId, jobId: context.jobId, recordId: context.recordId, policy, rule, classifier, category, scores,
    details: Object.keys(details).length > 0 ? details : undefined,
  }).filter(([, value]) => value !== undefined)) as unknown as AuditEntry;
  const verdict: ModerationVerdict = { action, ...(rule ? { rule } : {}), ...(category ? { category } : {}) };
  const what = stage === 'prompt' ? 'the prompt' : 'the image';
  const why = [rule, category && `category ${category}`].filter(Boolean).join(', ');
  const refusal = failure ?? (action === 'block'
    ? new ContentPolicyError({ provider: 'pixelpipe', message: `${what} was blocked by the moderation policy ${JSON.stringify(policy)} (${why}); change ${stage === 'prompt' ? 'the prompt' : 'the prompt or settings'}, or ask the server's operator about the policy` })
    : undefined);
  return { decision, policy, verdict, entry, ...(refusal ? { refusal } : {}) };
}

/** Makes the checks; nsfwjs models load on first use, once each. */
export function createModeration({ policy: serverPolicy, keyPolicy, ...options }: ModerationConfig): Moderation {
  const classifiers = new Map<NsfwModel, Promise<NsfwClassifier>>();
  const nsfw = (model: NsfwModel) => {
    let classifier = classifiers.get(model);
    if (!classifier) {
      classifier = NsfwClassifier.start(model);
      // A model that failed to load is tried again by the next check.
      classifier.catch(() => classifiers.delete(model));
      classifiers.set(model, classifier);
    }
    return classifier;
  };
  const policyOf = async ({ policy, apiKeyId }: ModerationContext) => policy ?? (apiKeyId && keyPolicy ? await keyPolicy(apiKeyId) : undefined) ?? serverPolicy;

  async function check(stage: AuditStage, context: ModerationContext, decide: (policy: PolicySetting) => Promise<ModerationDecision>): Promise<ModerationOutcome> {
    const policy = await policyOf(context);
    try {
      return outcomeOf(stage, policy, await decide(policy), context);
    } catch (error) {
      // A caller that stopped waiting gets its abort, not a decision.
      if (context.signal?.aborted) throw error;
      const failure = error instanceof Error ? error : new Error(String(error));
      return outcomeOf(stage, policy, { action: 'block', rule: 'classifier-failed' }, context, failure);
    }
  }

  return {
    checkPrompt: ({ prompt, negativePrompt, ...context }) => check('prompt', context, (policy) => moderatePrompt(prompt, negativePrompt, policy, { ...options, signal: context.signal })),
    checkImage: (image, context) => check('image', context, (policy) => moderateImage(image, policy, { ...options, signal: context.signal, nsfw })),
    async close() {
      const started = [...classifiers.values()];
      classifiers.clear();
      await Promise.all(started.map(async (classifier) => (await classifier.catch(() => undefined))?.close()));
    },
  };
}

/**
 * The image step of finishing (`createImageFinishing({ screen })`): checks each image under its key's
 * policy. A blocked image's decision is written now and its refusal thrown; any other decision's entry
 * goes back with the image, to be written with its record in one transaction.
 */
export function moderationScreen(moderation: Moderation, audit: AuditLog): ImageScreen {
  return async (image: EncodedImage, context: FinishingContext) => {
    const outcome = await moderation.checkImage(image, { apiKeyId: context.apiKeyId, jobId: context.jobId, recordId: context.recordId });
    if (outcome.refusal) {
      await audit.append([outcome.entry]);
      throw outcome.refusal;
    }
    return { verdict: outcome.verdict, entry: outcome.entry };
  };
}
