// The ranker contract for best-of-N: score every candidate image, then order them best first.
import { AbortedError } from '../../spec/errors/aborted-error.js';
import { RankerError } from './ranker-error.js';

/** One generated image to be judged. */
export interface RankCandidate {
  /** The candidate's number among those generated (0-based); ties go to the lower one. */
  index: number;
  /** Encoded image: PNG, JPEG or WebP. */
  bytes: Uint8Array;
  /** The bytes' media type, e.g. `image/png`. */
  mediaType: string;
  /** The seed it was generated from, as a decimal string. */
  seed?: string;
}

/** What the candidates were asked to be. */
export interface RankContext {
  prompt: string;
  negativePrompt?: string;
  /** What a judging ranker (vlm) scores by; each ranker has a default. */
  rubric?: string;
  /** Stops the scoring. */
  signal?: AbortSignal;
}

/** One candidate's score: higher is better. */
export interface CandidateScore {
  score: number;
  /** Why, in a few words (a VLM's comment, or the measure and its value). */
  reason?: string;
  /** The numbers behind the score, e.g. `{ similarity: 0.28 }`. */
  detail?: Record<string, number>;
}

export interface Ranker {
  /** Shown in records and errors: `clip`, `aesthetic`, `vlm`, or a custom ranker's name. */
  readonly name: string;
  /** One score per candidate, in the order the candidates were given. */
  score(candidates: RankCandidate[], context: RankContext): Promise<CandidateScore[]>;
  /** Releases sessions and connections; the ranker may not be used afterwards. */
  close?(): Promise<void>;
}

export interface Ranking {
  ranker: string;
  /** Candidate `index` values, best first; equal scores keep the lower index first. */
  order: number[];
  /** Each candidate's score, in the order the candidates were given (by index when they came as 0, 1, 2, ...). */
  scores: CandidateScore[];
}

/** Throws AbortedError when the signal has fired; rankers call it between stages. */
export function throwIfAborted(signal: AbortSignal | undefined, ranker: string): void {
  if (signal?.aborted) throw new AbortedError({ message: `the ${ranker} ranker was stopped by its abort signal`, cause: signal.reason });
}

function checkScores(ranker: Ranker, candidates: RankCandidate[], scores: unknown): CandidateScore[] {
  if (!Array.isArray(scores) || scores.length !== candidates.length) {
    const got = Array.isArray(scores) ? `${scores.length} scores` : `${typeof scores}`;
    throw new RankerError({ ranker: ranker.name, message: `ranker "${ranker.name}" returned ${got} for ${candidates.length} candidates; a ranker must return exactly one score per candidate, in the candidates' order` });
  }
  scores.forEach((entry: unknown, position) => {
    const score = (entry as CandidateScore | undefined)?.score;
    if (typeof score !== 'number' || !Number.isFinite(score)) {
      const shown = typeof score === 'number' ? String(score) : (JSON.stringify(entry) ?? String(entry));
      throw new RankerError({ ranker: ranker.name, message: `ranker "${ranker.name}" returned ${shown} as the score of candidate ${candidates[position]!.index}; every score must be a finite number` });
    }
  });
  return scores as CandidateScore[];
}

/** Scores the candidates with `ranker` and orders them best first (ties: lower index first). */
export async function rankCandidates(ranker: Ranker, candidates: RankCandidate[], context: RankContext): Promise<Ranking> {
  const indices = new Set(candidates.map((candidate) => candidate.index));
  if (indices.size !== candidates.length) {
    throw new RankerError({ ranker: ranker.name, message: `candidates given to ranker "${ranker.name}" repeat an index (${candidates.map((candidate) => candidate.index).join(', ')}); give each candidate its own index` });
  }
  throwIfAborted(context.signal, ranker.name);
  if (candidates.length === 0) return { ranker: ranker.name, order: [], scores: [] };
  const scores = checkScores(ranker, candidates, await ranker.score(candidates, context)).map((entry) => ({
    ...entry,
    reason: entry.reason ?? `${ranker.name} score ${entry.score.toFixed(4)}`,
  }));
  const order = candidates
    .map((candidate, position) => ({ index: candidate.index, score: scores[position]!.score }))
    .sort((left, right) => right.score - left.score || left.index - right.index)
    .map(({ index }) => index);
  return { ranker: ranker.name, order, scores };
}
