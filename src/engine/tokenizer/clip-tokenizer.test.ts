// ClipTokenizer against transformers' slow CLIPTokenizer: the tiny conformance fixtures and documented ids of the real CLIP vocabulary.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, mkdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidModelError } from '../../spec/errors/invalid-model-error.js';
import { sharedFile, testData } from '../../testing/paths.js';
import { ClipTokenizer } from './clip-tokenizer.js';

interface ConformanceCase {
  prompt: string;
  /** BPE tokens before truncation. */
  tokens: string[];
  input_ids: number[];
  attention_mask_sum: number;
}
interface ConformanceTokenizer {
  pad_token_id: number;
  bos_token_id: number;
  eos_token_id: number;
  model_max_length: number;
  cases: ConformanceCase[];
}

test('tiny tokenizers give the conformance ids for all 14 prompts', async () => {
  const conformance = JSON.parse(await readFile(testData('conformance', 'tokenizer.json'), 'utf8')) as { tokenizers: Record<string, ConformanceTokenizer> };
  assert.deepEqual(Object.keys(conformance.tokenizers).sort(), ['tiny-sd15/tokenizer', 'tiny-sdxl/tokenizer_2']);
  for (const [name, reference] of Object.entries(conformance.tokenizers)) {
    const tokenizer = await ClipTokenizer.fromFolder(testData('fixtures', name));
    assert.equal(tokenizer.maxLength, reference.model_max_length, name);
    assert.equal(tokenizer.bosTokenId, reference.bos_token_id, name);
    assert.equal(tokenizer.eosTokenId, reference.eos_token_id, name);
    assert.equal(tokenizer.padTokenId, reference.pad_token_id, name);
    assert.equal(reference.cases.length, 14, name);
    for (const { prompt, tokens, input_ids, attention_mask_sum } of reference.cases) {
      const output = tokenizer.encode(prompt);
      const label = `${name}: ${JSON.stringify(prompt.slice(0, 60))}`;
      assert.deepEqual(output.ids, input_ids, label);
      // Only the long "red cube …" prompt has more than 75 tokens.
      assert.equal(output.truncated, tokens.length > reference.model_max_length - 2, label);
      assert.equal(output.tokenCount, attention_mask_sum, label);
    }
    const truncatedPrompts = reference.cases.filter((entry) => tokenizer.encode(entry.prompt).truncated);
    assert.equal(truncatedPrompts.length, 1, name);
  }
});

test('SD 2.x/SDXL pad token "!" is cut out of prompts as an added token', async () => {
  const sd15 = await ClipTokenizer.fromFolder(testData('fixtures', 'tiny-sd15', 'tokenizer'));
  const sdxl = await ClipTokenizer.fromFolder(testData('fixtures', 'tiny-sdxl', 'tokenizer_2'));
  // Same vocabulary, but tokenizer_2 maps each "!" to its pad id 0 instead of merging "!!" or adding </w>.
  assert.deepEqual(sd15.encode('here!!').ids.slice(0, 5), [998, 755, 0, 256, 999]);
  assert.deepEqual(sdxl.encode('here!!').ids.slice(0, 5), [998, 755, 0, 0, 999]);
  assert.equal(sdxl.encode('a').ids.at(-1), 0);
});

test('a tokenizer folder missing a file is refused, naming the file', async () => {
  const modelFolder = await mkdtemp(join(tmpdir(), 'pixelpipe-tokenizer-'));
  try {
    const folder = join(modelFolder, 'tokenizer');
    await mkdir(folder);
    for (const file of ['vocab.json', 'tokenizer_config.json', 'special_tokens_map.json']) {
      await copyFile(testData('fixtures', 'tiny-sd15', 'tokenizer', file), join(folder, file));
    }
    await assert.rejects(ClipTokenizer.fromFolder(folder), (error: unknown) => {
      assert.ok(InvalidModelError.isInstance(error));
      assert.match(error.message, new RegExp(`^tokenizer/merges\\.txt is missing from ${modelFolder.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&')}`));
      assert.equal(error.file, 'tokenizer/merges.txt');
      return true;
    });
  } finally {
    await rm(modelFolder, { recursive: true, force: true });
  }
});

// --- The real CLIP vocabulary (OpenAI's bpe_simple_vocab_16e6.txt.gz, third-party: read from ../shared) ---

