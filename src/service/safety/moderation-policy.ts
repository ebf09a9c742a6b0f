// The moderation policy: what is allowed, flagged or blocked in prompts and images, read from a YAML or JSON file and checked with one schema.
//
// A policy file (YAML; JSON is YAML too). Every section may be left out; `image` then is the built-in one.
//
//   name: strict                      # shown in records and the audit log; default: the file's name
//   terms:                            # whole words or phrases, any case
//     block: [gore, "beheading"]
//     flag: [blood]
//   patterns:                         # JavaScript regular expressions, any case
//     - { pattern: '\bkill(ing|ed)?\b', action: flag, category: violence }
//     - { pattern: 'clothe[sd]|clothing', action: block, in: negativePrompt }
//   categories:                       # what a classifier's category leads to; threshold: score from 0 to 1,
//     sexual/minors: { action: block, threshold: 0.01 }  # left out: the classifier's own flag decides
//     sexual: block
//     violence: { action: flag, threshold: 0.7 }
//   otherCategories: flag             # a category the classifier flags that is not listed above
//   prompt:                           # none | openai | llama-guard
//     classifier: llama-guard
//     baseURL: http://127.0.0.1:11434/v1
//     model: llama-guard3:8b
//   image:                            # none | nsfwjs | openai (the moderation endpoint with the image)
//     classifier: nsfwjs
//     model: mobilenet_v2
//     classes: { Porn: { action: block, threshold: 0.85 }, Hentai: { action: block, threshold: 0.85 } }
//
// `off` instead of a policy checks nothing, and says so in the audit log.
import { readFile } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import { isMap, isScalar, LineCounter, parseDocument, type Document } from 'yaml';
import { z } from 'zod';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';

/**
 * The categories a policy may name: OpenAI moderation's, then Llama Guard 3's hazards that have no
 * OpenAI counterpart (see `llamaGuardCategories`).
 */
export const moderationCategories = [
  'harassment', 'harassment/threatening', 'hate', 'hate/threatening', 'illicit', 'illicit/violent',
  'self-harm', 'self-harm/instructions', 'self-harm/intent', 'sexual', 'sexual/minors', 'violence', 'violence/graphic',
  'sex-crimes', 'defamation', 'specialized-advice', 'privacy', 'intellectual-property', 'elections', 'code-interpreter-abuse',
] as const;

export type ModerationCategory = (typeof moderationCategories)[number];

/** nsfwjs's classes; each image's probabilities over them sum to 1. */
export const nsfwClasses = ['Drawing', 'Hentai', 'Neutral', 'Porn', 'Sexy'] as const;

export type NsfwClass = (typeof nsfwClasses)[number];

/** The models nsfwjs ships, weights included. */
export const nsfwModels = ['mobilenet_v2', 'mobilenet_v2_mid', 'inception_v3'] as const;

const oneOf = (values: readonly string[]) => `must be one of ${values.join(', ')}`;
const action = z.enum(['allow', 'flag', 'block'], { error: oneOf(['allow', 'flag', 'block']) });
const threshold = z.number({ error: 'must be a number from 0 to 1' }).min(0, 'must be a number from 0 to 1').max(1, 'must be a number from 0 to 1');
// `sexual: block` is short for `sexual: { action: block }`.
const categoryRule = z.union([action.transform((value): { action: typeof value; threshold?: number } => ({ action: value })), z.strictObject({ action, threshold: threshold.optional() })], { error: 'must be allow, flag or block, or { action, threshold }' });
const classRule = z.strictObject({ action, threshold });
const term = z.string().trim().min(1, 'must not be empty');
const url = z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }).transform((value) => value.replace(/\/+$/, ''));
const variable = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be the name of an environment variable (letters, digits, _), not the key itself');

function knownKeys<T extends string>(known: readonly T[], what: string) {
  return (record: Record<string, unknown>, context: z.RefinementCtx) => {
    for (const key of Object.keys(record)) {
      if (!known.includes(key as T)) context.addIssue({ code: 'custom', path: [key], message: `is no known ${what}; known: ${known.join(', ')}` });
    }
  };
}

// OpenAI's moderation endpoint reads prompts and images alike.
const openaiClassifier = z.strictObject({ classifier: z.literal('openai'), baseURL: url.default('https://api.openai.com/v1'), model: z.string().min(1).default('omni-moderation-latest'), apiKeyVariable: variable.default('OPENAI_API_KEY') });

