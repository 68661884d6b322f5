/**
 * Llama (LlamaForCausalLM): RMSNorm, rotate-half RoPE with rope_theta, grouped-query
 * attention, SwiGLU MLP, tied or untied head. Weight names follow HF.
 */
import { ConfigError } from '../errors.ts';
import type { ModelConfig } from '../formats/hf_config.ts';
import type { WeightStore } from '../formats/weights.ts';
import type { Graph } from '../graph/graph.ts';
import * as op from '../graph/ops/index.ts';
import type { Value } from '../graph/types.ts';
import { attention, attentionBias, linear, mergeHeads, splitHeads, WeightLoader } from './common.ts';
import { applyRope, ropeTables } from './rope.ts';
import type { BuildOptions, CausalLM, ForwardInputs, ForwardOutputs, KV } from './types.ts';

/** w · x / sqrt(mean(x²) + eps) */
function rmsNorm(x: Value, w: Value, eps: number): Value {
  const inv = op.reciprocal(op.sqrt(op.add(op.reduceMean(op.mul(x, x), [-1]), eps)));
  return op.mul(op.mul(x, inv), w);
}

interface LlamaLayer {
  inputNorm: Value;
  q: Value; k: Value; v: Value; o: Value;
  qb?: Value; kb?: Value; vb?: Value; ob?: Value;
  postNorm: Value;
  gate: Value; up: Value; down: Value;
}

export function buildLlama(g: Graph, config: ModelConfig, store: WeightStore, opts: BuildOptions = {}): CausalLM {
  const dtype = opts.dtype ?? 'float32';
  const { hiddenSize: d, numHeads: H, numKvHeads: KVH, headDim: hd, intermediateSize: ff, vocabSize: V } = config;
  if (config.activation !== 'silu') throw new ConfigError('config.json', 'hidden_act', `"${config.activation}" is not supported for llama (only silu)`);
  const w = new WeightLoader(g, store, dtype);
  const embed = w.get('model.embed_tokens.weight', [V, d]);
  const layers: LlamaLayer[] = [];
  for (let l = 0; l < config.numLayers; l++) {
    const p = `model.layers.${l}`;
    const bias = (name: string, n: number): Value | undefined => (config.attentionBias ? w.get(`${p}.self_attn.${name}.bias`, [n]) : undefined);
    layers.push({
      inputNorm: w.get(`${p}.input_layernorm.weight`, [d]),
      q: w.linear(`${p}.self_attn.q_proj.weight`, H * hd, d),
      k: w.linear(`${p}.self_attn.k_proj.weight`, KVH * hd, d),
      v: w.linear(`${p}.self_attn.v_proj.weight`, KVH * hd, d),
      o: w.linear(`${p}.self_attn.o_proj.weight`, d, H * hd),
      qb: bias('q_proj', H * hd), kb: bias('k_proj', KVH * hd), vb: bias('v_proj', KVH * hd), ob: bias('o_proj', d),
      postNorm: w.get(`${p}.post_attention_layernorm.weight`, [d]),
      gate: w.linear(`${p}.mlp.gate_proj.weight`, ff, d),
      up: w.linear(`${p}.mlp.up_proj.weight`, ff, d),
      down: w.linear(`${p}.mlp.down_proj.weight`, d, ff),
    });
  }
  const finalNorm = w.get('model.norm.weight', [d]);
  const head = config.tieWordEmbeddings ? op.transpose(embed, [1, 0]) : w.linear('lm_head.weight', V, d);

  return {
    config,
    graph: g,
    dtype,
    embedTokens: (ids) => op.gather(embed, ids),
    lmHead: (hidden) => op.matmul(hidden, head),
    forward({ embeds, positionIds, attentionMask, past, segmentIds }: ForwardInputs): ForwardOutputs {
      const bias = attentionBias(embeds, attentionMask, dtype, segmentIds);
      const rope = ropeTables(positionIds, hd, config.ropeTheta, dtype);
      const present: KV[] = [];
      let x = embeds;
      layers.forEach((L, l) => {
        const h = rmsNorm(x, L.inputNorm, config.normEps);
        const q = applyRope(splitHeads(linear(h, L.q, L.qb), H, hd), rope, hd);
        let k = applyRope(splitHeads(linear(h, L.k, L.kb), KVH, hd), rope, hd);
        let v = splitHeads(linear(h, L.v, L.vb), KVH, hd);
        // Past keys were rotated when they were made (or, for a prefix, never are): no re-rotation.
        if (past) {
          k = op.concat([past[l]!.key, k], 2);
          v = op.concat([past[l]!.value, v], 2);
        }
        present.push({ key: k, value: v });
        const a = mergeHeads(attention(q, k, v, bias, H, KVH, hd), H, hd);
        x = op.add(x, linear(a, L.o, L.ob));
        const m = rmsNorm(x, L.postNorm, config.normEps);
        x = op.add(x, op.matmul(op.mul(op.silu(op.matmul(m, L.gate)), op.matmul(m, L.up)), L.down));
      });
      return { hidden: rmsNorm(x, finalNorm, config.normEps), present };
    },
  };
}
