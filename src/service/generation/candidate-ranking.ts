// Best-of-N: scores a job's stored candidates with its ranker and says of each its rank and whether it is among the `n` kept.
import type { EncodedImage } from '../provenance/image-finishing.js';
import type { RecordRanking } from '../image-service-types.js';
import { rankCandidates, type Ranker } from '../ranking/ranker.js';
import type { JobRequest } from './job-request.js';

/** One candidate as stored: its place among the candidates, its seed and the finished bytes. */
export interface StoredCandidate {
  index: number;
  seed?: string;
  image: EncodedImage;
}

/**
 * Each candidate's ranking, in the candidates' order. They are judged as stored (resized, watermarked,
 * in the asked format): what the client gets is what is scored. The best `n` are chosen; equal scores
 * go to the lower candidate index, as `rankCandidates` orders them.
 */
export async function rankStoredCandidates(ranker: Ranker, candidates: StoredCandidate[], request: JobRequest, signal?: AbortSignal): Promise<RecordRanking[]> {
  const ranking = await rankCandidates(
    ranker,
    candidates.map(({ index, seed, image }) => ({ index, bytes: image.bytes, mediaType: image.mediaType, ...(seed !== undefined ? { seed } : {}) })),
    { prompt: request.prompt, negativePrompt: request.negativePrompt, rubric: request.rankRubric, signal },
  );
  const rankOf = new Map(ranking.order.map((index, position) => [index, position + 1]));
  return candidates.map(({ index }, position) => {
    const { score, reason, detail } = ranking.scores[position]!;
    const rank = rankOf.get(index)!;
    return { ranker: ranking.ranker, score, rank, chosen: rank <= request.n, candidates: candidates.length, ...(reason !== undefined ? { reason } : {}), ...(detail !== undefined ? { detail } : {}) };
  });
}
