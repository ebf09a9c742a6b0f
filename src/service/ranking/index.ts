// Best-of-N ranking: the ranker contract, rankCandidates, and the rankers createRanker chooses from.
export { rankCandidates, type CandidateScore, type RankCandidate, type RankContext, type Ranker, type Ranking } from './ranker.js';
export { RankerError } from './ranker-error.js';
export { createRanker, rankerTypes, type RankerConfig } from './create-ranker.js';
export { ClipRanker, type ClipRankerOptions } from './clip-ranker.js';
export { AestheticPredictor, AestheticRanker, type AestheticRankerOptions } from './aesthetic-ranker.js';
export { VlmRanker, defaultRubric, type VlmRankerOptions } from './vlm-ranker.js';
export { CustomRanker, type CustomScoreFunction } from './custom-ranker.js';
