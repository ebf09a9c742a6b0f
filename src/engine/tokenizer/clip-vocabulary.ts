// Reads a CLIP BPE vocabulary from a Hugging Face tokenizer folder or from OpenAI's bpe_simple_vocab_16e6.txt.gz.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { InvalidModelError } from '../../spec/errors/invalid-model-error.js';

/** Everything a ClipTokenizer needs, whichever file it came from. */
export interface ClipVocabulary {
  /** Token → id, as vocab.json holds it. */
  tokenIds: Record<string, number>;
  /** Merge rules, best (lowest rank) first. */
  merges: Array<[string, string]>;
  /**
   * Strings cut out of the text before any normalisation and mapped straight to an id: the
   * config's added tokens and every special token (transformers adds those too).
   */
  addedTokens: Map<string, number>;
  bosToken: string;
  eosToken: string;
  unknownToken: string;
  padToken: string;
  /** Sequence length after padding, bos and eos included. */
  maxLength: number;
}

// CLIPTokenizer's own defaults, used when a config leaves a special token out.
const defaultSpecialTokens = { bosToken: '<|startoftext|>', eosToken: '<|endoftext|>', unknownToken: '<|endoftext|>', padToken: '<|endoftext|>' };
// CLIP's text encoder has 77 positions. A config without model_max_length gets a huge sentinel from
// transformers (1e30), which no pipeline could pad to, so anything outside this range means "use 77".
const clipContextLength = 77;
const largestSensibleMaxLength = 100_000;
// Both transformers and OpenAI keep merges.txt lines 1 .. 49152 − 256 − 2 (the header is line 0):
// a 49,408-entry vocabulary is 256 bytes, 256 bytes with </w>, 48,894 merges and 2 special tokens.
const mergeLineLimit = 49152 - 256 - 2 + 1;

/** Lines 1 .. 48,894 as (left, right) pairs; lines that are not exactly two symbols can never match, as in Python. */
function parseMerges(lines: string[]): Array<[string, string]> {
  const merges: Array<[string, string]> = [];
  for (const line of lines.slice(1, mergeLineLimit)) {
    const symbols = line.trim().split(/\s+/);
    if (symbols.length === 2) merges.push([symbols[0]!, symbols[1]!]);
  }
  return merges;
}

/**
 * GPT-2's reversible byte → printable character table: `inVocabularyOrder` lists the characters as
 * CLIP's vocabulary does (printable bytes first, then the rest shifted to U+0100 and up);
 * `byByte[b]` is the character standing for byte b.
 */
export function byteLevelAlphabet(): { inVocabularyOrder: string[]; byByte: string[] } {
  const printable: number[] = [];
  for (let byte = 0x21; byte <= 0x7e; byte++) printable.push(byte);
  for (let byte = 0xa1; byte <= 0xac; byte++) printable.push(byte);
  for (let byte = 0xae; byte <= 0xff; byte++) printable.push(byte);
  const byByte = new Array<string>(256);
  const inVocabularyOrder = printable.map((byte) => (byByte[byte] = String.fromCodePoint(byte)));
  let shifted = 0;
  for (let byte = 0; byte < 256; byte++) {
    if (byByte[byte] !== undefined) continue;
    byByte[byte] = String.fromCodePoint(256 + shifted++);
    inVocabularyOrder.push(byByte[byte]);
  }
  return { inVocabularyOrder, byByte };
}

function tokenContent(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && value !== null && typeof (value as { content?: unknown }).content === 'string') return (value as { content: string }).content;
  return undefined;
}

async function readTokenizerFile(folder: string, file: string): Promise<string> {
  const modelFolder = dirname(folder);
  const shownFile = `${basename(folder)}/${file}`;
  const path = join(folder, file);
  if (!existsSync(path)) {
    throw new InvalidModelError({ model: modelFolder, file: shownFile, message: `${shownFile} is missing from ${modelFolder}; the tokenizer needs vocab.json, merges.txt, tokenizer_config.json and special_tokens_map.json (a partial download? fetch the model again)` });
  }
  return readFile(path, 'utf8');
}

async function readTokenizerJson(folder: string, file: string): Promise<Record<string, unknown>> {
  const text = await readTokenizerFile(folder, file);
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch (error) {
    const modelFolder = dirname(folder);
    const shownFile = `${basename(folder)}/${file}`;
    throw new InvalidModelError({ model: modelFolder, file: shownFile, message: `${shownFile} in ${modelFolder} is not valid JSON: ${(error as Error).message}`, cause: error });
  }
}

