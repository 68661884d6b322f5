/**
 * The graphs inference runs, built on the frozen model (weights as initializers):
 *
 * - the step graph, used for prefill and decode alike: token ids [B, S] at explicit positions
 *   [B, S], after a per-layer past [B, KV, P, hd] (a task prefix, or the KV cache), with the
 *   attention mask [B, P+S]; it outputs the logits of one position per row ([B, V], picked by
 *   the flat index `last_index` [B] into the B·S positions, so the LM head runs on B rows only)
 *   and the keys/values of the S new positions only, [B, KV, S, hd] per layer (`new.{l}.key`):
 *   the host already holds the past, so fetching the whole present (P+S) would copy the cache
 *   out of ORT on every step. Prefill is S = prompt length, decode S = 1.
 * - the prefix graph: input embeddings [B, S, d] (a task's virtual tokens) at positions
 *   [B, S] with no past; it outputs only the present keys/values. Run once per prompt-tuning task.
 *
 * All dims but the model's are dynamic.
 */
import type { ModelConfig } from '../formats/hf_config.ts';
import type { WeightStore } from '../formats/weights.ts';
import { Graph } from '../graph/graph.ts';
import * as op from '../graph/ops/index.ts';
import { buildModel } from '../models/registry.ts';
import type { KV } from '../models/types.ts';
import { tensor } from '../tensor.ts';

export const STEP = {
  inputIds: 'input_ids',
  positionIds: 'position_ids',
  attentionMask: 'attention_mask',
  lastIndex: 'last_index',
  logits: 'logits',
} as const;

export const PREFIX = {
  embeds: 'inputs_embeds',
  positionIds: 'position_ids',
  attentionMask: 'attention_mask',
} as const;

export const pastKey = (l: number): string => `past.${l}.key`;
export const pastValue = (l: number): string => `past.${l}.value`;
export const presentKey = (l: number): string => `present.${l}.key`;
export const presentValue = (l: number): string => `present.${l}.value`;
export const newKey = (l: number): string => `new.${l}.key`;
export const newValue = (l: number): string => `new.${l}.value`;

export function buildStepGraph(config: ModelConfig, weights: WeightStore): Graph {
  const g = new Graph(`softprompt_${config.modelType}_infer_step`);
  const model = buildModel(g, config, weights, { dtype: 'float32' });
  const { numLayers: L, numKvHeads: KVH, headDim: hd, hiddenSize: d } = config;
  const ids = g.input(STEP.inputIds, 'int64', ['B', 'S']);
  const positionIds = g.input(STEP.positionIds, 'int64', ['B', 'S']);
  const mask = g.input(STEP.attentionMask, 'int64', ['B', 'M']);
  const past: KV[] = [];
  for (let l = 0; l < L; l++) {
    past.push({ key: g.input(pastKey(l), 'float32', ['B', KVH, 'P', hd]), value: g.input(pastValue(l), 'float32', ['B', KVH, 'P', hd]) });
  }
  const lastIndex = g.input(STEP.lastIndex, 'int64', ['B']);
  const { hidden, present } = model.forward({ embeds: model.embedTokens(ids), positionIds, attentionMask: mask, past });
  const last = op.gather(op.reshape(hidden, [-1, d]), lastIndex); // [B, d]
  g.output(STEP.logits, model.lmHead(last));
  // The new positions P..P+S-1 of the present (P from the past's shape, S from the ids').
  const two = g.constant(tensor('int64', [], BigInt64Array.of(2n)));
  const one = g.constant(tensor('int64', [], BigInt64Array.of(1n)));
  const P = op.gather(op.shapeOf(past[0]!.key), two);
  const S = op.gather(op.shapeOf(ids), one);
  const fresh = op.range(P, op.add(P, S), 'S');
  present.forEach((kv, l) => {
    g.output(newKey(l), op.gather(kv.key, fresh, 2));
    g.output(newValue(l), op.gather(kv.value, fresh, 2));
  });
  return g;
}

export function buildPrefixGraph(config: ModelConfig, weights: WeightStore): Graph {
  const g = new Graph(`softprompt_${config.modelType}_infer_prefix`);
  const model = buildModel(g, config, weights, { dtype: 'float32' });
  const embeds = g.input(PREFIX.embeds, 'float32', ['B', 'S', config.hiddenSize]);
  const positionIds = g.input(PREFIX.positionIds, 'int64', ['B', 'S']);
  const mask = g.input(PREFIX.attentionMask, 'int64', ['B', 'S']);
  const { present } = model.forward({ embeds, positionIds, attentionMask: mask });
  present.forEach((kv, l) => {
    g.output(presentKey(l), kv.key);
    g.output(presentValue(l), kv.value);
  });
  return g;
}
