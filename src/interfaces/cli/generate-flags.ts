// The flags of `pixelpipe generate`: parsed, checked one by one (naming the flag and its value), and
// the library's option names in its errors put back in the flags' spelling.
import { parseArgs } from 'node:util';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';

/** A number flag, undefined when not given; anything else names the flag and the value. */
export function number(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (text.trim() === '' || Number.isNaN(value)) throw new InvalidArgumentError({ argument: flag, value: text, message: `\`--${flag}\` must be a number, got ${JSON.stringify(text)}` });
  return value;
}

/** A whole-number flag of at least 2 (`--upscale`'s factor), undefined when not given. */
export function wholeNumber(flag: string, text: string | undefined): number | undefined {
  const value = number(flag, text);
  if (value !== undefined && (!Number.isInteger(value) || value < 2)) throw new InvalidArgumentError({ argument: flag, value: text, message: `\`--${flag}\` must be a whole number of at least 2, got ${JSON.stringify(text)}` });
  return value;
}

/** `--lora FILE[:SCALE]`: the scale after the last colon when it is a number (so `C:\\x.safetensors` stays a path), else 1. */
export function parseLora(text: string): { path: string; scale: number } {
  const colon = text.lastIndexOf(':');
  const scaleText = colon > 0 ? text.slice(colon + 1) : '';
  if (scaleText !== '' && !/^[-+]?(\d+\.?\d*|\.\d+)$/.test(scaleText) && !/[\\/]/.test(scaleText)) {
    throw new InvalidArgumentError({ argument: 'lora', value: text, message: `\`--lora\` must be FILE or FILE:SCALE with a number for SCALE, got ${JSON.stringify(text)}` });
  }
  if (scaleText !== '' && /^[-+]?(\d+\.?\d*|\.\d+)$/.test(scaleText)) return { path: text.slice(0, colon), scale: Number(scaleText) };
  return { path: text, scale: 1 };
}

/** A flag limited to a few words; anything else names the flag and the choices. */
export function oneOf<const T extends string>(flag: string, text: string | undefined, choices: readonly T[]): T | undefined {
  if (text === undefined) return undefined;
  if (!(choices as readonly string[]).includes(text)) throw new InvalidArgumentError({ argument: flag, value: text, message: `\`--${flag}\` must be one of ${choices.join(', ')}, got ${JSON.stringify(text)}` });
  return text as T;
}

/** Library options whose flag is spelled differently; the library's messages name the option, the user typed the flag. */
const flagOf: Record<string, string> = {
  maskConvention: 'mask-convention',
  negativePrompt: 'negative',
  maskBlur: 'mask-blur',
  vaeDecoderFallback: 'vae-fallback',
};

const optionNames = new RegExp(`\\b(${Object.keys(flagOf).join('|')})\\b`, 'g');

/** `text` (an error or warning of the library) with the options that have flags of another spelling named by their flags. */
export function inFlagTerms(text: string): string {
  return text.replace(optionNames, (name) => `--${flagOf[name]}`);
}

/** Rethrows an `InvalidArgumentError` naming library options (`maskConvention`) as one naming their flags (`--mask-convention`); other errors unchanged. */
export function renameToFlags(error: unknown): never {
  if (!InvalidArgumentError.isInstance(error)) throw error;
  const message = inFlagTerms(error.message);
  if (message === error.message) throw error;
  const argument = Object.hasOwn(flagOf, error.argument) ? flagOf[error.argument]! : error.argument;
  throw new InvalidArgumentError({ argument, value: error.value, message, cause: error });
}

/** The flags as parsed, before their values are checked. */
export type GenerateFlags = ReturnType<typeof parseFlags>['values'];

/** Parses the command's arguments; an unknown flag throws, naming it. */
export function parseFlags(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      model: { type: 'string' }, negative: { type: 'string' }, seed: { type: 'string' }, steps: { type: 'string' },
      guidance: { type: 'string' }, sampler: { type: 'string' }, width: { type: 'string' }, height: { type: 'string' },
      n: { type: 'string' }, out: { type: 'string' }, json: { type: 'boolean' }, 'execution-provider': { type: 'string' },
      threads: { type: 'string' }, help: { type: 'boolean', short: 'h' },
      image: { type: 'string', multiple: true }, mask: { type: 'string' }, 'mask-convention': { type: 'string' }, strength: { type: 'string' },
      fit: { type: 'string' }, extend: { type: 'string' }, 'mask-blur': { type: 'string' }, 'no-composite': { type: 'boolean' },
      'preview-dir': { type: 'string' }, decoder: { type: 'string' }, 'vae-fallback': { type: 'string' }, lora: { type: 'string', multiple: true }, 'max-cost': { type: 'string' },
      control: { type: 'string', multiple: true }, controlnet: { type: 'string', multiple: true }, 'control-start': { type: 'string' }, 'control-end': { type: 'string' }, canny: { type: 'string' },
      'data-dir': { type: 'string' }, 'no-record': { type: 'boolean' }, upscale: { type: 'string' }, 'upscale-model': { type: 'string' },
      'hires-fix': { type: 'boolean' }, 'hires-strength': { type: 'string' }, 'hires-steps': { type: 'string' },
    },
  });
}