/** Reads an Optimum/diffusers `tokenizer/` folder: vocab.json, merges.txt, tokenizer_config.json, special_tokens_map.json. */
export async function readTokenizerFolder(tokenizerFolder: string): Promise<ClipVocabulary> {
  const folder = resolve(tokenizerFolder);
  const tokenIds = (await readTokenizerJson(folder, 'vocab.json')) as Record<string, number>;
  const merges = parseMerges((await readTokenizerFile(folder, 'merges.txt')).trim().split('\n'));
  const config = await readTokenizerJson(folder, 'tokenizer_config.json');
  const specialTokensMap = await readTokenizerJson(folder, 'special_tokens_map.json');

  // transformers reads tokenizer_config.json, then lets special_tokens_map.json override it.
  const specialToken = (key: string, fallback: string): string => tokenContent(specialTokensMap[key]) ?? tokenContent(config[key]) ?? fallback;
  const specialTokens = {
    bosToken: specialToken('bos_token', defaultSpecialTokens.bosToken),
    eosToken: specialToken('eos_token', defaultSpecialTokens.eosToken),
    unknownToken: specialToken('unk_token', defaultSpecialTokens.unknownToken),
    padToken: specialToken('pad_token', defaultSpecialTokens.padToken),
  };
  const additional = [specialTokensMap.additional_special_tokens, config.additional_special_tokens]
    .flatMap((list) => (Array.isArray(list) ? list : []))
    .map(tokenContent)
    .filter((content): content is string => content !== undefined);

  const addedTokens = new Map<string, number>();
  const declared = (config.added_tokens_decoder ?? {}) as Record<string, unknown>;
  for (const [id, token] of Object.entries(declared)) {
    const content = tokenContent(token);
    if (content !== undefined) addedTokens.set(content, Number(id));
  }
  for (const content of [...Object.values(specialTokens), ...additional]) {
    if (addedTokens.has(content)) continue;
    const id = tokenIds[content];
    if (id === undefined) {
      throw new InvalidModelError({ model: dirname(folder), file: `${basename(folder)}/vocab.json`, message: `special token "${content}" named in ${basename(folder)}/ is neither in vocab.json nor in added_tokens_decoder` });
    }
    addedTokens.set(content, id);
  }

  const configured = config.model_max_length;
  const maxLength = typeof configured === 'number' && Number.isInteger(configured) && configured >= 2 && configured <= largestSensibleMaxLength ? configured : clipContextLength;
  return { tokenIds, merges, addedTokens, ...specialTokens, maxLength };
}

/**
 * Reads OpenAI's bpe_simple_vocab_16e6.txt.gz and rebuilds the vocabulary the way CLIP's
 * simple_tokenizer.py does: the 256 byte characters, the same with </w>, each merge joined, then
 * <|startoftext|> and <|endoftext|>.
 */
export async function readClipBpeFile(gzPath: string, padToken: string = defaultSpecialTokens.padToken): Promise<ClipVocabulary> {
  const path = resolve(gzPath);
  if (!existsSync(path)) {
    throw new InvalidModelError({ model: path, file: path, message: `${path} is missing; pass the path of OpenAI CLIP's bpe_simple_vocab_16e6.txt.gz` });
  }
  const text = (await promisify(gunzip)(await readFile(path))).toString('utf8');
  const merges = parseMerges(text.split('\n'));
  const alphabet = byteLevelAlphabet().inVocabularyOrder;
  const tokens = [...alphabet, ...alphabet.map((character) => `${character}</w>`), ...merges.map(([left, right]) => left + right), '<|startoftext|>', '<|endoftext|>'];
  // fromEntries defines own properties, so a token such as "__proto__" cannot reach the prototype.
  const tokenIds = Object.fromEntries(tokens.map((token, id) => [token, id])) as Record<string, number>;
  const specialTokens = { ...defaultSpecialTokens, padToken };
  const addedTokens = new Map<string, number>();
  for (const content of Object.values(specialTokens)) {
    const id = tokenIds[content];
    if (id === undefined) throw new InvalidModelError({ model: path, file: path, message: `padToken "${padToken}" is not a token of ${basename(path)}; SD 1.x pads with "<|endoftext|>", SD 2.x and SDXL's tokenizer_2 with "!"` });
    addedTokens.set(content, id);
  }
  return { tokenIds, merges, addedTokens, ...specialTokens, maxLength: clipContextLength };
}
