/** Inference: the engine (KV-cached mixed-task generation, rank classification) and its pieces. */
export * from './types.ts';
export { createEngine, Engine, adapterDirs, isValidTaskName, TASK_NAME } from './engine.ts';
export type { CallOptions, EngineOptions, SkippedAdapter } from './engine.ts';
export { InferenceError } from './errors.ts';
export { Generator } from './generator.ts';
export type { GeneratorOptions, RowSpec, RunStats } from './generator.ts';
export { BatchCache, CACHE_GROW, prefixFromTable } from './kv.ts';
export type { TaskPrefix } from './kv.ts';
export { Sampler, argmaxRow, validateSampling } from './sampling.ts';
export { TextTracker } from './text.ts';
export { PromptScorer, buildScoreGraph, rowLogprob, tokenOffsets } from './logprobs.ts';
export { readTokenizerInfo, chatTemplateOf } from './tokenizer_info.ts';
export { topKIndices } from './sampling.ts';
