/**
 * adapter_config.json as PEFT writes it for a CAUSAL_LM prompt-learning adapter: the fields of
 * PeftConfig, PromptLearningConfig and the method's config dataclass (PromptTuningConfig,
 * PromptEncoderConfig, PrefixTuningConfig), serialised like Python's
 * json.dumps(asdict(config), indent=2, sort_keys=True). MULTITASK_PROMPT_TUNING is
 * MultitaskPromptTuningConfig: PromptTuningConfig's fields plus num_tasks, num_ranks,
 * prompt_tuning_init_state_dict_path and prompt_tuning_init_task.
 *
 * Fields newer PEFT releases added (peft_version, modules_to_save, PrefixTuningConfig.init_weights)
 * are left out: PEFT ≥ 0.14 fills their defaults, and PEFT < 0.14 rejects keys it does not know.
 */
import type { ModelConfig } from '../formats/hf_config.ts';
import type { MethodKind, PromptMethod } from '../methods/types.ts';
import type { MultitaskSourceInit, PeftType, PromptInit } from './types.ts';

export const PEFT_TYPES: Readonly<Record<MethodKind, PeftType>> = {
  prompt_tuning: 'PROMPT_TUNING',
  p_tuning: 'P_TUNING',
  prefix_tuning: 'PREFIX_TUNING',
  multitask_prompt_tuning: 'MULTITASK_PROMPT_TUNING',
};

/** PEFT's MultitaskPromptTuningInit value of each source init. */
export const MULTITASK_SOURCE_INITS: Readonly<Record<MultitaskSourceInit['kind'], string>> = {
  average_source_tasks: 'AVERAGE_SOURCE_TASKS',
  exact_source_task: 'EXACT_SOURCE_TASK',
  only_source_shared: 'ONLY_SOURCE_SHARED',
};

export const SUPPORTED_PEFT_TYPES: readonly PeftType[] = Object.values(PEFT_TYPES);

/** The PEFT sizes of a method on a model (PEFT's _prepare_prompt_learning_config). */
export interface PeftDims {
  /** PEFT token_dim: the hidden size; for prefix tuning with GQA, kv_heads × head_dim. */
  tokenDim: number;
  /** PEFT num_attention_heads: the heads; for prefix tuning, the key/value heads. */
  numAttentionHeads: number;
  numLayers: number;
}

/**
 * PEFT (≥ 0.12, huggingface/peft#1901) sizes a prefix by the key/value heads when the model config
 * has num_key_value_heads: token_dim = hidden // heads · kv_heads, num_attention_heads = kv_heads.
 * Without GQA that is the hidden size and the heads, as for every other method.
 */
export function peftDims(config: ModelConfig, kind: MethodKind): PeftDims {
  if (kind === 'prefix_tuning') {
    return { tokenDim: config.numKvHeads * config.headDim, numAttentionHeads: config.numKvHeads, numLayers: config.numLayers };
  }
  return { tokenDim: config.hiddenSize, numAttentionHeads: config.numHeads, numLayers: config.numLayers };
}

/**
 * PEFT's prompt_tuning_init for how the embeddings were initialised. The value only matters to
 * PEFT when it re-creates the module for training (is_trainable=True), before loading the saved
 * tensor over it, so it must be loadable and should not claim more than is true:
 * - random → RANDOM, vocab → SAMPLE_VOCAB, text → TEXT with the text and the tokenizer path;
 * - labels → SAMPLE_VOCAB: every initial row is a row of the vocabulary embedding table (the
 *   verbalizer's tokens, then uniform samples), which is what SAMPLE_VOCAB promises. TEXT would
 *   claim PEFT's TEXT recipe (BOS, cyclic repetition), which labels does not follow, and RANDOM
 *   would claim off-manifold N(0, 1) vectors. softprompt.json's `init` keeps the real init.
 * - text without a tokenizer path → SAMPLE_VOCAB too, since PEFT refuses TEXT without one.
 */
export function promptTuningInitFields(init: PromptInit | undefined, tokenizerPath: string | null): Record<string, unknown> {
  const fields = (value: string, text: string | null, tok: string | null): Record<string, unknown> => ({
    prompt_tuning_init: value,
    prompt_tuning_init_text: text,
    tokenizer_name_or_path: tok,
    tokenizer_kwargs: null,
  });
  switch (init?.kind ?? 'random') {
    case 'random': return fields('RANDOM', null, null);
    case 'text':
      if (tokenizerPath !== null) return fields('TEXT', (init as { text: string }).text, tokenizerPath);
      return fields('SAMPLE_VOCAB', null, null);
    case 'vocab':
    case 'labels':
      return fields('SAMPLE_VOCAB', null, null);
  }
}

