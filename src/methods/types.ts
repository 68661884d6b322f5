/**
 * A prompt-learning method declares its trainable tensors (with PEFT's names) and how
 * they enter a frozen model: as virtual-token embeddings before the input, or as a
 * key/value prefix in every layer.
 */
import type { Value } from '../graph/types.ts';
import type { CausalLM, KV } from '../models/types.ts';

export type MethodKind = 'prompt_tuning' | 'p_tuning' | 'prefix_tuning' | 'multitask_prompt_tuning';

export interface ParamSpec {
  /** PEFT's tensor name, e.g. "prompt_embeddings" or "mlp_head.0.weight". */
  readonly name: string;
  readonly shape: readonly number[];
}

/**
 * How the trainable tensors reach the model, per batch of size B (taken from `like`).
 * Embeddings are [n, d], shared by every row, or [B, n, d] when `perExample` (multitask prompt
 * tuning: each row's prompt depends on its task id).
 */
export type MethodEntry =
  | { readonly placement: 'embeddings'; readonly virtualTokens: Value; readonly perExample?: boolean }
  | { readonly placement: 'kv-prefix'; readonly past: (batchLike: Value) => KV[] };

/** Graph inputs a method may read besides its params. */
export interface MethodInputs {
  /** [B] int64 task id of each row; present when the method has `numTasks`. */
  readonly taskIds?: Value;
}

/**
 * The network a method trains through instead of training its output directly (PEFT's
 * reparameterisation): p-tuning's PromptEncoder (MLP or LSTM) or the PrefixEncoder's projection.
 * PEFT saves only the output; softprompt keeps the encoder beside it to resume training.
 */
export type EncoderSpec =
  | { readonly type: 'mlp'; readonly hiddenSize: number }
  | { readonly type: 'lstm'; readonly hiddenSize: number; readonly numLayers: number }
  | { readonly type: 'prefix_projection'; readonly hiddenSize: number }
  /** Residual prompt tuning (Razdaibiedina et al. 2023): P + LayerNorm(Lin2(ReLU(Lin0(P)))), saved as plain prompt tuning. */
  | { readonly type: 'residual'; readonly hiddenSize: number };

export interface PromptMethod {
  readonly kind: MethodKind;
  readonly numVirtualTokens: number;
  readonly params: readonly ParamSpec[];
  /** Present when the params are an encoder whose output is what PEFT saves as prompt_embeddings. */
  readonly encoder?: EncoderSpec;
  /**
   * Set when the virtual tokens depend on a task id per example (multitask prompt tuning): the
   * program then has a `task_ids` [B] input, fed from TokenBatch.taskIds, each in 0..numTasks-1.
   */
  readonly numTasks?: number;
  /** Graph side: given the params as graph values, how they enter `model`. */
  enter(model: CausalLM, params: Readonly<Record<string, Value>>, inputs: MethodInputs): MethodEntry;
}
