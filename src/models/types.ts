/** What every model family provides to methods/, train/ and infer/. */
import type { ModelConfig } from '../formats/hf_config.ts';
import type { Graph } from '../graph/graph.ts';
import type { Value } from '../graph/types.ts';

export type FloatDType = 'float32' | 'float64';

/** One layer's keys or values: [B, kv_heads, L, head_dim]. Keys are stored already rotated. */
export interface KV {
  readonly key: Value;
  readonly value: Value;
}

export interface ForwardInputs {
  /** [B, S, d] input embeddings (virtual tokens already in place). */
  readonly embeds: Value;
  /** [B, S] int64 absolute positions of the S embeddings. */
  readonly positionIds: Value;
  /** [B, P+S] int64, 1 = attend: P past/prefix slots then the S new ones. */
  readonly attentionMask: Value;
  /** Per layer past keys/values of length P (a prefix or a KV cache); absent means P = 0. */
  readonly past?: readonly KV[];
  /**
   * [B, P+S] int64 segment of each key slot, for several continuations packed after one shared
   * prompt: a query sees a key only if the key's segment is 0 (shared) or the query's own. Absent:
   * one segment.
   */
  readonly segmentIds?: Value;
}

export interface ForwardOutputs {
  /** [B, S, d] final hidden states (after the last norm). */
  readonly hidden: Value;
  /** Per layer keys/values of length P+S, for caching. */
  readonly present: readonly KV[];
}

export interface CausalLM {
  readonly config: ModelConfig;
  readonly graph: Graph;
  readonly dtype: FloatDType;
  /** Token ids [B, S] → embeddings [B, S, d] (no positions: GPT-2 adds those in forward). */
  embedTokens(ids: Value): Value;
  forward(inputs: ForwardInputs): ForwardOutputs;
  /** [..., d] → logits [..., V]. */
  lmHead(hidden: Value): Value;
}

export interface BuildOptions {
  dtype?: FloatDType;
}
