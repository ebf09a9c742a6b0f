// One moderation decision, how classifier scores become one under a policy, and which of several wins.
import type { ModerationAction, ModerationPolicy } from './moderation-policy.js';

/** What a check decided, and why. */
export interface ModerationDecision {
  /** `off` when the policy is off and nothing was checked. */
  action: ModerationAction | 'off';
  /** The policy rule that decided: `terms.block`, `patterns.2`, `categories.sexual`, `otherCategories`, `image.classes.Porn`. */
  rule?: string;
  /** The category (or nsfwjs class) the rule is about. */
  category?: string;
  /** The classifier asked, e.g. `openai:omni-moderation-latest`, `llama-guard:llama-guard3:8b`, `nsfwjs:mobilenet_v2`. */
  classifier?: string;
  /** The classifier's scores (0 to 1) per category or class. */
  scores?: Record<string, number>;
  /** The term, or the text a pattern matched. */
  matched?: string;
}

/** What a classifier said about one input. */
export interface ClassifierResult {
  /** `kind:model`, e.g. `openai:omni-moderation-latest`. */
  classifier: string;
  /** Per category: whether the classifier itself flagged it, and its score (1 from a yes/no classifier). */
  categories: Record<string, { flagged: boolean; score: number }>;
  /** What else the answer said that the audit log keeps, e.g. Llama Guard's hazard codes. */
  details?: Record<string, unknown>;
}

const severity: Record<ModerationDecision['action'], number> = { off: 0, allow: 0, flag: 1, block: 2 };

/** The most severe decision; among equals, the first. */
export function mostSevere(decisions: readonly ModerationDecision[]): ModerationDecision {
  return decisions.reduce((worst, decision) => (severity[decision.action] > severity[worst.action] ? decision : worst), { action: 'allow' });
}

// Scores are kept to four places: enough to compare with a threshold, small in the audit log.
const rounded = (score: number) => Math.round(score * 1e4) / 1e4;

/**
 * Applies the policy's `categories` to a classifier's result: a listed category with a threshold
 * acts when its score reaches the threshold, one without when the classifier flagged it; a flagged
 * category the policy does not list gets `otherCategories`. The most severe action wins, then the highest score.
 */
export function decideCategories(result: ClassifierResult, policy: Pick<ModerationPolicy, 'categories' | 'otherCategories'>): ModerationDecision {
  const scores = Object.fromEntries(Object.entries(result.categories).map(([category, { score }]) => [category, rounded(score)]));
  const hits: (ModerationDecision & { score: number })[] = [];
  for (const [category, { flagged, score }] of Object.entries(result.categories)) {
    const rule = policy.categories[category];
    if (rule) {
      if (rule.threshold === undefined ? flagged : score >= rule.threshold) hits.push({ action: rule.action, rule: `categories.${category}`, category, score });
    } else if (flagged) {
      hits.push({ action: policy.otherCategories, rule: 'otherCategories', category, score });
    }
  }
  hits.sort((a, b) => severity[b.action] - severity[a.action] || b.score - a.score);
  const [first] = hits;
  const decided = first && first.action !== 'allow' ? { action: first.action, rule: first.rule, category: first.category } : { action: 'allow' as const };
  return { ...decided, classifier: result.classifier, scores };
}
