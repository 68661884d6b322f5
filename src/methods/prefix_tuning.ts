/**
 * Prefix tuning (Li & Liang 2021), PEFT's PrefixEncoder: a table [n, 2·L·KV·hd] viewed as
 * [n, L, 2, KV, hd]; layer l's key is slice (l, 0), its value (l, 1). With GQA the prefix holds
 * KV heads. Prefix keys are never rotated. Without projection the table is trained; with
 * prefix_projection it is transform(embedding) = Lin2(Tanh(Lin0(E))), E [n, token_dim], where
 * token_dim = KV·hd (PEFT's token_dim for prefix tuning, see adapter/peft_config.ts peftDims).
 */
import { SoftpromptError } from '../errors.ts';
import type { ModelConfig } from '../formats/hf_config.ts';
import * as op from '../graph/ops/index.ts';
import type { Value } from '../graph/types.ts';
import type { KV } from '../models/types.ts';
import { torchLinear } from './p_tuning.ts';
import type { EncoderSpec, PromptMethod } from './types.ts';

export interface PrefixTuningOptions {
  numVirtualTokens: number;
  /** PEFT's prefix_projection: train Embedding → Linear → Tanh → Linear instead of the table. */
  projection?: boolean;
  /** The projection's hidden size (PEFT's encoder_hidden_size); default token_dim, as PEFT fills it. */
  encoderHiddenSize?: number;
}

/** PEFT's token_dim for a prefix: the key/value width KV·hd (the hidden size without GQA). */
export function prefixTokenDim(config: ModelConfig): number {
  return config.numKvHeads * config.headDim;
}

export function prefixWidth(config: ModelConfig): number {
  return 2 * config.numLayers * prefixTokenDim(config);
}

/** The projected table [n, 2·L·KV·hd] from PEFT-named params (embedding.weight, transform.{0,2}.*). */
export function prefixProjection(p: Readonly<Record<string, Value>>): Value {
  const hidden = op.tanh(torchLinear(p['embedding.weight']!, p['transform.0.weight']!, p['transform.0.bias']!));
  return torchLinear(hidden, p['transform.2.weight']!, p['transform.2.bias']!);
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

export function prefixTuning(config: ModelConfig, { numVirtualTokens: n, projection, encoderHiddenSize }: PrefixTuningOptions): PromptMethod {
  if (!projection) {
    return {
      kind: 'prefix_tuning',
      numVirtualTokens: n,
      params: [{ name: 'prompt_embeddings', shape: [n, prefixWidth(config)] }],
      enter: (model, p) => ({ placement: 'kv-prefix', past: (like) => prefixPast(p['prompt_embeddings']!, model.config, like) }),
    };
  }
  const td = prefixTokenDim(config);
  const h = encoderHiddenSize ?? td;
  if (!Number.isSafeInteger(h) || h < 1) throw new SoftpromptError(`prefix tuning: the projection's hidden size must be a positive integer, got ${h}`);
  const encoder: EncoderSpec = { type: 'prefix_projection', hiddenSize: h };
  return {
    kind: 'prefix_tuning',
    numVirtualTokens: n,
    params: [
      { name: 'embedding.weight', shape: [n, td] },
      { name: 'transform.0.weight', shape: [h, td] },
      { name: 'transform.0.bias', shape: [h] },
      { name: 'transform.2.weight', shape: [prefixWidth(config), h] },
      { name: 'transform.2.bias', shape: [prefixWidth(config)] },
    ],
    encoder,
    enter: (model, p) => {
      const table = prefixProjection(p); // once per graph, shared by every layer's key and value
      return { placement: 'kv-prefix', past: (like) => prefixPast(table, model.config, like) };
    },
  };
}
