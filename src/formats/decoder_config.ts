/**
 * config.json of the pre-norm RMSNorm decoders (llama, qwen2, qwen3, mistral, gemma3_text, phi3)
 * -> ModelConfig plus a DecoderSpec saying what differs between them. Every default is the one
 * transformers' own config class uses (cited per family below). Both layouts are accepted:
 * transformers 5's `rope_parameters` (per layer type for Gemma 3) and `dtype`, and the older
 * top-level `rope_theta` / `rope_scaling` / `rope_local_base_freq` / `partial_rotary_factor`.
 * Anything that would change the computation and is not implemented is refused by field name.
 */
import { ConfigError } from '../errors.ts';
import type { Fields, Json, ModelConfig } from './hf_config.ts';

export const DECODER_MODEL_TYPES = ['llama', 'qwen2', 'qwen3', 'mistral', 'gemma3_text', 'phi3'] as const;
export type DecoderFamily = (typeof DECODER_MODEL_TYPES)[number];

/** How the inverse frequencies are rescaled (transformers' rope_type). */
export type RopeScaling =
  | { readonly type: 'default' }
  | { readonly type: 'linear'; readonly factor: number }
  | {
      readonly type: 'llama3';
      readonly factor: number;
      readonly lowFreqFactor: number;
      readonly highFreqFactor: number;
      readonly originalMaxPositions: number;
    };

export interface RopeSpec {
  readonly theta: number;
  readonly scaling: RopeScaling;
  /** Leading dims of each head that are rotated (partial rotary); the rest pass through. */
  readonly rotaryDim: number;
}

export interface DecoderLayerSpec {
  /** Sliding window: a query at position p sees keys at positions > p − window. null: full causal. */
  readonly window: number | null;
  readonly rope: RopeSpec;
}

export interface DecoderSpec {
  readonly family: DecoderFamily;
  readonly layers: readonly DecoderLayerSpec[];
  /** Biases on q/k/v (Qwen2 always; llama/qwen3/gemma3 with attention_bias) and on o_proj. */
  readonly qkvBias: boolean;
  readonly outBias: boolean;
  readonly mlpBias: boolean;
  /** Per-head RMSNorm of q and k before RoPE (Qwen3, Gemma 3). */
  readonly qkNorm: boolean;
  /** Gemma's RMSNorm gain is 1 + w. */
  readonly unitOffsetNorm: boolean;
  /** Gemma 3's four norms per layer: post-attention and post-feedforward norms on the branch outputs. */
  readonly sandwichNorms: boolean;
  /** Token embeddings are multiplied by this inside the embedding module (Gemma: √hidden); 1 elsewhere. */
  readonly embedScale: number;
  /** Attention score scale (1/√head_dim, Gemma: query_pre_attn_scalar^−½). */
  readonly attnScale: number;
  /** Phi-3 stores q|k|v as one qkv_proj and gate|up as one gate_up_proj. */
  readonly fused: boolean;
  readonly activation: 'silu' | 'gelu_pytorch_tanh';
}

/** A config field read without Fields' null-as-missing rule (sliding_window: null means "none"). */
function rawField(f: Fields, key: string): unknown {
  return f.raw[key];
}

function num(f: Fields, field: string, v: unknown, fallback?: number): number {
  if (v === undefined || v === null) {
    if (fallback === undefined) throw new ConfigError(f.file, field, 'is missing');
    return fallback;
  }
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new ConfigError(f.file, field, `must be a positive number, got ${JSON.stringify(v)}`);
  return v;
}

function obj(f: Fields, field: string, v: unknown): Json | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) throw new ConfigError(f.file, field, `must be an object or null, got ${JSON.stringify(v)}`);
  return v as Json;
}

/**
 * A RoPE settings object (v5 rope_parameters, or old rope_scaling) -> scaling. `type`/`rope_type`
 * "default" (or absent) is plain RoPE; linear and llama3 are implemented; the rest are refused.
 */
function ropeScaling(f: Fields, field: string, o: Json | undefined): RopeScaling {
  if (!o) return { type: 'default' };
  const type = o.rope_type ?? o.type ?? 'default';
  const at = (k: string): string => `${field}.${k}`;
  switch (type) {
    case 'default': return { type: 'default' };
    case 'linear': return { type: 'linear', factor: num(f, at('factor'), o.factor) };
    case 'llama3': {
      const s = {
        type: 'llama3' as const,
        factor: num(f, at('factor'), o.factor),
        lowFreqFactor: num(f, at('low_freq_factor'), o.low_freq_factor),
        highFreqFactor: num(f, at('high_freq_factor'), o.high_freq_factor),
        originalMaxPositions: num(f, at('original_max_position_embeddings'), o.original_max_position_embeddings),
      };
      if (s.highFreqFactor <= s.lowFreqFactor) throw new ConfigError(f.file, at('high_freq_factor'), `(${s.highFreqFactor}) must exceed low_freq_factor (${s.lowFreqFactor})`);
      return s;
    }
    default:
      throw new ConfigError(f.file, `${field}.${o.rope_type !== undefined ? 'rope_type' : 'type'}`, `${JSON.stringify(type)} is not supported (supported: default, linear, llama3)`);
  }
}