export interface PeftConfigArgs {
  method: PromptMethod;
  config: ModelConfig;
  /** base_model_name_or_path (and the tokenizer path of a TEXT init); null when unknown. */
  baseModelPath: string | null;
  /** Prompt tuning's init (ignored by the other methods). */
  init?: PromptInit;
  /**
   * Multitask prompt tuning's source adapter, when it started from one: recorded as
   * prompt_tuning_init_state_dict_path and prompt_tuning_init_task (see multitaskInitFields).
   */
  sourceInit?: MultitaskSourceInit;
  /** P-tuning's encoder hidden size when `method.encoder` does not give it (mlp_head.0.weight's rows). */
  encoderHiddenSize?: number;
}

/**
 * MultitaskPromptTuningConfig's own fields. prompt_tuning_init stays the shared prompt's init
 * (RANDOM, TEXT, SAMPLE_VOCAB as for prompt tuning) even after a source init, because PEFT re-runs
 * the init whenever it builds the module, loading included: with AVERAGE_SOURCE_TASKS,
 * EXACT_SOURCE_TASK or ONLY_SOURCE_SHARED its from_pretrained would torch.load the source path
 * (which fails on a safetensors file or on another machine) and, for more than one task, load
 * [1, …] factors strictly into [num_tasks, …]. The source path and task are recorded in
 * prompt_tuning_init_state_dict_path / prompt_tuning_init_task, which PEFT reads only for those
 * inits, and softprompt.json's `source_init` keeps the source init itself.
 */
export function multitaskInitFields(numTasks: number, numRanks: number, sourceInit: MultitaskSourceInit | undefined): Record<string, unknown> {
  return {
    num_ranks: numRanks,
    num_tasks: numTasks,
    prompt_tuning_init_state_dict_path: sourceInit?.path ?? null,
    prompt_tuning_init_task: sourceInit?.task ?? 0,
  };
}

/** The adapter_config.json object for a trained method (inference_mode true, as save_pretrained writes). */
export function buildPeftConfig({ method, config, baseModelPath, init, encoderHiddenSize, sourceInit }: PeftConfigArgs): Record<string, unknown> {
  const dims = peftDims(config, method.kind);
  const common: Record<string, unknown> = {
    // PeftConfigMixin / PeftConfig
    auto_mapping: null,
    base_model_name_or_path: baseModelPath,
    inference_mode: true,
    peft_type: PEFT_TYPES[method.kind],
    revision: null,
    task_type: 'CAUSAL_LM',
    // PromptLearningConfig
    num_attention_heads: dims.numAttentionHeads,
    num_layers: dims.numLayers,
    num_transformer_submodules: 1,
    num_virtual_tokens: method.numVirtualTokens,
    token_dim: dims.tokenDim,
  };
  switch (method.kind) {
    case 'prompt_tuning':
      return { ...common, ...promptTuningInitFields(init, baseModelPath) };
    case 'p_tuning': {
      const enc = method.encoder;
      const lstm = enc?.type === 'lstm' ? enc : undefined;
      return {
        ...common,
        encoder_dropout: 0.0, // softprompt trains without dropout
        encoder_hidden_size: enc?.hiddenSize ?? encoderHiddenSize ?? dims.tokenDim,
        encoder_num_layers: lstm?.numLayers ?? 2, // PEFT's MLP ignores it (always 2 hidden layers)
        encoder_reparameterization_type: lstm ? 'LSTM' : 'MLP',
      };
    }
    case 'prefix_tuning': {
      // encoder_hidden_size is unused without projection; PEFT defaults it to token_dim.
      const proj = method.encoder?.type === 'prefix_projection' ? method.encoder : undefined;
      return { ...common, encoder_hidden_size: proj?.hiddenSize ?? dims.tokenDim, prefix_projection: proj !== undefined };
    }
    case 'multitask_prompt_tuning': {
      const cols = method.params.find((p) => p.name === 'prefix_task_cols');
      const numRanks = cols?.shape[2] ?? 1;
      return { ...common, ...promptTuningInitFields(init, baseModelPath), ...multitaskInitFields(method.numTasks ?? 1, numRanks, sourceInit) };
    }
  }
}

/** Fields Python holds as float, so json.dumps writes 0.0 where JavaScript would write 0. */
const FLOAT_FIELDS = new Set(['encoder_dropout']);

/**
 * Python's json.dumps(value, indent=2, sort_keys=True): keys sorted, ", "-free separators with
 * indentation, non-ASCII escaped as \uXXXX (ensure_ascii), floats of FLOAT_FIELDS with ".0".
 */
export function pythonJson(value: unknown, indent = '', key?: string): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new RangeError(`pythonJson: ${value} is not representable in JSON`);
    return key !== undefined && FLOAT_FIELDS.has(key) && Number.isInteger(value) ? `${value}.0` : String(value);
  }
  if (typeof value === 'string') return JSON.stringify(value).replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  const inner = `${indent}  `;
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    return `[\n${value.map((v) => inner + pythonJson(v, inner)).join(',\n')}\n${indent}]`;
  }
  const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (entries.length === 0) return '{}';
  return `{\n${entries.map(([k, v]) => `${inner}${pythonJson(k)}: ${pythonJson(v, inner, k)}`).join(',\n')}\n${indent}}`;
}
