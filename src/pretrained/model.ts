/**
 * A frozen pretrained model, loaded whole: a Hugging Face model folder (or a hub id, resolved by
 * resolve.ts) read into its config, weights and tokenizer.
 */
import type { ModelConfig } from '../formats/hf_config.ts';
import { loadModelDir } from '../formats/model_dir.ts';
import type { WeightStore } from '../formats/model_dir.ts';
import { loadTokenizer } from '../tokenizer/tokenizer.ts';
import type { Tokenizer } from '../tokenizer/tokenizer.ts';
import { resolveModel } from './resolve.ts';
import type { ResolvedSource } from './resolve.ts';

/** A frozen model ready to score: config, weights and tokenizer of one folder. */
export interface LoadedModel {
  readonly dir: string;
  readonly source: ResolvedSource;
  readonly config: ModelConfig;
  readonly weights: WeightStore;
  readonly tokenizer: Tokenizer;
}

/** Loads the model named by `--model` (or found by {@link resolveModel}). */
export async function loadModel(flag?: string): Promise<LoadedModel> {
  const { path, source } = await resolveModel(flag);
  const m = loadModelDir(path);
  return { dir: m.dir, source, config: m.config, weights: m.weights, tokenizer: await loadTokenizer(m.dir) };
}
