/**
 * config.json of the GPT-style families beyond GPT-2: GPT-NeoX (Pythia), OPT and BLOOM, normalized
 * to ModelConfig plus the few settings only that family has. Each defaulting rule is transformers'
 * own (GPTNeoXConfig, OPTConfig, BloomConfig); sizes are required, as for GPT-2. Settings no public
 * checkpoint of the family needs, and that the golden files cannot check, are refused by name.
 */
import { ConfigError } from '../errors.ts';
import type { Fields, Json, ModelConfig } from './hf_config.ts';

export interface GptNeoxConfig extends ModelConfig {
  readonly modelType: 'gpt_neox';
  /** Rotated dims per head: int(head_dim · partial_rotary_factor), the first ones of each head. */
  readonly rotaryDim: number;
  /** use_parallel_residual: x + attn(ln1(x)) + mlp(ln2(x)) instead of two sequential residuals. */
  readonly parallelResidual: boolean;
}

export interface OptConfig extends ModelConfig {
  readonly modelType: 'opt';
}

export interface BloomConfig extends ModelConfig {
  readonly modelType: 'bloom';
}

/** Refuse a setting by name unless it has the one value supported. */
function only(f: Fields, key: string, value: boolean, fallback: boolean, why: string): void {
  const v = f.boolOr(key, fallback);
  if (v !== value) throw new ConfigError(f.file, key, `${JSON.stringify(v)} is not supported (${why})`);
}

/** The same quantity under an old and a new name (e.g. BLOOM's n_head / num_attention_heads): either, or both equal. */
function aliasedPosInt(f: Fields, keys: readonly string[]): number {
  const given = keys.filter((k) => f.raw[k] !== undefined && f.raw[k] !== null);
  if (given.length === 0) throw new ConfigError(f.file, keys[0]!, `is missing (also accepted: ${keys.slice(1).join(', ')})`);
  const values = given.map((k) => f.posInt(k));
  if (values.some((v) => v !== values[0])) {
    throw new ConfigError(f.file, given[1]!, `(${values[1]}) contradicts ${given[0]} (${values[0]}); they name the same size`);
  }
  return values[0]!;
}

function common(f: Fields): Pick<ModelConfig, 'vocabSize' | 'bosTokenId' | 'eosTokenIds' | 'raw'> {
  return { vocabSize: f.posInt('vocab_size'), bosTokenId: f.optTokenId('bos_token_id'), eosTokenIds: f.tokenIds('eos_token_id'), raw: f.raw };
}

/**
 * GPT-NeoX RoPE settings: transformers 5 puts them in rope_parameters {rope_type, rope_theta,
 * partial_rotary_factor}; older configs have top-level rotary_pct and rotary_emb_base (and
 * rope_scaling). Only plain RoPE is supported.
 */
function neoxRope(f: Fields): { theta: number; fraction: number } {
  let theta = f.posNumberOr('rotary_emb_base', 10000);
  let fraction = f.posNumberOr('rotary_pct', 0.25);
  for (const key of ['rope_scaling', 'rope_parameters']) {
    const v = f.raw[key];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'object' || Array.isArray(v)) throw new ConfigError(f.file, key, `must be an object or null, got ${JSON.stringify(v)}`);
    const obj = v as Json;
    const type = obj.rope_type ?? obj.type ?? 'default';
    if (type !== 'default') throw new ConfigError(f.file, `${key}.rope_type`, `${JSON.stringify(type)} is not supported for gpt_neox; only plain RoPE ("default") is`);
    const num = (name: string, fallback: number): number => {
      const x = obj[name];
      if (x === undefined || x === null) return fallback;
      if (typeof x !== 'number' || !(x > 0)) throw new ConfigError(f.file, `${key}.${name}`, `must be a positive number, got ${JSON.stringify(x)}`);
      return x;
    };
    theta = num('rope_theta', theta);
    fraction = num('partial_rotary_factor', fraction);
  }
  if (fraction > 1) throw new ConfigError(f.file, 'partial_rotary_factor', `must be at most 1, got ${fraction}`);
  return { theta, fraction };
}