const promptSchema = z.discriminatedUnion('classifier', [
  z.strictObject({ classifier: z.literal('none') }),
  openaiClassifier,
  z.strictObject({ classifier: z.literal('llama-guard'), baseURL: url, model: z.string().min(1), apiKeyVariable: variable.optional() }),
], { error: oneOf(['none', 'openai', 'llama-guard']) });

const imageSchema = z.discriminatedUnion('classifier', [
  z.strictObject({ classifier: z.literal('none') }),
  z.strictObject({
    classifier: z.literal('nsfwjs'),
    model: z.enum(nsfwModels, { error: oneOf(nsfwModels) }).default('mobilenet_v2'),
    classes: z.record(z.string(), classRule).superRefine(knownKeys(nsfwClasses, 'nsfwjs class')),
  }),
  openaiClassifier,
], { error: oneOf(['none', 'nsfwjs', 'openai']) });

/** The built-in image check: nsfwjs blocks likely pornography and hentai and flags likely suggestive images. */
const defaultImage = {
  classifier: 'nsfwjs',
  model: 'mobilenet_v2',
  classes: { Porn: { action: 'block', threshold: 0.85 }, Hentai: { action: 'block', threshold: 0.85 }, Sexy: { action: 'flag', threshold: 0.9 } },
} as const;

const policySchema = z.strictObject({
  /** Shown in records and the audit log. */
  name: z.string().trim().min(1, 'must not be empty').max(100, 'must be at most 100 characters').optional(),
  /** Whole words or phrases of the prompt, matched in any case. */
  terms: z.strictObject({ block: z.array(term).default([]), flag: z.array(term).default([]) }).default({ block: [], flag: [] }),
  /** Regular expressions, matched in any case against the prompt or the negative prompt. */
  patterns: z.array(z.strictObject({
    pattern: z.string().min(1, 'must not be empty').superRefine((pattern, context) => {
      try {
        new RegExp(pattern, 'iu');
      } catch (error) {
        context.addIssue({ code: 'custom', message: `is no valid regular expression (${(error as Error).message.replace(/^Invalid regular expression: /, '')}); fix it, or write the text as a term` });
      }
    }),
    action,
    category: z.enum(moderationCategories, { error: `must be a known category: ${moderationCategories.join(', ')}` }).optional(),
    in: z.enum(['prompt', 'negativePrompt'], { error: oneOf(['prompt', 'negativePrompt']) }).default('prompt'),
  })).default([]),
  /** What each classifier category leads to. */
  categories: z.record(z.string(), categoryRule).superRefine(knownKeys(moderationCategories, 'category')).default({}),
  /** What a category the classifier flags, and `categories` does not list, leads to. */
  otherCategories: action.default('flag'),
  prompt: promptSchema.default({ classifier: 'none' }),
  image: imageSchema.default(defaultImage),
});

/** A checked policy, as stored with an API key and passed to the checks. */
export type ModerationPolicy = z.output<typeof policySchema> & { name: string };
export type ModerationAction = z.output<typeof action>;
export type PromptClassifier = ModerationPolicy['prompt'];
export type ImageClassifier = ModerationPolicy['image'];

/** A policy, or `off`: nothing is checked, and the audit log says so. */
export type PolicySetting = ModerationPolicy | 'off';

/** The built-in policy: no term lists and no prompt classifier; the image check is nsfwjs's (see `defaultImage`). */
export const defaultModerationPolicy: ModerationPolicy = { ...policySchema.parse({}), name: 'default' };

/** The name a setting is recorded under. */
export const policyName = (setting: PolicySetting): string => (setting === 'off' ? 'off' : setting.name);

// Fields the policy has at each level, for an unknown one.
function fieldsAt(path: readonly PropertyKey[]): string {
  const [first, second] = path;
  if (path.length === 0) return Object.keys(policySchema.shape).join(', ');
  if (first === 'terms') return 'block, flag';
  if (first === 'patterns') return 'pattern, action, category, in';
  if (first === 'categories' || (first === 'image' && second === 'classes')) return 'action, threshold';
  if (first === 'prompt') return 'classifier; baseURL, model, apiKeyVariable (openai, llama-guard)';
  return 'classifier; model, classes (nsfwjs); baseURL, model, apiKeyVariable (openai)';
}

const shown = (value: unknown) => {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
};

