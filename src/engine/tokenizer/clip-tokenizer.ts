// CLIP BPE tokenizer giving exactly the input_ids of transformers' slow CLIPTokenizer (4.38, ftfy absent), padded to maxLength.
//
// Reference call, as Stable Diffusion pipelines make it:
//   tokenizer(prompt, padding="max_length", max_length=77, truncation=True)
// which runs: cut out added/special tokens (exact case) → BasicTokenizer clean-up (basic-tokenizer.ts)
// → CLIP's regex (case-insensitive) → UTF-8 bytes as printable characters → BPE with </w> → ids,
// then keep the first maxLength − 2, wrap in bos/eos and pad with the config's pad token.
//
// Library or by hand: @huggingface/tokenizers 0.2.0 does the BPE merges here (its `BPE` model, whose
// LRU cache also keeps each word's result, as prompts repeat); the steps around it are ours, because
// its `Tokenizer` pipeline cannot be configured to match the slow tokenizer. Tested with a
// tokenizer.json built from vocab.json + merges.txt:
// - as the fast CLIP tokenizer.json is (NFC, \s+ → " ", lower-case, split regex, ByteLevel): wrong on
//   CJK (`日本語のテキスト`, both tiny fixtures: no spacing around ideographs, so 日 is not a word of its
//   own) and on control characters (`1\u00002\uFFFD3` keeps NUL and U+FFFD; format characters such as
//   ZWJ inside emoji sequences are kept too);
// - with our BasicTokenizer clean-up in front: all 28 conformance cases and every documented
//   real-vocabulary case right, but 530–570 of 20,000 random strings (per pad token) wrong against a
//   direct port of the slow tokenizer, all from two causes, both confirmed with Python's `regex`:
//   (1) special-token text in another case right after punctuation: slow finds `?<|`, `startoftext`,
//       `|>` in `?<|STARTOFTEXT|>` (its regex match for the punctuation run swallows the `<|`), while
//       the library, splitting added tokens after normalisation, gives the special id; splitting
//       before normalisation instead loses `a <|STARTOFTEXT|> b`, which slow maps to the special id;
//   (2) `'ſ` (long s): slow's IGNORECASE regex takes it as the contraction `'s`; the library's split
//       regex is case-sensitive.
//   With those two excluded, 0 of 40,000 random strings differed, the library's BPE included.
// This class as a whole gave the same ids as a Python restatement of the slow tokenizer (Python 3.11's
// unicodedata, str.lower and `regex`) on 38,189 random strings for both pad tokens; the only strings
// left out held characters assigned after Python's Unicode 14 (see basic-tokenizer.ts).

import * as tokenizers from '@huggingface/tokenizers';
import { basicTokenize } from './basic-tokenizer.js';
import { byteLevelAlphabet, readClipBpeFile, readTokenizerFolder, type ClipVocabulary } from './clip-vocabulary.js';

// The package's .d.ts files re-export through extensionless relative paths, which NodeNext
// resolution cannot follow, so its types arrive empty; this names the part we use
// (types/core/tokenizerModelImplementations/BPE.d.ts in the package).
interface BytePairModel {
  /** The word's BPE pieces, </w> on the last; cached (LRU, 10,000 words). The array is shared: do not mutate. */
  bpe(word: string): string[];
}
type BytePairModelConstructor = new (config: {
  type: 'BPE';
  vocab: Record<string, number>;
  merges: Array<[string, string]>;
  end_of_word_suffix: string;
  unk_token: string;
  ignore_merges: boolean;
}) => BytePairModel;
const { BPE } = tokenizers as unknown as { BPE: BytePairModelConstructor };

/** One prompt's ids, ready for the text encoder. */
export interface TokenizerOutput {
  /** bos, the prompt's tokens, eos, then padding: always `maxLength` long. */
  ids: number[];
  /** True when the prompt had more than maxLength − 2 tokens and the rest was cut off. */
  truncated: boolean;
  /** Ids before padding, bos and eos included (transformers' attention_mask sum). */
  tokenCount: number;
}

// CLIP's regex, as tokenization_clip.py compiles it with regex.IGNORECASE. JavaScript's `iu` flags fold
// case the same simple way (`'s` also matches `'ſ`, as in Python) and \p{L}/\p{N} are the same classes.
const wordPattern = /<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\s\p{L}\p{N}]+/giu;
// The slow tokenizer's BPE cache starts out holding these two, so they map to their ids whole even
// when they reach the regex (e.g. typed in upper case, which the exact-case split above misses).
const wordsKeptWhole = new Set(['<|startoftext|>', '<|endoftext|>']);
const byteToCharacter = byteLevelAlphabet().byByte;
const utf8 = new TextEncoder();