export function parseGptNeox(f: Fields): GptNeoxConfig {
  const hiddenSize = f.posInt('hidden_size');
  const numHeads = f.posInt('num_attention_heads');
  f.divides('num_attention_heads', numHeads, hiddenSize, 'hidden_size');
  const headDim = hiddenSize / numHeads;
  const rope = neoxRope(f);
  const rotaryDim = Math.floor(headDim * rope.fraction); // GPTNeoXAttention: int(head_size * rotary_pct)
  if (rotaryDim % 2 !== 0) throw new ConfigError(f.file, 'partial_rotary_factor', `${rope.fraction} rotates ${rotaryDim} of ${headDim} dims per head; RoPE needs an even number`);
  const bias = f.boolOr('attention_bias', true);
  if (!bias) throw new ConfigError(f.file, 'attention_bias', 'false is not supported (every GPT-NeoX checkpoint has biases)');
  return {
    modelType: 'gpt_neox',
    ...common(f),
    hiddenSize,
    numLayers: f.posInt('num_hidden_layers'),
    numHeads,
    numKvHeads: numHeads,
    headDim,
    intermediateSize: f.posInt('intermediate_size'),
    maxPositions: f.posIntOr('max_position_embeddings', 2048),
    normEps: f.posNumberOr('layer_norm_eps', 1e-5),
    ropeTheta: rope.theta,
    rotaryDim,
    parallelResidual: f.boolOr('use_parallel_residual', true),
    tieWordEmbeddings: f.boolOr('tie_word_embeddings', false),
    activation: f.stringOr('hidden_act', 'gelu'),
    attentionBias: true,
    mlpBias: true,
  };
}

export function parseOpt(f: Fields): OptConfig {
  const hiddenSize = f.posInt('hidden_size');
  const numHeads = f.posInt('num_attention_heads');
  f.divides('num_attention_heads', numHeads, hiddenSize, 'hidden_size');
  // OPTConfig: word_embed_proj_dim None means hidden_size. opt-350m's 512 ≠ 1024 adds project_in/out
  // around the decoder; PEFT's prompt tuning cannot even concatenate its hidden-size virtual tokens
  // with those 512-wide embeddings, so it is refused rather than half supported.
  const proj = f.posIntOr('word_embed_proj_dim', hiddenSize);
  if (proj !== hiddenSize) {
    throw new ConfigError(f.file, 'word_embed_proj_dim', `${proj} ≠ hidden_size ${hiddenSize} (projected embeddings, as in opt-350m) is not supported`);
  }
  only(f, 'do_layer_norm_before', true, true, 'post-LayerNorm OPT, as in opt-350m; only pre-LayerNorm blocks are');
  only(f, '_remove_final_layer_norm', false, false, 'a decoder without its final LayerNorm');
  only(f, 'enable_bias', true, true, 'OPT without biases');
  only(f, 'layer_norm_elementwise_affine', true, true, 'LayerNorms without gains and biases');
  return {
    modelType: 'opt',
    ...common(f),
    hiddenSize,
    numLayers: f.posInt('num_hidden_layers'),
    numHeads,
    numKvHeads: numHeads,
    headDim: hiddenSize / numHeads,
    intermediateSize: f.posInt('ffn_dim'),
    maxPositions: f.posIntOr('max_position_embeddings', 2048),
    normEps: 1e-5, // OPT's nn.LayerNorm default; the config has no field for it
    ropeTheta: 10000,
    tieWordEmbeddings: f.boolOr('tie_word_embeddings', true),
    activation: f.stringOr('activation_function', 'relu'),
    attentionBias: true,
    mlpBias: true,
  };
}

export function parseBloom(f: Fields): BloomConfig {
  // BloomConfig: n_embed, when given, overrides hidden_size; attribute_map makes
  // num_hidden_layers / num_attention_heads aliases of n_layer / n_head.
  const hiddenSize = aliasedPosInt(f, ['n_embed', 'hidden_size']);
  const numHeads = aliasedPosInt(f, ['n_head', 'num_attention_heads']);
  f.divides(f.raw.n_head !== undefined ? 'n_head' : 'num_attention_heads', numHeads, hiddenSize, 'the hidden size');
  only(f, 'apply_residual_connection_post_layernorm', false, false, 'residuals taken after the LayerNorm; every BLOOM checkpoint takes them before');
  return {
    modelType: 'bloom',
    ...common(f),
    hiddenSize,
    numLayers: aliasedPosInt(f, ['n_layer', 'num_hidden_layers']),
    numHeads,
    numKvHeads: numHeads,
    headDim: hiddenSize / numHeads,
    intermediateSize: 4 * hiddenSize, // BloomMLP: dense_h_to_4h
    // ALiBi has no position table; seq_length is the training length some BLOOM configs record (2048).
    maxPositions: f.posIntOr('seq_length', 2048),
    normEps: f.posNumberOr('layer_norm_epsilon', 1e-5),
    ropeTheta: 10000,
    tieWordEmbeddings: f.boolOr('tie_word_embeddings', true),
    activation: 'bloom_gelu', // BloomGelu: the tanh approximation
    attentionBias: true,
    mlpBias: true,
  };
}
