export * from './metrics.ts';
export { argmax, RankError, rankExample, RankScorer } from './rank.ts';
export type { ContinuationEncoder, RankExample, RankResult, RankScorerOptions } from './rank.ts';
