/**
 * Prefix tuning (Li & Liang 2021), PEFT's PrefixEncoder without projection: a table
 * [n, 2·L·KV·hd] viewed as [n, L, 2, KV, hd]; layer l's key is slice (l, 0), its value
 * (l, 1). With GQA the prefix holds KV heads. Prefix keys are never rotated.
 */
import type { ModelConfig } from '../formats/hf_config.ts';
import * as op from '../graph/ops/index.ts';
import type { Value } from '../graph/types.ts';
import type { KV } from '../models/types.ts';
import type { PromptMethod } from './types.ts';

export interface PrefixTuningOptions {
  numVirtualTokens: number;
}

export function prefixWidth(config: ModelConfig): number {
  return 2 * config.numLayers * config.numKvHeads * config.headDim;
}

/** Per-layer prefix keys/values [B, KV, n, hd] from the table, broadcast over the batch of `like` ([B, ...]). */
export function prefixPast(table: Value, config: ModelConfig, like: Value): KV[] {
  const g = table.graph;
  const { numLayers: L, numKvHeads: KVH, headDim: hd } = config;
  // [n, L, 2, KV, hd] → [L, 2, KV, n, hd]
  const t = op.transpose(op.reshape(table, [0, L, 2, KVH, hd]), [1, 2, 3, 0, 4]);
  const batch = op.slice(op.shapeOf(like), [0], [0], [1]);
  const expandTo = op.concat([batch, g.ints([1, 1, 1])], 0);
  const scalar = (i: number): Value => g.constant({ dtype: 'int64', shape: [], data: BigInt64Array.of(BigInt(i)) });
  const out: KV[] = [];
  for (let l = 0; l < L; l++) {
    const layer = op.gather(t, scalar(l)); // [2, KV, n, hd]
    const pick = (s: number): Value => {
      const x = op.unsqueeze(op.gather(layer, scalar(s)), [0]); // [1, KV, n, hd]
      return op.expand(x, expandTo, [like.shape[0]!, 1, 1, 1]);
    };
    out.push({ key: pick(0), value: pick(1) });
  }
  return out;
}

export function prefixTuning(config: ModelConfig, { numVirtualTokens: n }: PrefixTuningOptions): PromptMethod {
  return {
    kind: 'prefix_tuning',
    numVirtualTokens: n,
    params: [{ name: 'prompt_embeddings', shape: [n, prefixWidth(config)] }],
    enter: (model, p) => ({ placement: 'kv-prefix', past: (like) => prefixPast(p['prompt_embeddings']!, model.config, like) }),
  };
}