/**
 * One RoPE spec from either layout: v5 `rope_parameters` (theta, scaling and partial factor in one
 * object) or old top-level `rope_theta` + `rope_scaling` + `partial_rotary_factor`.
 */
function ropeSpec(f: Fields, headDim: number, defaultTheta: number): RopeSpec {
  const params = obj(f, 'rope_parameters', rawField(f, 'rope_parameters'));
  const old = obj(f, 'rope_scaling', rawField(f, 'rope_scaling'));
  // Old configs put the scaling in rope_scaling; its type decides (v5 merges both into rope_parameters).
  const scaling = old && (old.rope_type ?? old.type ?? 'default') !== 'default' ? ropeScaling(f, 'rope_scaling', old) : ropeScaling(f, 'rope_parameters', params);
  const theta = params?.rope_theta !== undefined
    ? num(f, 'rope_parameters.rope_theta', params.rope_theta)
    : num(f, 'rope_theta', rawField(f, 'rope_theta'), defaultTheta);
  const factorField = params?.partial_rotary_factor !== undefined ? 'rope_parameters.partial_rotary_factor' : 'partial_rotary_factor';
  const factor = num(f, factorField, params?.partial_rotary_factor ?? rawField(f, 'partial_rotary_factor'), 1);
  if (factor > 1) throw new ConfigError(f.file, factorField, `must be at most 1, got ${factor}`);
  // transformers: dim = int(head_dim * partial_rotary_factor)
  const rotaryDim = Math.floor(headDim * factor);
  if (rotaryDim < 2 || rotaryDim % 2 !== 0) throw new ConfigError(f.file, factorField, `(${factor}) gives ${rotaryDim} rotary dims of head_dim ${headDim}; it must be a positive even number`);
  return { theta, scaling, rotaryDim };
}

/** Gemma 3: local (sliding) and global RoPE. v5: rope_parameters per layer type; old: rope_local_base_freq, rope_theta, rope_scaling (global only). */
function gemmaRopes(f: Fields, headDim: number): { sliding: RopeSpec; full: RopeSpec } {
  const params = obj(f, 'rope_parameters', rawField(f, 'rope_parameters'));
  if (params && ('sliding_attention' in params || 'full_attention' in params)) {
    const one = (key: string, defaultTheta: number): RopeSpec => {
      const field = `rope_parameters.${key}`;
      const o = obj(f, field, params[key]);
      return { theta: num(f, `${field}.rope_theta`, o?.rope_theta, defaultTheta), scaling: ropeScaling(f, field, o), rotaryDim: headDim };
    };
    return { sliding: one('sliding_attention', 10000), full: one('full_attention', 1000000) };
  }
  const full = ropeSpec(f, headDim, 1000000); // Gemma3TextConfig: rope_theta 1e6, rope_scaling on global layers
  if (full.rotaryDim !== headDim) throw new ConfigError(f.file, 'partial_rotary_factor', 'is not supported for gemma3_text');
  const localTheta = num(f, 'rope_local_base_freq', rawField(f, 'rope_local_base_freq'), 10000);
  return { sliding: { theta: localTheta, scaling: { type: 'default' }, rotaryDim: headDim }, full };
}

/** layer_types if given (checked), else null. */
function layerTypes(f: Fields, numLayers: number): ('full_attention' | 'sliding_attention')[] | null {
  const v = rawField(f, 'layer_types');
  if (v === undefined || v === null) return null;
  if (!Array.isArray(v) || v.length !== numLayers) throw new ConfigError(f.file, 'layer_types', `must list one type per layer (${numLayers}), got ${JSON.stringify(v)}`);
  return v.map((t, i) => {
    if (t !== 'full_attention' && t !== 'sliding_attention') throw new ConfigError(f.file, `layer_types[${i}]`, `${JSON.stringify(t)} is not supported (full_attention, sliding_attention)`);
    return t;
  });
}

