/**
 * Hugging Face config.json -> a normalized, typed ModelConfig.
 * GPT-2 and Llama name the same quantities differently (n_embd vs hidden_size, ...); model builders
 * only ever see the normalized names, and every defaulting rule lives here, next to transformers' own.
 */
import { ConfigError, FormatError, UnsupportedModelError } from '../errors.ts';
import { DECODER_MODEL_TYPES, parseDecoderConfig } from './decoder_config.ts';
import type { DecoderFamily, DecoderSpec } from './decoder_config.ts';
import { parseBloom, parseGptNeox, parseOpt } from './gpt_config.ts';

export const SUPPORTED_MODEL_TYPES = ['gpt2', ...DECODER_MODEL_TYPES, 'gpt_neox', 'opt', 'bloom'] as const;
export type ModelType = (typeof SUPPORTED_MODEL_TYPES)[number];

export interface ModelConfig {
  readonly modelType: ModelType;
  readonly vocabSize: number;
  readonly hiddenSize: number;
  readonly numLayers: number;
  readonly numHeads: number;
  /** Key/value heads (grouped-query attention); equals numHeads for GPT-2. */
  readonly numKvHeads: number;
  readonly headDim: number;
  readonly intermediateSize: number;
  readonly maxPositions: number;
  /** LayerNorm epsilon (GPT-2) or RMSNorm epsilon (Llama). */
  readonly normEps: number;
  /** RoPE base (Llama); 10000 for GPT-2, which does not use it. */
  readonly ropeTheta: number;
  readonly tieWordEmbeddings: boolean;
  /** GPT-2 activation_function (e.g. "gelu_new") or Llama hidden_act (e.g. "silu"). */
  readonly activation: string;
  readonly attentionBias: boolean;
  readonly mlpBias: boolean;
  readonly bosTokenId?: number;
  readonly eosTokenIds: number[];
  /** The parsed config.json as it was. */
  readonly raw: Record<string, unknown>;
  /** What the RMSNorm decoder families (llama, qwen2, ...) differ in; absent for a plain Llama built elsewhere. */
  readonly decoder?: DecoderSpec;
}

export type Json = Record<string, unknown>;

/** Typed access to config fields; every failure is a ConfigError naming the file and field. */
export class Fields {
  constructor(readonly raw: Json, readonly file: string) {}

  private present(key: string): unknown {
    const v = this.raw[key];
    return v === null ? undefined : v;
  }

  posInt(key: string): number {
    const v = this.raw[key];
    if (v === undefined || v === null) throw new ConfigError(this.file, key, 'is missing');
    return this.checkPosInt(key, v);
  }

  posIntOr(key: string, fallback: number): number {
    const v = this.present(key);
    return v === undefined ? fallback : this.checkPosInt(key, v);
  }

  private checkPosInt(key: string, v: unknown): number {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) {
      throw new ConfigError(this.file, key, `must be a positive integer, got ${JSON.stringify(v)}`);
    }
    return v;
  }

  posNumberOr(key: string, fallback: number): number {
    const v = this.present(key);
    if (v === undefined) return fallback;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
      throw new ConfigError(this.file, key, `must be a positive number, got ${JSON.stringify(v)}`);
    }
    return v;
  }

  boolOr(key: string, fallback: boolean): boolean {
    const v = this.present(key);
    if (v === undefined) return fallback;
    if (typeof v !== 'boolean') throw new ConfigError(this.file, key, `must be true or false, got ${JSON.stringify(v)}`);
    return v;
  }

  stringOr(key: string, fallback: string): string {
    const v = this.present(key);
    if (v === undefined) return fallback;
    if (typeof v !== 'string') throw new ConfigError(this.file, key, `must be a string, got ${JSON.stringify(v)}`);
    return v;
  }

  optTokenId(key: string): number | undefined {
    const v = this.present(key);
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
      throw new ConfigError(this.file, key, `must be a non-negative integer or null, got ${JSON.stringify(v)}`);
    }
    return v;
  }

  /** eos_token_id may be one id, a list of ids, or null. */
  tokenIds(key: string): number[] {
    const v = this.present(key);
    if (v === undefined) return [];
    const list = Array.isArray(v) ? v : [v];
    if (!list.every((x) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0)) {
      throw new ConfigError(this.file, key, `must be a token id, a list of token ids, or null, got ${JSON.stringify(v)}`);
    }
    return list as number[];
  }

  /** `divisor` must divide `value` (e.g. heads must divide the hidden size). */
  divides(divisorKey: string, divisor: number, value: number, what: string): void {
    if (value % divisor !== 0) throw new ConfigError(this.file, divisorKey, `(${divisor}) must divide ${what} (${value})`);
  }
}

function parseGpt2(f: Fields): ModelConfig {
  const hiddenSize = f.posInt('n_embd');
  const numHeads = f.posInt('n_head');
  f.divides('n_head', numHeads, hiddenSize, 'n_embd');
  return {
    modelType: 'gpt2',
    vocabSize: f.posInt('vocab_size'),
    hiddenSize,
    numLayers: f.posInt('n_layer'),
    numHeads,
    numKvHeads: numHeads,
    headDim: hiddenSize / numHeads,
    intermediateSize: f.posIntOr('n_inner', 4 * hiddenSize), // n_inner null means 4 * n_embd
    maxPositions: f.posInt('n_positions'),
    normEps: f.posNumberOr('layer_norm_epsilon', 1e-5),
    ropeTheta: 10000,
    tieWordEmbeddings: f.boolOr('tie_word_embeddings', true),
    activation: f.stringOr('activation_function', 'gelu_new'),
    attentionBias: true,
    mlpBias: true,
    bosTokenId: f.optTokenId('bos_token_id'),
    eosTokenIds: f.tokenIds('eos_token_id'),
    raw: f.raw,
  };
}

/** Normalize an already-parsed config.json. `file` names it in error messages. */
export function parseHfConfig(raw: unknown, file: string): ModelConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new FormatError(file, 'config.json must hold a JSON object');
  }
  const f = new Fields(raw as Json, file);
  const modelType = f.raw.model_type;
  if (modelType === undefined || modelType === null) {
    throw new ConfigError(file, 'model_type', `is missing; supported: ${SUPPORTED_MODEL_TYPES.join(', ')}`);
  }
  if (typeof modelType !== 'string') throw new ConfigError(file, 'model_type', `must be a string, got ${JSON.stringify(modelType)}`);
  if ((DECODER_MODEL_TYPES as readonly string[]).includes(modelType)) return parseDecoderConfig(f, modelType as DecoderFamily);
  switch (modelType) {
    case 'gpt2': return parseGpt2(f);
    case 'gpt_neox': return parseGptNeox(f);
    case 'opt': return parseOpt(f);
    case 'bloom': return parseBloom(f);
    default: throw new UnsupportedModelError(file, modelType, SUPPORTED_MODEL_TYPES);
  }
}

/** The token ids of generation_config.json that decoding needs (it may list more eos ids than config.json). */
export interface GenerationConfig {
  readonly bosTokenId?: number;
  readonly eosTokenIds: number[];
  readonly padTokenId?: number;
}

export function parseGenerationConfig(raw: unknown, file: string): GenerationConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new FormatError(file, 'generation_config.json must hold a JSON object');
  }
  const f = new Fields(raw as Json, file);
  return { bosTokenId: f.optTokenId('bos_token_id'), eosTokenIds: f.tokenIds('eos_token_id'), padTokenId: f.optTokenId('pad_token_id') };
}
