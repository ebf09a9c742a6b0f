// The CLIP ranker: the conformance suite, its scores against transformers' reference cosines, and an opt-in real-model check.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import sharp from 'sharp';
import { testData } from '../../testing/paths.js';
import { ClipRanker } from './clip-ranker.js';
import { createRanker } from './create-ranker.js';
import { rankerConformance } from './ranker.case.js';
import { rankCandidates, type RankCandidate } from './ranker.js';

const clipFolder = testData('fixtures', 'tiny-clip');
const reference = JSON.parse(readFileSync(testData('conformance', 'clip_scores.json'), 'utf8')) as {
  prompts: string[];
  images: string[];
  text_embeds_raw: number[][];
  image_embeds_raw: number[][];
  image_ranking_per_prompt: Record<string, string[]>;
};
// The ranker preprocesses the PNGs itself (sharp, not PIL): the largest cosine difference that makes
// was measured at 5.0e-5 in src/engine/clip/clip-model.test.ts.
const preprocessedCosineTolerance = 1e-4;

/** The reference recipe: cosine = (i/|i|)·(t/|t|) of the raw embeddings transformers gave. */
function referenceCosine(image: number[], text: number[]): number {
  const norm = (vector: number[]) => Math.sqrt(vector.reduce((sum, value) => sum + value * value, 0));
  return image.reduce((sum, value, index) => sum + value * text[index]!, 0) / (norm(image) * norm(text));
}

rankerConformance('clip (tiny-clip)', async () => ({ ranker: new ClipRanker({ model: clipFolder }) }));

describe('clip ranker against the reference', () => {
  const candidates: RankCandidate[] = reference.images.map((image, index) => ({ index, bytes: readFileSync(testData(image)), mediaType: 'image/png' }));
  const names = reference.images.map((image) => image.split('/').at(-1)!);

  test('each score is the reference cosine of prompt and image, and the order is the reference order', async (t) => {
    const ranker = createRanker({ type: 'clip', model: clipFolder });
    try {
      for (const [promptIndex, prompt] of reference.prompts.entries()) {
        const ranking = await rankCandidates(ranker, candidates, { prompt });
        for (const [imageIndex, entry] of ranking.scores.entries()) {
          const expected = referenceCosine(reference.image_embeds_raw[imageIndex]!, reference.text_embeds_raw[promptIndex]!);
          t.diagnostic(`${prompt} × ${names[imageIndex]}: ${entry.score.toFixed(6)} (reference ${expected.toFixed(6)})`);
          assert.ok(Math.abs(entry.score - expected) <= preprocessedCosineTolerance, `${prompt} × ${names[imageIndex]}: ${entry.score} against ${expected}`);
          assert.match(entry.reason!, /^clip similarity -?\d\.\d{4}$/);
          assert.equal(entry.detail?.similarity, entry.score);
        }
        assert.deepEqual(ranking.order.map((index) => names[index]), reference.image_ranking_per_prompt[prompt], prompt);
      }
    } finally {
      await ranker.close?.();
    }
  });

  test('two rankers on one folder share the model; closing one leaves the other working', async () => {
    const first = new ClipRanker({ model: clipFolder });
    const second = new ClipRanker({ model: clipFolder });
    try {
      const before = await first.score(candidates, { prompt: reference.prompts[0]! });
      await second.score(candidates, { prompt: reference.prompts[0]! });
      await first.close();
      const after = await second.score(candidates, { prompt: reference.prompts[0]! });
      assert.deepEqual(after.map((entry) => entry.score), before.map((entry) => entry.score));
    } finally {
      await first.close();
      await second.close();
    }
  });
});

const realFolder = process.env.PIXELPIPE_CLIP_DIR;

test('a real CLIP export scores a red square higher for "a red square" than for "a blue square"', { skip: realFolder ? false : 'opt-in: set PIXELPIPE_CLIP_DIR to a CLIP ONNX export (e.g. Xenova/clip-vit-base-patch32) to run' }, async (t) => {
  const ranker = new ClipRanker({ model: realFolder! });
  try {
    const square = async (colour: { r: number; g: number; b: number }): Promise<RankCandidate> => ({
      index: 0,
      bytes: await sharp({ create: { width: 224, height: 224, channels: 3, background: colour } }).png().toBuffer(),
      mediaType: 'image/png',
    });
    const red = await square({ r: 230, g: 20, b: 20 });
    const blue = await square({ r: 20, g: 30, b: 230 });
    const [redForRed] = await ranker.score([red], { prompt: 'a red square' });
    const [redForBlue] = await ranker.score([red], { prompt: 'a blue square' });
    const ranking = await rankCandidates(ranker, [red, { ...blue, index: 1 }], { prompt: 'a blue square' });
    t.diagnostic(`red image: ${redForRed!.score.toFixed(4)} for "a red square", ${redForBlue!.score.toFixed(4)} for "a blue square"; for "a blue square" the order is ${ranking.order}`);
    assert.ok(redForRed!.score > redForBlue!.score);
    assert.deepEqual(ranking.order, [1, 0]);
  } finally {
    await ranker.close();
  }
});