/** sliding_window: absent -> `fallback`, null -> none, else a positive integer. */
function slidingWindow(f: Fields, fallback: number | null): number | null {
  const v = rawField(f, 'sliding_window');
  if (v === undefined) return fallback;
  if (v === null) return null;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) throw new ConfigError(f.file, 'sliding_window', `must be a positive integer or null, got ${JSON.stringify(v)}`);
  return v;
}

/** Fields transformers has but we do not implement: refused when set, never ignored. */
function refuseUnsupported(f: Fields): void {
  for (const key of ['num_local_experts', 'num_experts', 'moe_intermediate_size']) {
    const v = rawField(f, key);
    if (v !== undefined && v !== null && v !== 0) throw new ConfigError(f.file, key, `is ${JSON.stringify(v)}: mixture-of-experts models are not supported`);
  }
  for (const key of ['attn_logit_softcapping', 'final_logit_softcapping']) {
    const v = rawField(f, key);
    if (v !== undefined && v !== null) throw new ConfigError(f.file, key, `is ${JSON.stringify(v)}: soft-capping is not supported`);
  }
  if (rawField(f, 'use_bidirectional_attention') === true) throw new ConfigError(f.file, 'use_bidirectional_attention', 'is true: only causal attention is supported');
  const tp = rawField(f, 'pretraining_tp');
  if (tp !== undefined && tp !== null && tp !== 1) throw new ConfigError(f.file, 'pretraining_tp', `is ${JSON.stringify(tp)}: only 1 is supported`);
}

