// The custom ranker and rankCandidates' own rules: the conformance suite, tie-breaks, and scores that cannot rank.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import sharp from 'sharp';
import { isInvalidArgument } from '../../testing/assertions.js';
import { createRanker, type RankerConfig } from './create-ranker.js';
import { CustomRanker } from './custom-ranker.js';
import { rankerConformance } from './ranker.case.js';
import { RankerError } from './ranker-error.js';
import { rankCandidates, type RankCandidate } from './ranker.js';

/** A user's function as the library takes it: here, brightness from the decoded pixels. */
async function brightness(candidates: RankCandidate[]): Promise<number[]> {
  return Promise.all(candidates.map(async (candidate) => (await sharp(candidate.bytes).stats()).channels.slice(0, 3).reduce((sum, channel) => sum + channel.mean, 0) / 765));
}

rankerConformance('custom (brightness)', async () => ({ ranker: createRanker({ type: 'custom', name: 'brightness', score: brightness }) }));

describe('rankCandidates', () => {
  const candidates = (indices: number[]): RankCandidate[] => indices.map((index) => ({ index, bytes: new Uint8Array([index]), mediaType: 'image/png' }));

  test('equal scores rank the lower candidate index first, whatever order the candidates came in', async () => {
    const ranker = new CustomRanker('flat', () => [0.5, 0.5, 0.5, 0.5]);
    const ranking = await rankCandidates(ranker, candidates([3, 0, 2, 1]), { prompt: 'p' });
    assert.deepEqual(ranking.order, [0, 1, 2, 3]);
    assert.deepEqual(ranking.scores.map((entry) => entry.reason), Array(4).fill('flat score 0.5000'));
  });

  test('orders by score, highest first, ties by index, and keeps scores in the candidates order', async () => {
    const ranker = new CustomRanker('given', (given) => given.map((candidate) => ({ score: [0.2, 0.9, 0.2, -1][candidate.index]!, reason: `#${candidate.index}` })));
    const ranking = await rankCandidates(ranker, candidates([2, 3, 1, 0]), { prompt: 'p' });
    assert.deepEqual(ranking, {
      ranker: 'given',
      order: [1, 0, 2, 3],
      scores: [
        { score: 0.2, reason: '#2' },
        { score: -1, reason: '#3' },
        { score: 0.9, reason: '#1' },
        { score: 0.2, reason: '#0' },
      ],
    });
  });

  test('a ranker giving too few scores, a non-finite score or repeated indices is a RankerError naming it', async () => {
    const fails = (pattern: RegExp) => (error: unknown) => RankerError.isInstance(error) && pattern.test(error.message);
    await assert.rejects(rankCandidates(new CustomRanker('short', () => [1, 2]), candidates([0, 1, 2]), { prompt: 'p' }), fails(/ranker "short" returned 2 scores for 3 candidates/));
    await assert.rejects(rankCandidates(new CustomRanker('nan', () => [1, Number.NaN]), candidates([0, 1]), { prompt: 'p' }), fails(/ranker "nan" returned NaN as the score of candidate 1; every score must be a finite number/));
    await assert.rejects(rankCandidates(new CustomRanker('infinite', () => [{ score: Infinity }]), candidates([0]), { prompt: 'p' }), fails(/ranker "infinite" returned Infinity as the score of candidate 0/));
    await assert.rejects(rankCandidates(new CustomRanker('text', () => [{ score: '3' } as never]), candidates([0]), { prompt: 'p' }), fails(/ranker "text" returned \{"score":"3"\} as the score/));
    await assert.rejects(rankCandidates(new CustomRanker('object', () => ({ scores: [1] }) as never), candidates([0]), { prompt: 'p' }), fails(/returned object for 1 candidates/));
    await assert.rejects(rankCandidates(new CustomRanker('ok', () => [1, 1]), candidates([4, 4]), { prompt: 'p' }), fails(/repeat an index \(4, 4\)/));
  });

  test('the function gets the candidates and the context as given', async () => {
    const seen: unknown[] = [];
    const ranker = new CustomRanker('spy', (given, context) => {
      seen.push(given.map((candidate) => candidate.index), context.rubric);
      return given.map(() => 1);
    });
    await rankCandidates(ranker, candidates([1, 0]), { prompt: 'p', rubric: 'r' });
    assert.deepEqual(seen, [[1, 0], 'r']);
  });
});

describe('createRanker', () => {
  test('makes each type, and refuses an unknown type listing the known ones', () => {
    assert.equal(createRanker({ type: 'custom', name: 'mine', score: () => [] }).name, 'mine');
    assert.equal(createRanker({ type: 'clip', model: 'some/folder' }).name, 'clip');
    assert.equal(createRanker({ type: 'aesthetic', clipModel: 'some/folder', weights: 'w.safetensors' }).name, 'aesthetic');
    assert.equal(createRanker({ type: 'vlm', baseUrl: 'http://localhost:11434/v1', model: 'qwen2.5vl' }).name, 'vlm');
    assert.throws(() => createRanker({ type: 'pickscore', model: 'x' } as unknown as RankerConfig), isInvalidArgument('type', /must be one of clip, aesthetic, vlm, custom, got "pickscore"/));
    assert.throws(() => createRanker({ type: 'clip' } as unknown as RankerConfig), isInvalidArgument('model', /clip ranker needs `model`/));
    assert.throws(() => createRanker({ type: 'custom', name: ' ', score: () => [] }), isInvalidArgument('name', /non-empty string/));
    assert.throws(() => createRanker({ type: 'custom', name: 'x' } as unknown as RankerConfig), isInvalidArgument('score', /needs `score`, a function/));
  });
});