/**
 * Unpadded input_ids published for openai/clip-vit-* and SD tokenizers (all share this vocabulary).
 * Sources:
 * - [T] huggingface/transformers.js, CLIP tokenizer test config for Xenova/clip-vit-base-patch16
 *   (tests/models/clip/test_tokenization_clip.js with the strings of tests/models/test_strings.js),
 *   generated with Python transformers. Those come from the fast tokenizer, so only the cases where
 *   slow and fast must agree (no CJK, no control or format characters) are taken.
 * - [A] apple/ml-stable-diffusion, swift/StableDiffusionTests/StableDiffusionTests.swift (testBPETokenizer).
 * - [B] elixir-nx/bumblebee, test/bumblebee/text/clip_tokenizer_test.exs (openai/clip-vit-base-patch32).
 * - [E] Emgu CV's CLIP model test (Emgu.CV.Models.Clip), asserted "against the huggingface CLIPTokenizer reference".
 * - [N] nishio/external_brain_in_markdown, pages/CLIP.md: OpenAI `clip.tokenize` output.
 * - [Q] a public script printing CLIPTokenizer.from_pretrained("openai/clip-vit-base-patch32") output
 *   in its comments (found by code search; the index did not record its repository).
 */
const documentedIds: Array<[string, number[], string]> = [
  ['a photo of a cat', [49406, 320, 1125, 539, 320, 2368, 49407], 'B'],
  ['a photo of a dog', [49406, 320, 1125, 539, 320, 1929, 49407], 'B'],
  ['a photo of an astronaut riding a horse on mars', [49406, 320, 1125, 539, 550, 18376, 6765, 320, 4558, 525, 7496, 49407], 'A'],
  ['Apple CoreML developer tools on a Macbook Air are fast', [49406, 3055, 19622, 5780, 10929, 5771, 525, 320, 20617, 1922, 631, 1953, 49407], 'A'],
  ['Hello, World! 123', [49406, 3306, 267, 1002, 256, 272, 273, 274, 49407], 'E'],
  ['a painting of a cat', [49406, 320, 3086, 539, 320, 2368, 49407], 'N'],
  ['bozuman', [49406, 647, 4091, 786, 49407], 'N'],
  ['The quick brown fox jumps over the lazy dog.', [49406, 518, 3712, 2866, 3240, 18911, 962, 518, 10753, 1929, 269, 49407], 'Q'],
  ['How are you doing?', [49406, 829, 631, 592, 1960, 286, 49407], 'T'],
  ["You should've done this", [49406, 592, 1535, 1200, 1700, 589, 49407], 'T'],
  ['0123456789 0 1 2 3 4 5 6 7 8 9 10 100 1000', [49406, 271, 272, 273, 274, 275, 276, 277, 278, 279, 280, 271, 272, 273, 274, 275, 276, 277, 278, 279, 280, 272, 271, 272, 271, 271, 272, 271, 271, 271, 49407], 'T'],
  ['The company was founded in 2016.', [49406, 518, 2634, 739, 12240, 530, 273, 271, 272, 277, 269, 49407], 'T'],
  ["A\n'll !!to?'d''d of, can't.", [49406, 320, 1342, 748, 531, 13610, 323, 8445, 323, 539, 267, 753, 713, 269, 49407], 'T'],
  ['def main():\n\tpass', [49406, 11649, 2623, 7, 4143, 3511, 49407], 'T'],
  ['let a = obj.toString();\ntoString();', [49406, 1094, 320, 284, 1411, 329, 269, 580, 9696, 7, 19686, 580, 9696, 7, 19686, 49407], 'T'],
  ['UNwant\u00e9d,running', [49406, 569, 18356, 3459, 323, 267, 2761, 49407], 'T'],
  ['test $1 R2 #3 €4 £5 ¥6 ₣7 ₹8 ₱9 test', [49406, 1628, 259, 272, 337, 273, 258, 274, 6309, 275, 1950, 276, 20199, 277, 5227, 352, 278, 21777, 279, 5227, 365, 280, 1628, 49407], 'T'],
  ['I bought an apple for $1.00 at the store.', [49406, 328, 4142, 550, 3055, 556, 259, 272, 269, 271, 271, 536, 518, 2183, 269, 49407], 'T'],
  ['   leading space', [49406, 3833, 2138, 49407], 'T'],
  ['trailing space   ', [49406, 37427, 2138, 49407], 'T'],
  ['Hi  Hello', [49406, 1883, 3306, 49407], 'T'],
  ['you\u2026\u00a0\u00a0', [49406, 592, 959, 49407], 'T'],
];

const tokenizers = new Map<string, Promise<ClipTokenizer>>();
/** The real-vocabulary tokenizer for a pad token, built once; undefined when the file is absent (test skipped). */
async function realClipTokenizer(t: TestContext, padToken = '<|endoftext|>'): Promise<ClipTokenizer | undefined> {
  const path = sharedFile(t, 'fixtures', 'clip-bpe', 'bpe_simple_vocab_16e6.txt.gz');
  if (!path) return undefined;
  if (!tokenizers.has(padToken)) tokenizers.set(padToken, ClipTokenizer.fromClipBpeFile(path, { padToken }));
  return tokenizers.get(padToken)!;
}

