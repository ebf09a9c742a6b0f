// Rules a router uses to pick candidates: which calls need a capability (rendered text, editing), written as plain functions.
import type { ImageModel } from '../../spec/image-model.js';
import type { ImageModelCallOptions } from '../../spec/image-model-call-options.js';

export interface RouterRule {
  /** Reported in the result's `routing.rule`, e.g. `rendered-text`. */
  name: string;
  /** A reason (in words) when the rule applies to this call, undefined when it does not. */
  when: (options: ImageModelCallOptions) => string | undefined;
  /** Candidates for calls the rule matches, tried in order before the fallback list. */
  models: ImageModel[];
}

// Quoted words in a prompt are the usual way to ask for text in the image: "OPEN", 'Café', “Sale”.
const quoted = /["“”„«»「」]([^"“”„«»「」]{1,80})["“”„«»「」]|(?:^|\s)'([^']{1,80})'(?=[\s,.!?;:]|$)/u;
const textWords = /\b(?:typography|lettering|calligraphy|headline|caption|logo(?:type)? (?:that )?(?:says|reads|with the (?:text|words?))|signs? (?:that )?(?:says|reads|reading|saying)|(?:with|showing) the (?:text|words?|title)|text (?:that )?(?:says|reads)|the words?|titled|poster (?:that )?(?:says|reads))\b/iu;

/** Why the prompt asks for text rendered in the image, or undefined when it does not seem to. */
export function asksForRenderedText(prompt: string): string | undefined {
  const quote = quoted.exec(prompt);
  if (quote) return `the prompt quotes ${JSON.stringify(quote[1] ?? quote[2])} to be written in the image`;
  const words = textWords.exec(prompt);
  if (words) return `the prompt asks for text ("${words[0]}")`;
  return undefined;
}

/** Prompts that ask for rendered text go to `models` (e.g. Ideogram, gpt-image-1) first. */
export function renderedTextRule(models: ImageModel[]): RouterRule {
  return { name: 'rendered-text', when: (options) => asksForRenderedText(options.prompt), models };
}

/** Calls with an input image go to models that edit. */
export function editingRule(models: ImageModel[]): RouterRule {
  return { name: 'editing', when: (options) => (options.images?.length ? `the call edits ${options.images.length} input image${options.images.length === 1 ? '' : 's'}` : undefined), models };
}
