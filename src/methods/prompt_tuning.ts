/** Prompt tuning (Lester et al. 2021): n trainable virtual-token embeddings before the input. */
import type { ModelConfig } from '../formats/hf_config.ts';
import type { PromptMethod } from './types.ts';

export interface PromptTuningOptions {
  numVirtualTokens: number;
}

export function promptTuning(config: ModelConfig, { numVirtualTokens: n }: PromptTuningOptions): PromptMethod {
  return {
    kind: 'prompt_tuning',
    numVirtualTokens: n,
    params: [{ name: 'prompt_embeddings', shape: [n, config.hiddenSize] }],
    enter: (_model, p) => ({ placement: 'embeddings', virtualTokens: p['prompt_embeddings']! }),
  };
}