function unpadded(tokenizer: ClipTokenizer, text: string): number[] {
  const output = tokenizer.encode(text);
  return output.ids.slice(0, output.tokenCount);
}

test('real CLIP vocabulary: 49,408 entries, bos 49406, eos and pad 49407', async (t) => {
  const tokenizer = await realClipTokenizer(t);
  if (!tokenizer) return;
  assert.equal(tokenizer.vocabularySize, 49408);
  assert.equal(tokenizer.bosTokenId, 49406);
  assert.equal(tokenizer.eosTokenId, 49407);
  assert.equal(tokenizer.padTokenId, 49407);
  assert.equal(tokenizer.maxLength, 77);
  assert.deepEqual(unpadded(tokenizer, '<|startoftext|><|endoftext|>'), [49406, 49406, 49407, 49407]);
});

test('real CLIP vocabulary: documented ids', async (t) => {
  const tokenizer = await realClipTokenizer(t);
  if (!tokenizer) return;
  for (const [text, ids, source] of documentedIds) {
    const output = tokenizer.encode(text);
    assert.deepEqual(output.ids.slice(0, output.tokenCount), ids, `[${source}] ${JSON.stringify(text)}`);
    assert.deepEqual(output.ids.slice(output.tokenCount), new Array(77 - ids.length).fill(49407));
    assert.equal(output.truncated, false);
  }
});

test('real CLIP vocabulary with pad "!" (SD 2.x, SDXL tokenizer_2, OWL-ViT): every "!" is id 0', async (t) => {
  const tokenizer = await realClipTokenizer(t, '!');
  if (!tokenizer) return;
  assert.equal(tokenizer.padTokenId, 0);
  // [T], the same config's Xenova/owlvit-base-patch32 entry: that tokenizer also pads with "!".
  assert.deepEqual(unpadded(tokenizer, "A\n'll !!to?'d''d of, can't."), [49406, 320, 1342, 0, 0, 531, 13610, 323, 8445, 323, 539, 267, 753, 713, 269, 49407]);
  assert.deepEqual(tokenizer.encode('a photo of a cat').ids.slice(7), new Array(70).fill(0));
});

test('real CLIP vocabulary: truncation keeps 75 tokens and eos last', async (t) => {
  const tokenizer = await realClipTokenizer(t);
  if (!tokenizer) return;
  const exactly = tokenizer.encode('a '.repeat(75));
  assert.equal(exactly.truncated, false);
  assert.equal(exactly.tokenCount, 77);
  const long = tokenizer.encode('a photo of a cat, '.repeat(30));
  assert.equal(long.truncated, true);
  assert.equal(long.tokenCount, 77);
  assert.equal(long.ids.length, 77);
  assert.deepEqual(long.ids.slice(0, 8), [49406, 320, 1125, 539, 320, 2368, 267, 320]);
  assert.equal(long.ids[76], 49407);
});

// Slow-tokenizer behaviour read from tokenization_clip.py / tokenization_bert.py (BasicTokenizer) and,
// for the regex, checked with Python's `regex` module; no published ids exist for these.
test('real CLIP vocabulary: slow-tokenizer clean-up, where the fast tokenizer differs', async (t) => {
  const tokenizer = await realClipTokenizer(t);
  if (!tokenizer) return;
  // _clean_text drops NUL and U+FFFD; [T] shows the fast tokenizer keeping them: 272, 444, 273, 39802, 274.
  assert.deepEqual(unpadded(tokenizer, '1\u00002\uFFFD3'), [49406, 272, 273, 274, 49407]);
  // CJK ideographs become words of their own; [T] shows the fast tokenizer merging across them.
  const chinese = unpadded(tokenizer, '生活的真谛是');
  assert.deepEqual(chinese, unpadded(tokenizer, '生 活 的 真 谛 是'));
  assert.notDeepEqual(chinese, [49406, 33375, 162, 112, 119, 163, 248, 226, 41570, 164, 108, 249, 42891, 363, 49407]);
  // Format characters (ZWJ) are dropped, so an emoji ZWJ sequence tokenizes as its parts.
  assert.deepEqual(unpadded(tokenizer, 'a\u200db'), unpadded(tokenizer, 'ab'));
  // Special-token text in another case reaches the regex, which maps it to the special id...
  assert.deepEqual(unpadded(tokenizer, 'a <|STARTOFTEXT|> b').slice(0, 4), [49406, 320, 49406, 321]);
  // ...unless punctuation precedes it: the regex then reads "?<|", "startoftext", "|>".
  assert.ok(!unpadded(tokenizer, '?<|STARTOFTEXT|>').slice(1).includes(49406));
  // IGNORECASE makes "'ſ" the contraction "'s", one word, so no lone "'</w>" (262) appears.
  assert.ok(!unpadded(tokenizer, "it'ſ").includes(262));
});
