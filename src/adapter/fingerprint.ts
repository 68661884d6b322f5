/**
 * What identifies a frozen base model: its architecture and a sha256 over the architecture fields
 * and the input-embedding table. The table is what prompt tuning's vectors live next to, so two
 * models with equal hashes read a soft prompt identically at the input; hashing it (not the whole
 * checkpoint) keeps this cheap for large models. Values are hashed as float32 little-endian bytes
 * after the store's exact upcast, so the same weights in safetensors or a llama2.c file match.
 */
import { host } from '../host.ts';
import type { ModelConfig } from '../formats/hf_config.ts';
import type { WeightStore } from '../formats/weights.ts';
import { inputEmbeddingTable } from '../methods/init.ts';
import { f32ToLeBytes } from './bytes.ts';
import type { BaseModelFingerprint } from './types.ts';

/** What fingerprinting needs of a model (a ModelDir from src/formats/model_dir.ts has it). */
export interface FingerprintSource {
  readonly config: ModelConfig;
  readonly weights: WeightStore;
  /** The model folder, recorded as the fingerprint's path unless `path` is given. */
  readonly dir?: string;
}

/** The architecture fields hashed, in a fixed order (a change here changes every hash: bump the tag). */
function architecture(c: ModelConfig): Record<string, unknown> {
  return {
    model_type: c.modelType,
    vocab_size: c.vocabSize,
    hidden_size: c.hiddenSize,
    num_layers: c.numLayers,
    num_attention_heads: c.numHeads,
    num_key_value_heads: c.numKvHeads,
    head_dim: c.headDim,
    intermediate_size: c.intermediateSize,
    max_position_embeddings: c.maxPositions,
    norm_eps: c.normEps,
    rope_theta: c.ropeTheta,
    tie_word_embeddings: c.tieWordEmbeddings,
    activation: c.activation,
    attention_bias: c.attentionBias,
    mlp_bias: c.mlpBias,
  };
}

const TAG = 'softprompt-base-model-v1\n';

export function fingerprintModel(model: FingerprintSource, path?: string): BaseModelFingerprint {
  const { config } = model;
  const hash = host().crypto.createHash('sha256');
  hash.update(TAG);
  hash.update(JSON.stringify(architecture(config)));
  hash.update('\n');
  hash.update(f32ToLeBytes(inputEmbeddingTable(config, model.weights).data));
  const where = path ?? model.dir;
  return {
    model_type: config.modelType,
    hidden_size: config.hiddenSize,
    num_layers: config.numLayers,
    num_attention_heads: config.numHeads,
    vocab_size: config.vocabSize,
    sha256: hash.digest('hex'),
    ...(where !== undefined ? { path: where } : {}),
  };
}
