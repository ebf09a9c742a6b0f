// T5 tokenizer against transformers' slow T5Tokenizer ids recorded with the SD3 reference (pipelines/sd3/index.json).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testData } from '../../testing/paths.js';
import { T5Tokenizer } from './t5-tokenizer.js';

interface TokenizerCase {
  prompt: string;
  tokens: string[];
  /** The tokenizer's ids without padding or truncation, `</s>` included. */
  unpadded_ids: number[];
}
const cases = (JSON.parse(readFileSync(testData('conformance', 'pipelines', 'sd3', 'index.json'), 'utf8')) as { tokenizer_3: { cases: TokenizerCase[] } }).tokenizer_3.cases;

/** What transformers gives with padding="max_length", truncation=True: at most maxLength − 1 pieces, `</s>`, then pad 0. */
function expectedIds(unpadded: readonly number[], maxLength: number): number[] {
  const kept = unpadded.length > maxLength ? [...unpadded.slice(0, maxLength - 1), 1] : [...unpadded];
  return kept.concat(new Array<number>(maxLength - kept.length).fill(0));
}

test('the fixture README example: `a red cube` → ▁a ▁re d ▁ cu be </s>, padded with 0 to 256', async () => {
  const tokenizer = await T5Tokenizer.fromFolder(testData('fixtures', 'tiny-sd3', 'tokenizer_3'), { maxLength: 256 });
  const { ids, truncated, tokenCount } = tokenizer.encode('a red cube');
  assert.deepEqual(ids.slice(0, 8), [3, 20, 8, 4, 26, 22, 1, 0]);
  assert.equal(ids.length, 256);
  assert.ok(ids.slice(7).every((id) => id === 0));
  assert.equal(truncated, false);
  assert.equal(tokenCount, 7);
});

for (const [fixture, folder, maxLength] of [['tiny-sd3', 'tokenizer_3', 256], ['tiny-flux', 'tokenizer_2', 512]] as const) {
  test(`${fixture}/${folder}: every reference prompt gives transformers' ids, padded/truncated to ${maxLength}`, async () => {
    const tokenizer = await T5Tokenizer.fromFolder(testData('fixtures', fixture, folder), { maxLength });
    assert.equal(cases.length, 14);
    for (const { prompt, unpadded_ids: unpadded } of cases) {
      const output = tokenizer.encode(prompt);
      assert.deepEqual(output.ids, expectedIds(unpadded, maxLength), JSON.stringify(prompt));
      assert.equal(output.truncated, unpadded.length > maxLength, JSON.stringify(prompt));
      assert.equal(output.tokenCount, Math.min(unpadded.length, maxLength));
    }
  });
}

test('truncation keeps `</s>` last: the 300-piece prompt keeps its first 255 pieces at length 256', async () => {
  const tokenizer = await T5Tokenizer.fromFolder(testData('fixtures', 'tiny-sd3', 'tokenizer_3'), { maxLength: 256 });
  const long = cases.find((candidate) => candidate.unpadded_ids.length > 256)!;
  assert.equal(long.unpadded_ids.length, 301);
  const { ids, truncated } = tokenizer.encode(long.prompt);
  assert.equal(truncated, true);
  assert.deepEqual(ids, [...long.unpadded_ids.slice(0, 255), 1]);
});

test('a folder without tokenizer.json is an InvalidModelError naming the file', async () => {
  const folder = await mkdtemp(join(tmpdir(), 'pixelpipe-t5-'));
  await assert.rejects(T5Tokenizer.fromFolder(folder, { maxLength: 256 }), { name: 'InvalidModelError', message: /tokenizer\.json is missing/ });
  await writeFile(join(folder, 'tokenizer.json'), JSON.stringify({ model: { type: 'BPE', vocab: {}, merges: [] } }));
  await assert.rejects(T5Tokenizer.fromFolder(folder, { maxLength: 256 }), { name: 'InvalidModelError', message: /not the SentencePiece Unigram model/ });
});
