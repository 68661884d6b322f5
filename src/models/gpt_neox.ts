/**
 * GPT-NeoX (GPTNeoXForCausalLM, Pythia): LayerNorm blocks with a parallel residual
 * x + attn(ln1(x)) + mlp(ln2(x)), fused query_key_value per head, RoPE on the first rotaryDim dims
 * of each head only, exact-erf GELU, biases everywhere, untied embed_out.
 */
import { ConfigError } from '../errors.ts';
import type { ModelConfig } from '../formats/hf_config.ts';
import type { GptNeoxConfig } from '../formats/gpt_config.ts';
import type { WeightStore } from '../formats/weights.ts';
import type { Graph } from '../graph/graph.ts';
import * as op from '../graph/ops/index.ts';
import type { Value } from '../graph/types.ts';
import { attention, attentionBias, linear, mergeHeads, splitHeads, WeightLoader } from './common.ts';
import { perHeadQkv } from './fused_qkv.ts';
import { partialRope, ropeTables } from './rope.ts';
import type { RopeTables } from './rope.ts';
import type { BuildOptions, CausalLM, ForwardInputs, ForwardOutputs, KV } from './types.ts';

const ACTIVATIONS: Record<string, (x: Value) => Value> = {
  gelu: op.geluErf,
  gelu_new: op.geluTanh,
  gelu_pytorch_tanh: op.geluTanh,
  relu: op.relu,
};

interface NeoxLayer {
  ln1w: Value; ln1b: Value; ln2w: Value; ln2b: Value;
  qkvW: Value; qkvB: Value; denseW: Value; denseB: Value;
  upW: Value; upB: Value; downW: Value; downB: Value;
}

export function buildGptNeox(g: Graph, config: ModelConfig, store: WeightStore, opts: BuildOptions = {}): CausalLM {
  const c = config as GptNeoxConfig;
  const dtype = opts.dtype ?? 'float32';
  const { hiddenSize: d, numHeads: H, headDim: hd, intermediateSize: ff, vocabSize: V, rotaryDim: rot, normEps: eps } = c;
  const act = ACTIVATIONS[c.activation];
  if (!act) throw new ConfigError('config.json', 'hidden_act', `"${c.activation}" is not supported for gpt_neox (supported: ${Object.keys(ACTIVATIONS).join(', ')})`);
  const w = new WeightLoader(g, store, dtype);
  const embed = w.get('gpt_neox.embed_in.weight', [V, d]);
  const layers: NeoxLayer[] = [];
  for (let l = 0; l < c.numLayers; l++) {
    const p = `gpt_neox.layers.${l}`;
    const qkv = perHeadQkv(w, `${p}.attention.query_key_value`, H, hd, d);
    layers.push({
      ln1w: w.get(`${p}.input_layernorm.weight`, [d]), ln1b: w.get(`${p}.input_layernorm.bias`, [d]),
      ln2w: w.get(`${p}.post_attention_layernorm.weight`, [d]), ln2b: w.get(`${p}.post_attention_layernorm.bias`, [d]),
      qkvW: qkv.weight, qkvB: qkv.bias,
      denseW: w.linear(`${p}.attention.dense.weight`, d, d), denseB: w.get(`${p}.attention.dense.bias`, [d]),
      upW: w.linear(`${p}.mlp.dense_h_to_4h.weight`, ff, d), upB: w.get(`${p}.mlp.dense_h_to_4h.bias`, [ff]),
      downW: w.linear(`${p}.mlp.dense_4h_to_h.weight`, d, ff), downB: w.get(`${p}.mlp.dense_4h_to_h.bias`, [d]),
    });
  }
  const lnfW = w.get('gpt_neox.final_layer_norm.weight', [d]);
  const lnfB = w.get('gpt_neox.final_layer_norm.bias', [d]);
  const head = c.tieWordEmbeddings ? op.transpose(embed, [1, 0]) : w.linear('embed_out.weight', V, d);

  return {
    config,
    graph: g,
    dtype,
    embedTokens: (ids) => op.gather(embed, ids),
    lmHead: (hidden) => op.matmul(hidden, head),
    forward({ embeds, positionIds, attentionMask, past, segmentIds }: ForwardInputs): ForwardOutputs {
      const bias = attentionBias(embeds, attentionMask, dtype, segmentIds);
      const rope = ropeTables(positionIds, rot, c.ropeTheta, dtype);
      const present: KV[] = [];
      let x = embeds;
      // Each layer is a segment, so training can recompute it (Graph.segment).
      layers.forEach((L, l) => g.segment(() => {
        const h = op.layerNorm(x, L.ln1w, L.ln1b, eps);
        const [q0, k0, v0] = op.split(linear(h, L.qkvW, L.qkvB), -1, [d, d, d]);
        const q = partialRope(splitHeads(q0!, H, hd), rope, rot, hd);
        let k = partialRope(splitHeads(k0!, H, hd), rope, rot, hd);
        let v = splitHeads(v0!, H, hd);
        // Past keys were rotated when cached; a prefix's keys are used as given.
        if (past) {
          k = op.concat([past[l]!.key, k], 2);
          v = op.concat([past[l]!.value, v], 2);
        }
        present.push({ key: k, value: v });
        const a = linear(mergeHeads(attention(q, k, v, bias, H, H, hd), H, hd), L.denseW, L.denseB);
        const mlpIn = c.parallelResidual ? x : op.add(x, a);
        const m = linear(act(linear(op.layerNorm(mlpIn, L.ln2w, L.ln2b, eps), L.upW, L.upB)), L.downW, L.downB);
        x = c.parallelResidual ? op.add(op.add(x, a), m) : op.add(mlpIn, m);
      }));
      return { hidden: op.layerNorm(x, lnfW, lnfB, eps), present };
    },
  };
}
