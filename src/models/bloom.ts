/**
 * BLOOM (BloomForCausalLM, bloomz): LayerNorm right after the embedding (virtual tokens included,
 * since it runs inside forward), ALiBi instead of positions, fused query_key_value per head,
 * tanh GELU MLP of 4·hidden, residuals from the un-normalised stream, head tied to the embeddings.
 * Checkpoints saved from BloomModel (bigscience/*) have no "transformer." prefix.
 */
import type { ModelConfig } from '../formats/hf_config.ts';
import type { WeightStore } from '../formats/weights.ts';
import type { Graph } from '../graph/graph.ts';
import * as op from '../graph/ops/index.ts';
import type { Value } from '../graph/types.ts';
import { alibiBias, keyPositions } from './alibi.ts';
import { attention, attentionBias, linear, mergeHeads, splitHeads, WeightLoader } from './common.ts';
import { perHeadQkv } from './fused_qkv.ts';
import type { BuildOptions, CausalLM, ForwardInputs, ForwardOutputs, KV } from './types.ts';

export function bloomWeightPrefix(store: Pick<WeightStore, 'has'>): string {
  return store.has('transformer.word_embeddings.weight') ? 'transformer.' : '';
}

interface BloomLayer {
  ln1w: Value; ln1b: Value; ln2w: Value; ln2b: Value;
  qkvW: Value; qkvB: Value; denseW: Value; denseB: Value;
  upW: Value; upB: Value; downW: Value; downB: Value;
}

export function buildBloom(g: Graph, config: ModelConfig, store: WeightStore, opts: BuildOptions = {}): CausalLM {
  const dtype = opts.dtype ?? 'float32';
  const { hiddenSize: d, numHeads: H, headDim: hd, intermediateSize: ff, vocabSize: V, normEps: eps } = config;
  const pre = bloomWeightPrefix(store);
  const w = new WeightLoader(g, store, dtype);
  const embed = w.get(`${pre}word_embeddings.weight`, [V, d]);
  const embLnW = w.get(`${pre}word_embeddings_layernorm.weight`, [d]);
  const embLnB = w.get(`${pre}word_embeddings_layernorm.bias`, [d]);
  const layers: BloomLayer[] = [];
  for (let l = 0; l < config.numLayers; l++) {
    const p = `${pre}h.${l}`;
    const qkv = perHeadQkv(w, `${p}.self_attention.query_key_value`, H, hd, d);
    layers.push({
      ln1w: w.get(`${p}.input_layernorm.weight`, [d]), ln1b: w.get(`${p}.input_layernorm.bias`, [d]),
      ln2w: w.get(`${p}.post_attention_layernorm.weight`, [d]), ln2b: w.get(`${p}.post_attention_layernorm.bias`, [d]),
      qkvW: qkv.weight, qkvB: qkv.bias,
      denseW: w.linear(`${p}.self_attention.dense.weight`, d, d), denseB: w.get(`${p}.self_attention.dense.bias`, [d]),
      upW: w.linear(`${p}.mlp.dense_h_to_4h.weight`, ff, d), upB: w.get(`${p}.mlp.dense_h_to_4h.bias`, [ff]),
      downW: w.linear(`${p}.mlp.dense_4h_to_h.weight`, d, ff), downB: w.get(`${p}.mlp.dense_4h_to_h.bias`, [d]),
    });
  }
  const lnfW = w.get(`${pre}ln_f.weight`, [d]);
  const lnfB = w.get(`${pre}ln_f.bias`, [d]);
  const head = config.tieWordEmbeddings ? op.transpose(embed, [1, 0]) : w.linear('lm_head.weight', V, d);

  return {
    config,
    graph: g,
    dtype,
    embedTokens: (ids) => op.gather(embed, ids),
    lmHead: (hidden) => op.matmul(hidden, head),
    forward({ embeds, positionIds, attentionMask, past, segmentIds }: ForwardInputs): ForwardOutputs {
      const bias = op.add(attentionBias(embeds, attentionMask, dtype, segmentIds), alibiBias(keyPositions(positionIds, attentionMask, past !== undefined), H, dtype));
      const present: KV[] = [];
      let x = op.layerNorm(embeds, embLnW, embLnB, eps);
      // Each layer is a segment, so training can recompute it (Graph.segment).
      layers.forEach((L, l) => g.segment(() => {
        const h = op.layerNorm(x, L.ln1w, L.ln1b, eps);
        const [q0, k0, v0] = op.split(linear(h, L.qkvW, L.qkvB), -1, [d, d, d]);
        let k = splitHeads(k0!, H, hd);
        let v = splitHeads(v0!, H, hd);
        if (past) {
          k = op.concat([past[l]!.key, k], 2);
          v = op.concat([past[l]!.value, v], 2);
        }
        present.push({ key: k, value: v });
        const a = mergeHeads(attention(splitHeads(q0!, H, hd), k, v, bias, H, H, hd), H, hd);
        x = op.add(x, linear(a, L.denseW, L.denseB));
        const m = op.layerNorm(x, L.ln2w, L.ln2b, eps);
        x = op.add(x, linear(op.geluTanh(linear(m, L.upW, L.upB)), L.downW, L.downB));
      }));
      return { hidden: op.layerNorm(x, lnfW, lnfB, eps), present };
    },
  };
}
