/** Model families keyed by HF model_type. */
import { UnsupportedModelError } from '../errors.ts';
import type { ModelConfig } from '../formats/hf_config.ts';
import type { WeightStore } from '../formats/weights.ts';
import type { Graph } from '../graph/graph.ts';
import { buildGpt2 } from './gpt2.ts';
import { buildLlama } from './llama.ts';
import { buildGptNeox } from './gpt_neox.ts';
import { buildOpt } from './opt.ts';
import { buildBloom } from './bloom.ts';
import type { BuildOptions, CausalLM } from './types.ts';

export type ModelBuilder = (g: Graph, config: ModelConfig, weights: WeightStore, opts?: BuildOptions) => CausalLM;

const FAMILIES: Record<string, ModelBuilder> = {
  gpt2: buildGpt2,
  llama: buildLlama,
  gpt_neox: buildGptNeox,
  opt: buildOpt,
  bloom: buildBloom,
};

export function supportedModelTypes(): string[] {
  return Object.keys(FAMILIES);
}

export function getModelBuilder(modelType: string, configFile = 'config.json'): ModelBuilder {
  const b = FAMILIES[modelType];
  if (!b) throw new UnsupportedModelError(configFile, modelType, supportedModelTypes());
  return b;
}

export function buildModel(g: Graph, config: ModelConfig, weights: WeightStore, opts?: BuildOptions): CausalLM {
  return getModelBuilder(config.modelType)(g, config, weights, opts);
}