/** A regex matching any added token, longest first, so the leftmost match is also the longest (transformers' Trie). */
function addedTokenPattern(contents: Iterable<string>): RegExp | undefined {
  const alternatives = [...contents]
    .filter((content) => content.length > 0)
    .sort((left, right) => right.length - left.length)
    .map((content) => content.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&'));
  return alternatives.length > 0 ? new RegExp(alternatives.join('|'), 'g') : undefined;
}

export class ClipTokenizer {
  /** Length of every `ids`, bos and eos included (77 for SD). */
  readonly maxLength: number;
  readonly padTokenId: number;
  readonly bosTokenId: number;
  readonly eosTokenId: number;
  /** Entries in vocab.json (49,408 for OpenAI CLIP), not counting added tokens outside it. */
  readonly vocabularySize: number;

  private readonly tokenIds: Map<string, number>;
  private readonly addedTokens: Map<string, number>;
  private readonly addedTokenSplitter: RegExp | undefined;
  private readonly unknownTokenId: number;
  private readonly bytePairModel: BytePairModel;

  private constructor(vocabulary: ClipVocabulary) {
    this.tokenIds = new Map(Object.entries(vocabulary.tokenIds));
    this.addedTokens = vocabulary.addedTokens;
    this.addedTokenSplitter = addedTokenPattern(this.addedTokens.keys());
    // Both readers put every special token among the added tokens, with its id.
    const idOf = (token: string): number => this.addedTokens.get(token)!;
    this.maxLength = vocabulary.maxLength;
    this.bosTokenId = idOf(vocabulary.bosToken);
    this.eosTokenId = idOf(vocabulary.eosToken);
    this.padTokenId = idOf(vocabulary.padToken);
    this.unknownTokenId = idOf(vocabulary.unknownToken);
    this.vocabularySize = this.tokenIds.size;
    this.bytePairModel = new BPE({
      type: 'BPE',
      vocab: vocabulary.tokenIds,
      merges: vocabulary.merges,
      end_of_word_suffix: '</w>',
      unk_token: vocabulary.unknownToken,
      ignore_merges: false,
    });
  }

  /** A diffusers/Optimum `tokenizer/` (or `tokenizer_2/`) folder; throws InvalidModelError naming a missing file. */
  static async fromFolder(folder: string): Promise<ClipTokenizer> {
    return new ClipTokenizer(await readTokenizerFolder(folder));
  }

  /**
   * OpenAI's bpe_simple_vocab_16e6.txt.gz. `padToken` defaults to `<|endoftext|>` (SD 1.x); SD 2.x and
   * SDXL's second tokenizer pad with `!`, which then, like every special token, is cut out of prompts
   * and always maps to id 0, as transformers does.
   */
  static async fromClipBpeFile(gzPath: string, options: { padToken?: string } = {}): Promise<ClipTokenizer> {
    return new ClipTokenizer(await readClipBpeFile(gzPath, options.padToken));
  }

  encode(text: string): TokenizerOutput {
    const tokens = this.tokenize(text);
    // truncation=True with one sequence removes from the right until bos + tokens + eos fits.
    const room = this.maxLength - 2;
    const truncated = tokens.length > room;
    const unpadded = [this.bosTokenId, ...(truncated ? tokens.slice(0, room) : tokens), this.eosTokenId];
    const ids = unpadded.concat(new Array<number>(this.maxLength - unpadded.length).fill(this.padTokenId));
    return { ids, truncated, tokenCount: unpadded.length };
  }

  /** The prompt's ids without bos, eos or padding. */
  private tokenize(text: string): number[] {
    const ids: number[] = [];
    let start = 0;
    // Added tokens are found in the raw text, exact case, before any clean-up: transformers splits on them first.
    if (this.addedTokenSplitter) {
      for (const match of text.matchAll(this.addedTokenSplitter)) {
        this.tokenizeChunk(text.slice(start, match.index), ids);
        ids.push(this.addedTokens.get(match[0])!);
        start = match.index + match[0].length;
      }
    }
    this.tokenizeChunk(text.slice(start), ids);
    return ids;
  }

  private tokenizeChunk(chunk: string, ids: number[]): void {
    if (chunk.length === 0) return;
    for (const [word] of basicTokenize(chunk).matchAll(wordPattern)) {
      let byteLevelWord = '';
      for (const byte of utf8.encode(word)) byteLevelWord += byteToCharacter[byte];
      const pieces = wordsKeptWhole.has(byteLevelWord) ? [byteLevelWord] : this.bytePairModel.bpe(byteLevelWord);
      // transformers looks a piece up among the added tokens first, then the vocabulary, then falls back to unk.
      for (const piece of pieces) ids.push(this.addedTokens.get(piece) ?? this.tokenIds.get(piece) ?? this.unknownTokenId);
    }
  }
}
