// The conformance suite every ranker runs: one finite, repeatable, position-independent score per candidate, ranked best first.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { AbortedError } from '../../spec/errors/aborted-error.js';
import { testImage } from '../../testing/mock-api-server.js';
import { testData } from '../../testing/paths.js';
import { rankCandidates, type CandidateScore, type RankCandidate, type RankContext, type Ranker } from './ranker.js';

export interface RankerUnderTest {
  ranker: Ranker;
  /** Stops servers; the suite calls the ranker's own close() first. */
  close?(): Promise<void>;
}

export interface RankerCaseOptions {
  /** The context every test scores in; a short prompt when omitted. */
  context?: RankContext;
  /**
   * Largest score difference allowed for the same image at another position in the list. 0 unless
   * the ranker's numbers legitimately vary with batching (say why where it is set).
   */
  positionTolerance?: number;
}

/** Four candidates in three formats: flat red, blue and green squares and the conformance init image. */
export async function conformanceCandidates(): Promise<RankCandidate[]> {
  const images: Array<[Uint8Array, string]> = [
    [await testImage('png', 48, 48, { r: 220, g: 30, b: 30 }), 'image/png'],
    [await testImage('jpeg', 64, 48, { r: 30, g: 40, b: 220 }), 'image/jpeg'],
    [await testImage('webp', 48, 64, { r: 40, g: 200, b: 60 }), 'image/webp'],
    [readFileSync(testData('conformance', 'inputs', 'init_image.png')), 'image/png'],
  ];
  return images.map(([bytes, mediaType], index) => ({ index, bytes, mediaType, seed: String(1000 + index) }));
}

const values = (scores: CandidateScore[]) => scores.map((entry) => entry.score);

export function rankerConformance(name: string, factory: () => Promise<RankerUnderTest>, options: RankerCaseOptions = {}): void {
  const { context = { prompt: 'a red square' }, positionTolerance = 0 } = options;

  describe(`ranker conformance: ${name}`, () => {
    let underTest: RankerUnderTest;
    let candidates: RankCandidate[];
    before(async () => {
      underTest = await factory();
      candidates = await conformanceCandidates();
    });
    after(async () => {
      await underTest.ranker.close?.();
      await underTest.close?.();
    });

    test('gives one finite score per candidate', async () => {
      const scores = await underTest.ranker.score(candidates, context);
      assert.equal(scores.length, candidates.length);
      for (const entry of scores) assert.ok(typeof entry.score === 'number' && Number.isFinite(entry.score), `score ${JSON.stringify(entry)}`);
    });

    test('gives the same scores to the same candidates twice', async () => {
      const first = await underTest.ranker.score(candidates, context);
      const second = await underTest.ranker.score(candidates, context);
      assert.deepEqual(values(second), values(first));
    });

    test("a candidate's score does not depend on its position in the list", async () => {
      const forward = values(await underTest.ranker.score(candidates, context));
      const reversed = values(await underTest.ranker.score([...candidates].reverse(), context)).reverse();
      for (const [position, score] of forward.entries()) {
        assert.ok(Math.abs(reversed[position]! - score) <= positionTolerance, `candidate ${position}: ${score} forward, ${reversed[position]} reversed`);
      }
    });

    test('rankCandidates orders every candidate best first, with a reason on each score', async () => {
      const ranking = await rankCandidates(underTest.ranker, candidates, context);
      assert.equal(ranking.ranker, underTest.ranker.name);
      assert.deepEqual([...ranking.order].sort(), candidates.map((candidate) => candidate.index).sort());
      const scoreOf = (index: number) => ranking.scores[candidates.findIndex((candidate) => candidate.index === index)]!.score;
      for (let place = 1; place < ranking.order.length; place++) {
        const better = ranking.order[place - 1]!;
        const worse = ranking.order[place]!;
        assert.ok(scoreOf(better) > scoreOf(worse) || (scoreOf(better) === scoreOf(worse) && better < worse), `order ${ranking.order} against scores ${values(ranking.scores)}`);
      }
      for (const entry of ranking.scores) assert.ok(entry.reason && entry.reason.length > 0);
    });

    test('the same image twice ties, and the lower index ranks first', async () => {
      const [red, blue] = candidates;
      const twins: RankCandidate[] = [
        { ...blue!, index: 5 },
        { ...red!, index: 7 },
        { ...red!, index: 2 },
      ];
      const ranking = await rankCandidates(underTest.ranker, twins, context);
      assert.equal(ranking.scores[1]!.score, ranking.scores[2]!.score, 'identical images, identical scores');
      assert.ok(ranking.order.indexOf(2) < ranking.order.indexOf(7), `order ${ranking.order}`);
    });

    test('no candidates rank to nothing; an aborted signal stops the ranking', async () => {
      assert.deepEqual(await rankCandidates(underTest.ranker, [], context), { ranker: underTest.ranker.name, order: [], scores: [] });
      await assert.rejects(rankCandidates(underTest.ranker, candidates, { ...context, signal: AbortSignal.abort() }), (error: unknown) => AbortedError.isInstance(error));
    });
  });
}
