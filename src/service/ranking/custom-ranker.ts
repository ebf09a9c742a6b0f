// A ranker from the library user's own function: plain numbers or full scores, under the name the user gives it.
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import type { CandidateScore, RankCandidate, RankContext, Ranker } from './ranker.js';

/** The user's scoring function: one number (higher is better) or one CandidateScore per candidate, in order. */
export type CustomScoreFunction = (candidates: RankCandidate[], context: RankContext) => Promise<number[] | CandidateScore[]> | number[] | CandidateScore[];

export class CustomRanker implements Ranker {
  constructor(
    readonly name: string,
    private readonly scoreFunction: CustomScoreFunction,
  ) {
    if (typeof name !== 'string' || name.trim() === '') {
      throw new InvalidArgumentError({ argument: 'name', value: name, message: `a custom ranker's \`name\` must be a non-empty string (it is how requests choose it), got ${JSON.stringify(name)}` });
    }
    if (typeof scoreFunction !== 'function') {
      throw new InvalidArgumentError({ argument: 'score', value: scoreFunction, message: `custom ranker "${name}" needs \`score\`, a function (candidates, context) => number[] | CandidateScore[], got ${typeof scoreFunction}` });
    }
  }

  /** The function's answer as CandidateScores; rankCandidates checks the count and that every score is finite. */
  async score(candidates: RankCandidate[], context: RankContext): Promise<CandidateScore[]> {
    const scores = await this.scoreFunction(candidates, context);
    if (!Array.isArray(scores)) return scores;
    return (scores as Array<number | CandidateScore>).map((entry) => (typeof entry === 'number' ? { score: entry } : entry));
  }
}
