export * from './types.ts';
export { promptTuning } from './prompt_tuning.ts';
export { pTuning, pTuningEncoder } from './p_tuning.ts';
export { prefixTuning, prefixPast, prefixWidth } from './prefix_tuning.ts';
export { buildProgram, FEEDS } from './program.ts';
export type { Program, ProgramOptions } from './program.ts';
export { batchFeeds, IGNORE_INDEX } from './batch.ts';
export type { TokenBatch } from './batch.ts';
export { gatheredLoss, gatheredLogProbs } from './loss.ts';
