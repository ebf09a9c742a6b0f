// The prompt check: the policy's terms and patterns, then its classifier; the most severe decision wins.
import type { ClassifierOptions } from './classifier-client.js';
import { llamaGuardModeration } from './llama-guard.js';
import { decideCategories, mostSevere, type ClassifierResult, type ModerationDecision } from './moderation-decision.js';
import type { ModerationPolicy, PolicySetting, PromptClassifier } from './moderation-policy.js';
import { openaiModeration } from './openai-moderation.js';

/** A policy's term lists and patterns compiled once: word-bounded terms and patterns, in any case. */
interface CompiledRules {
  rules: { rule: string; action: ModerationDecision['action']; category?: string; in: 'prompt' | 'negativePrompt'; expression: RegExp }[];
}

const compiled = new WeakMap<ModerationPolicy, CompiledRules>();

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
// A term is whole words: no letter, digit or underscore may touch it, and any run of spaces in it matches any whitespace.
const termExpression = (term: string) => new RegExp(`(?<![\\p{L}\\p{N}_])${term.split(/\s+/).map(escape).join('\\s+')}(?![\\p{L}\\p{N}_])`, 'iu');

function rulesOf(policy: ModerationPolicy): CompiledRules {
  let rules = compiled.get(policy);
  if (!rules) {
    rules = {
      rules: [
        ...policy.terms.block.map((term) => ({ rule: 'terms.block', action: 'block' as const, in: 'prompt' as const, expression: termExpression(term) })),
        ...policy.patterns.map((pattern, index) => ({ rule: `patterns.${index}`, action: pattern.action, category: pattern.category, in: pattern.in, expression: new RegExp(pattern.pattern, 'iu') })),
        ...policy.terms.flag.map((term) => ({ rule: 'terms.flag', action: 'flag' as const, in: 'prompt' as const, expression: termExpression(term) })),
      ],
    };
    compiled.set(policy, rules);
  }
  return rules;
}

/** Asks the classifier the policy's `prompt.classifier` names. */
function classifyPrompt(prompt: string, classifier: Exclude<PromptClassifier, { classifier: 'none' }>, options: ClassifierOptions): Promise<ClassifierResult> {
  switch (classifier.classifier) {
    case 'openai':
      return openaiModeration({ text: prompt }, classifier, options);
    case 'llama-guard':
      return llamaGuardModeration(prompt, classifier, options);
  }
}

/**
 * Checks a prompt (and its negative prompt, which only patterns with `in: negativePrompt` read: a
 * negative prompt names what the image must not show). Blocked terms, patterns and flagged terms
 * are matched first; when none blocks, the classifier is asked, and the most severe decision wins
 * (among equals, the first of: blocked terms, patterns in their order, flagged terms, the classifier).
 * A classifier that fails or answers nonsense throws: nothing is taken as allowed unchecked.
 */
export async function moderatePrompt(prompt: string, negativePrompt: string | undefined, policy: PolicySetting, options: ClassifierOptions = {}): Promise<ModerationDecision> {
  if (policy === 'off') return { action: 'off' };
  const decisions: ModerationDecision[] = [];
  for (const { rule, action, category, in: field, expression } of rulesOf(policy).rules) {
    const text = field === 'prompt' ? prompt : negativePrompt;
    const match = text === undefined ? null : expression.exec(text);
    if (match) decisions.push({ action, rule, ...(category ? { category } : {}), matched: match[0] });
  }
  const matched = mostSevere(decisions);
  if (matched.action === 'block' || policy.prompt.classifier === 'none') return matched;
  const classified = decideCategories(await classifyPrompt(prompt, policy.prompt, options), policy);
  // The classifier's scores are kept even when a term decided.
  return { ...mostSevere([...decisions, classified]), classifier: classified.classifier, scores: classified.scores };
}