function problemOf(issue: z.core.$ZodIssue, data: unknown): { path: PropertyKey[]; problem: string } {
  if (issue.code === 'unrecognized_keys') {
    return { path: [...issue.path, issue.keys[0]!], problem: `is no field here; the fields are ${fieldsAt(issue.path)}` };
  }
  if (issue.code === 'invalid_type' && valueAt(data, issue.path) === undefined) return { path: issue.path, problem: `is missing; add it` };
  if (issue.code === 'invalid_type' && issue.message.startsWith('Invalid input')) {
    const expected = issue.expected === 'array' ? 'a list' : issue.expected === 'object' ? 'a mapping of fields' : `a ${issue.expected}`;
    return { path: issue.path, problem: `must be ${expected}` };
  }
  return { path: issue.path, problem: issue.message };
}

const valueAt = (data: unknown, path: readonly PropertyKey[]) => path.reduce<unknown>((value, key) => (value as Record<PropertyKey, unknown> | undefined)?.[key], data);

/** Where a problem sits in the file: `file:line:column` of its field's key, walking up to the nearest field that exists. */
function locate(origin: string, document: Document | undefined, lines: LineCounter | undefined, path: readonly PropertyKey[]): string {
  for (let length = path.length; document && lines && length >= 0; length -= 1) {
    const parent = length === 0 ? undefined : document.getIn(path.slice(0, length - 1) as unknown[], true);
    const key = isMap(parent) ? parent.items.find((pair) => isScalar(pair.key) && String(pair.key.value) === String(path[length - 1]))?.key : undefined;
    const node = (isScalar(key) ? key : document.getIn(path.slice(0, length) as unknown[], true)) as { range?: [number, number, number] } | undefined;
    if (node?.range) {
      const { line, col } = lines.linePos(node.range[0]);
      return `${origin}:${line}:${col}`;
    }
  }
  return origin;
}

interface Source {
  /** The file (or what else the policy came from), named in errors. */
  origin: string;
  /** The `name` of a policy that gives none. */
  name: string;
  document?: Document;
  lines?: LineCounter;
}

function parseWith(data: unknown, { origin, name, document, lines }: Source): ModerationPolicy {
  const parsed = policySchema.safeParse(data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const { path, problem } = problemOf(issue, data);
    const field = path.map(String).join('.') || 'policy';
    // A field that should not be there is named; its value says nothing more.
    const got = /^is (no field|no known|missing)/.test(problem) ? '' : `, got ${shown(valueAt(data, path))}`;
    throw new InvalidArgumentError({ argument: field, value: valueAt(data, path), message: `${locate(origin, document, lines, path)}: moderation policy \`${field}\` ${problem}${got}` });
  }
  return { ...parsed.data, name: parsed.data.name ?? name };
}

/** Checks a policy given as data (one from code, or through the admin socket); `origin` names it in errors; without a `name` it is `custom`. */
export function parseModerationPolicy(data: unknown, origin = 'moderationPolicy'): PolicySetting {
  if (data === 'off') return 'off';
  return parseWith(data, { origin, name: 'custom' });
}

/** Checks a policy file's text (YAML or JSON); errors name `file`, the line and column, the field, the value and the fix. */
export function parseModerationPolicyText(text: string, file: string): PolicySetting {
  const lines = new LineCounter();
  const document = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const [syntax] = document.errors;
  if (syntax) {
    const { line, col } = lines.linePos(syntax.pos[0]);
    const position = `:${line}:${col}`;
    throw new InvalidArgumentError({ argument: 'moderationPolicy', value: file, message: `${file}${position}: the moderation policy is not valid YAML or JSON (${syntax.message.split('\n')[0]}); fix the file, or give \`off\`` });
  }
  const data: unknown = document.toJS();
  if (data === 'off') return 'off';
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new InvalidArgumentError({ argument: 'moderationPolicy', value: file, message: `${file}: a moderation policy must be a mapping of fields (name, terms, patterns, categories, otherCategories, prompt, image), or \`off\`; got ${shown(data)}` });
  }
  return parseWith(data, { origin: file, name: basename(file, extname(file)), document, lines });
}

/** The policy `source` names: `off`, `default` (the built-in policy), or a YAML or JSON file. */
export async function loadModerationPolicy(source: string): Promise<PolicySetting> {
  if (source === 'off') return 'off';
  if (source === 'default') return defaultModerationPolicy;
  let text: string;
  try {
    text = await readFile(source, 'utf8');
  } catch (error) {
    throw new InvalidArgumentError({ argument: 'moderationPolicy', value: source, message: `the moderation policy file ${source} cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); give a YAML or JSON policy file, \`default\` or \`off\``, cause: error });
  }
  return parseModerationPolicyText(text, source);
}
