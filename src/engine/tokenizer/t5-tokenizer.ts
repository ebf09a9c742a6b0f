// T5's SentencePiece Unigram tokenizer (SD3's tokenizer_3, FLUX's tokenizer_2) read from tokenizer.json, padded and truncated as pipelines call it.
//
// Reference call, as diffusers' SD3 and FLUX pipelines make it:
//   tokenizer_3(prompt, padding="max_length", max_length=256 (FLUX: 512), truncation=True, add_special_tokens=True)
// → the prompt's pieces, cut to max_length − 1, then `</s>`, then pad ids up to max_length.
//
// Library or by hand: @huggingface/tokenizers 0.2.0 runs the whole tokenizer.json pipeline here (added
// tokens, normaliser, Metaspace, Unigram Viterbi with unknown pieces fused), so only padding and
// truncation are ours. It gives transformers' slow T5Tokenizer ids (sentencepiece, legacy=True) for
// all 14 prompts of the SD3 reference (case, runs of spaces/tabs/newlines, punctuation, digits, accents,
// CJK, emoji, literal special-token text, a prompt past the length), `a red cube` → [3, 20, 8, 4, 26, 22, 1].
// What it approximates: its `Precompiled` normaliser does not read `precompiled_charsmap`; it drops
// control characters, maps the whitespace-like characters nmt_nfkc maps (tab, newline, NBSP, U+2000–200F,
// U+3000, U+2581, ...) to a space and applies Unicode NFKC (keeping U+FF5E, as the charsmap does).
// sentencepiece's charsmap is NFKC as of the Unicode version it was built from, so characters whose
// NFKC mapping changed since, or that it lists specially beyond those above, can differ. The
// tokenizer.json's own Strip/Replace normalisers then do sentencepiece's remove_extra_whitespaces
// (runs of spaces → one `▁`, trailing spaces dropped).
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import * as tokenizers from '@huggingface/tokenizers';
import { InvalidModelError } from '../../spec/errors/invalid-model-error.js';

// The package's .d.ts files re-export through extensionless relative paths, which NodeNext
// resolution cannot follow, so its types arrive empty; this names the part we use
// (types/core/Tokenizer.d.ts in the package).
interface LibraryTokenizer {
  encode(text: string, options: { add_special_tokens: boolean }): { ids: number[] };
  token_to_id(token: string): number | undefined;
}
type LibraryTokenizerConstructor = new (tokenizerJson: object, tokenizerConfig: object) => LibraryTokenizer;
const { Tokenizer } = tokenizers as unknown as { Tokenizer: LibraryTokenizerConstructor };

/** One prompt's ids, ready for the T5 encoder. */
export interface T5TokenizerOutput {
  /** The prompt's pieces, `</s>`, then padding: always `maxLength` long. */
  ids: number[];
  /** True when the prompt had more than maxLength − 1 pieces and the rest was cut off. */
  truncated: boolean;
  /** Ids before padding, `</s>` included (transformers' attention_mask sum). */
  tokenCount: number;
}

export interface T5TokenizerOptions {
  /** Length of every `ids`, `</s>` included: 256 for SD3, 512 for FLUX (the pipelines' max_sequence_length). */
  maxLength: number;
}

export class T5Tokenizer {
  readonly maxLength: number;
  readonly padTokenId: number;
  readonly eosTokenId: number;

  private constructor(
    private readonly tokenizer: LibraryTokenizer,
    ids: { pad: number; eos: number },
    { maxLength }: T5TokenizerOptions,
  ) {
    this.maxLength = maxLength;
    this.padTokenId = ids.pad;
    this.eosTokenId = ids.eos;
  }

  /** A `tokenizer_3/` (SD3) or `tokenizer_2/` (FLUX) folder holding tokenizer.json; throws InvalidModelError when it is missing or not a T5 tokenizer. */
  static async fromFolder(tokenizerFolder: string, options: T5TokenizerOptions): Promise<T5Tokenizer> {
    const folder = resolve(tokenizerFolder);
    if (!Number.isInteger(options.maxLength) || options.maxLength < 1) {
      throw new InvalidModelError({ model: folder, message: `the T5 tokenizer's \`maxLength\` must be a positive integer, got ${options.maxLength}` });
    }
    const tokenizerJson = await readJson(folder, 'tokenizer.json', true);
    const config = (await readJson(folder, 'tokenizer_config.json', false)) ?? {};
    const model = tokenizerJson.model as { type?: unknown } | undefined;
    if (model?.type !== 'Unigram') {
      throw new InvalidModelError({
        model: folder,
        file: 'tokenizer.json',
        message: `${join(folder, 'tokenizer.json')} holds a ${String(model?.type)} model, not the SentencePiece Unigram model of a T5 tokenizer`,
      });
    }
    let tokenizer: LibraryTokenizer;
    try {
      tokenizer = new Tokenizer(tokenizerJson, config);
    } catch (error) {
      throw new InvalidModelError({ model: folder, file: 'tokenizer.json', message: `${join(folder, 'tokenizer.json')} could not be read as a tokenizer: ${(error as Error).message}`, cause: error });
    }
    const idOf = (key: string, fallback: string): number => {
      const token = tokenContent(config[key]) ?? fallback;
      const id = tokenizer.token_to_id(token);
      if (id === undefined) {
        throw new InvalidModelError({ model: folder, file: 'tokenizer.json', message: `${join(folder, 'tokenizer.json')} has no ${key} ${JSON.stringify(token)}` });
      }
      return id;
    };
    return new T5Tokenizer(tokenizer, { pad: idOf('pad_token', '<pad>'), eos: idOf('eos_token', '</s>') }, options);
  }

  encode(text: string): T5TokenizerOutput {
    // Special tokens added by us rather than the post-processor, so truncation can keep `</s>` last
    // as transformers' truncation=True does.
    const pieces = this.tokenizer.encode(text, { add_special_tokens: false }).ids;
    const room = this.maxLength - 1;
    const truncated = pieces.length > room;
    const unpadded = [...(truncated ? pieces.slice(0, room) : pieces), this.eosTokenId];
    const ids = unpadded.concat(new Array<number>(this.maxLength - unpadded.length).fill(this.padTokenId));
    return { ids, truncated, tokenCount: unpadded.length };
  }
}

async function readJson(folder: string, file: string, required: true): Promise<Record<string, unknown>>;
async function readJson(folder: string, file: string, required: false): Promise<Record<string, unknown> | undefined>;
async function readJson(folder: string, file: string, required: boolean): Promise<Record<string, unknown> | undefined> {
  const path = join(folder, file);
  if (!existsSync(path)) {
    if (!required) return undefined;
    throw new InvalidModelError({ model: folder, file, message: `${path} is missing: a T5 tokenizer folder needs tokenizer.json (transformers' fast-tokenizer file)` });
  }
  try {
    return JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
  } catch (error) {
    throw new InvalidModelError({ model: folder, file, message: `${path} is not valid JSON: ${(error as Error).message}`, cause: error });
  }
}

/** A special token as tokenizer_config.json spells it: a string or an AddedToken object with `content`. */
function tokenContent(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object' && typeof (value as { content?: unknown }).content === 'string') return (value as { content: string }).content;
  return undefined;
}