/** Normalize the config of one of DECODER_MODEL_TYPES. */
export function parseDecoderConfig(f: Fields, family: DecoderFamily): ModelConfig {
  refuseUnsupported(f);
  const hiddenSize = f.posInt('hidden_size');
  const numHeads = f.posInt('num_attention_heads');
  const numLayers = f.posInt('num_hidden_layers');
  // LlamaConfig & co: num_key_value_heads None -> num_attention_heads. Gemma3TextConfig's default
  // is 4 (not the head count), so there it must be given.
  const numKvHeads = family === 'gemma3_text' ? f.posInt('num_key_value_heads') : f.posIntOr('num_key_value_heads', numHeads);
  f.divides('num_key_value_heads', numKvHeads, numHeads, 'num_attention_heads');
  // head_dim: Qwen3Config defaults to 128 and Gemma3TextConfig to 256; the others use hidden/heads.
  const defaultHeadDim = family === 'qwen3' ? 128 : family === 'gemma3_text' ? 256 : undefined;
  if (defaultHeadDim === undefined && (f.raw.head_dim === undefined || f.raw.head_dim === null)) f.divides('num_attention_heads', numHeads, hiddenSize, 'hidden_size');
  const headDim = f.posIntOr('head_dim', defaultHeadDim ?? hiddenSize / numHeads);
  const gemma = family === 'gemma3_text';

  // Activation: Gemma 3 reads hidden_activation (gelu_pytorch_tanh); the rest hidden_act (silu).
  const actKey = gemma ? 'hidden_activation' : 'hidden_act';
  const activation = f.stringOr(actKey, gemma ? 'gelu_pytorch_tanh' : 'silu');
  const allowed = gemma ? ['gelu_pytorch_tanh'] : ['silu'];
  if (!allowed.includes(activation)) throw new ConfigError(f.file, actKey, `"${activation}" is not supported for ${family} (only ${allowed.join(', ')})`);

  // Windows per layer.
  let windows: (number | null)[];
  let gemmaTypes: string[] = [];
  const types = layerTypes(f, numLayers);
  if (family === 'qwen2' || family === 'qwen3') {
    // Qwen2Config/Qwen3Config: sliding_window only if use_sliding_window (default false); without
    // layer_types, layers i >= max_window_layers (default 28) slide.
    const window = f.boolOr('use_sliding_window', false) ? slidingWindow(f, 4096) : null;
    const maxWindowLayers = f.posIntOr('max_window_layers', 28);
    const t = types ?? Array.from({ length: numLayers }, (_, i) => (window !== null && i >= maxWindowLayers ? 'sliding_attention' : 'full_attention'));
    windows = t.map((x) => (x === 'sliding_attention' ? window : null));
  } else if (gemma) {
    // Gemma3TextConfig: sliding_window 4096; without layer_types, layer i is global iff
    // (i + 1) % sliding_window_pattern == 0 (pattern 6; v5 writes it as _sliding_window_pattern).
    const window = slidingWindow(f, 4096);
    const patternKey = rawField(f, 'sliding_window_pattern') !== undefined ? 'sliding_window_pattern' : '_sliding_window_pattern';
    const pattern = f.posIntOr(patternKey, 6);
    gemmaTypes = types ?? Array.from({ length: numLayers }, (_, i) => ((i + 1) % pattern !== 0 ? 'sliding_attention' : 'full_attention'));
    windows = gemmaTypes.map((x) => (x === 'sliding_attention' ? window : null));
  } else if (family === 'mistral' || family === 'phi3') {
    // MistralConfig: sliding_window 4096 (null: none); Phi3Config: None. Every layer uses it.
    const window = slidingWindow(f, family === 'mistral' ? 4096 : null);
    windows = Array.from({ length: numLayers }, () => window);
  } else {
    if (types?.includes('sliding_attention')) throw new ConfigError(f.file, 'layer_types', 'has sliding_attention layers, which llama does not have');
    windows = Array.from({ length: numLayers }, () => null);
  }

  // RoPE per layer. Defaults: theta 10000 (LlamaConfig, Qwen2/3, Mistral, Phi3); Gemma 3 above.
  let ropes: RopeSpec[];
  if (gemma) {
    const r = gemmaRopes(f, headDim);
    ropes = gemmaTypes.map((t) => (t === 'sliding_attention' ? r.sliding : r.full));
  } else {
    const r = ropeSpec(f, headDim, 10000);
    if (r.rotaryDim !== headDim && family !== 'phi3') throw new ConfigError(f.file, 'partial_rotary_factor', `is not supported for ${family} (only phi3 rotates part of each head)`);
    ropes = windows.map(() => r);
  }

  // Biases. Qwen2: q/k/v always, o_proj never. Llama, Qwen3, Gemma 3: attention_bias on q/k/v/o.
  // Mistral, Phi-3: none.
  const attentionBias = family === 'qwen2' ? true : family === 'mistral' || family === 'phi3' ? false : f.boolOr('attention_bias', false);
  const mlpBias = family === 'llama' ? f.boolOr('mlp_bias', false) : false;
  const spec: DecoderSpec = {
    family,
    layers: windows.map((window, i) => ({ window, rope: ropes[i]! })),
    qkvBias: attentionBias,
    outBias: family === 'qwen2' ? false : attentionBias,
    mlpBias,
    qkNorm: family === 'qwen3' || gemma,
    unitOffsetNorm: gemma,
    sandwichNorms: gemma,
    embedScale: gemma ? Math.sqrt(hiddenSize) : 1,
    // Gemma3TextConfig: query_pre_attn_scalar 256.
    attnScale: gemma ? 1 / Math.sqrt(num(f, 'query_pre_attn_scalar', rawField(f, 'query_pre_attn_scalar'), 256)) : 1 / Math.sqrt(headDim),
    fused: family === 'phi3',
    activation: activation as DecoderSpec['activation'],
  };
  return {
    modelType: family,
    vocabSize: f.posInt('vocab_size'),
    hiddenSize,
    numLayers,
    numHeads,
    numKvHeads,
    headDim,
    intermediateSize: f.posInt('intermediate_size'),
    maxPositions: f.posInt('max_position_embeddings'),
    // rms_norm_eps: 1e-6 (Llama, Qwen2/3, Mistral, Gemma 3), 1e-5 (Phi3Config).
    normEps: f.posNumberOr('rms_norm_eps', family === 'phi3' ? 1e-5 : 1e-6),
    ropeTheta: ropes[ropes.length - 1]!.theta,
    // tie_word_embeddings: true for Gemma 3, false for the others.
    tieWordEmbeddings: f.boolOr('tie_word_embeddings', gemma),
    activation,
    attentionBias,
    mlpBias,
    bosTokenId: f.optTokenId('bos_token_id'),
    eosTokenIds: f.tokenIds('eos_token_id'),
    raw: f.raw,
    decoder: spec,
  };
}

/** The spec of a plain Llama (for configs made without parseDecoderConfig, e.g. llama2.c). */
export function plainLlamaSpec(config: ModelConfig): DecoderSpec {
  const rope: RopeSpec = { theta: config.ropeTheta, scaling: { type: 'default' }, rotaryDim: config.headDim };
  return {
    family: 'llama',
    layers: Array.from({ length: config.numLayers }, () => ({ window: null, rope })),
    qkvBias: config.attentionBias,
    outBias: config.attentionBias,
    mlpBias: config.mlpBias,
    qkNorm: false,
    unitOffsetNorm: false,
    sandwichNorms: false,
    embedScale: 1,
    attnScale: 1 / Math.sqrt(config.headDim),
    fused: false,
    activation: 'silu',
  };
}
