/**
 * The pre-norm RMSNorm decoders: Llama (plain, llama3 and linear RoPE), Qwen2, Qwen3, Mistral,
 * Gemma 3 (text) and Phi-3, one builder configured by the DecoderSpec that
 * formats/decoder_config.ts derives from config.json. Weight names follow HF:
 * model.embed_tokens, model.layers.{l}.{input_layernorm, self_attn.{q,k,v,o}_proj (Phi-3: qkv_proj),
 * self_attn.{q,k}_norm, post_attention_layernorm, pre/post_feedforward_layernorm (Gemma 3),
 * mlp.{gate,up,down}_proj (Phi-3: gate_up_proj)}, model.norm, lm_head.
 */
import { ConfigError } from '../errors.ts';
import { plainLlamaSpec } from '../formats/decoder_config.ts';
import type { DecoderSpec, RopeSpec } from '../formats/decoder_config.ts';
import type { ModelConfig } from '../formats/hf_config.ts';
import type { WeightStore } from '../formats/weights.ts';
import type { Graph } from '../graph/graph.ts';
import * as op from '../graph/ops/index.ts';
import type { Value } from '../graph/types.ts';
import { tensor } from '../tensor.ts';
import { keyPositions } from './alibi.ts';
import { windowBias } from './attention.ts';
import { attention, attentionBias, linear, mergeHeads, splitHeads, WeightLoader } from './common.ts';
import { rmsNorm } from './norms.ts';
import { partialRope, ropeTablesFrom } from './rope.ts';
import type { RopeTables } from './rope.ts';
import { scaledInverseFrequencies } from './rope_scaling.ts';
import type { BuildOptions, CausalLM, FloatDType, ForwardInputs, ForwardOutputs, KV } from './types.ts';

interface Layer {
  inputNorm: Value;
  /** Phi-3: one [d, (H+2KV)·hd] matrix; the others q, k, v apart. */
  qkv?: Value;
  q?: Value; k?: Value; v?: Value;
  qb?: Value; kb?: Value; vb?: Value;
  o: Value; ob?: Value;
  qNorm?: Value; kNorm?: Value;
  postAttnNorm: Value;
  preFfnNorm?: Value; postFfnNorm?: Value;
  gateUp?: Value;
  gate?: Value; up?: Value; down: Value;
  gateB?: Value; upB?: Value; downB?: Value;
  window: number | null;
  rope: RopeSpec;
}

/** The spec of a config: parsed from config.json, or plain Llama for configs made elsewhere (llama2.c). */
export function decoderSpecOf(config: ModelConfig): DecoderSpec {
  return config.decoder ?? plainLlamaSpec(config);
}

const ropeKey = (r: RopeSpec): string => JSON.stringify(r);

export function buildDecoder(g: Graph, config: ModelConfig, store: WeightStore, opts: BuildOptions = {}): CausalLM {
  const dtype: FloatDType = opts.dtype ?? 'float32';
  const spec = decoderSpecOf(config);
  const { hiddenSize: d, numHeads: H, numKvHeads: KVH, headDim: hd, intermediateSize: ff, vocabSize: V, normEps: eps } = config;
  if (spec.activation !== 'silu' && spec.activation !== 'gelu_pytorch_tanh') throw new ConfigError('config.json', 'hidden_act', `"${spec.activation}" is not supported`);
  const act = spec.activation === 'silu' ? op.silu : op.geluTanh;
  const w = new WeightLoader(g, store, dtype);

  /** A norm gain; Gemma's 1 + w and any constant factor folded in on the host, in the build dtype. */
  const gain = (name: string, n: number, factor = 1): Value => {
    if (!spec.unitOffsetNorm && factor === 1) return w.get(name, [n]);
    const raw = store.get(name, [n]).data;
    const vals = Array.from(raw, (x) => ((spec.unitOffsetNorm ? 1 : 0) + x) * factor);
    const t = dtype === 'float32' ? tensor('float32', [n], Float32Array.from(vals)) : tensor('float64', [n], Float64Array.from(vals));
    return g.weight(`${name}.gain`, t);
  };
  // common.attention scales scores by 1/√hd; another scale (Gemma) is folded into q: into the q
  // norm's gain when there is one, else one multiply.
  const qFactor = spec.attnScale * Math.sqrt(hd);
  const qScaleInGain = Math.abs(qFactor - 1) > 1e-12 && spec.qkNorm;
  const qScaleOp = Math.abs(qFactor - 1) > 1e-12 && !spec.qkNorm;

  const embed = w.get('model.embed_tokens.weight', [V, d]);
  const layers: Layer[] = spec.layers.map((ls, l) => {
    const p = `model.layers.${l}`;
    const a = `${p}.self_attn`;
    const bias = (name: string, n: number, on: boolean): Value | undefined => (on ? w.get(`${name}.bias`, [n]) : undefined);
    const L: Layer = {
      inputNorm: gain(`${p}.input_layernorm.weight`, d),
      o: w.linear(`${a}.o_proj.weight`, d, H * hd),
      ob: bias(`${a}.o_proj`, d, spec.outBias),
      postAttnNorm: gain(`${p}.post_attention_layernorm.weight`, d),
      down: w.linear(`${p}.mlp.down_proj.weight`, d, ff),
      downB: bias(`${p}.mlp.down_proj`, d, spec.mlpBias),
      window: ls.window,
      rope: ls.rope,
    };
    if (spec.fused) {
      L.qkv = w.linear(`${a}.qkv_proj.weight`, (H + 2 * KVH) * hd, d);
      L.gateUp = w.linear(`${p}.mlp.gate_up_proj.weight`, 2 * ff, d);
    } else {
      L.q = w.linear(`${a}.q_proj.weight`, H * hd, d);
      L.k = w.linear(`${a}.k_proj.weight`, KVH * hd, d);
      L.v = w.linear(`${a}.v_proj.weight`, KVH * hd, d);
      L.qb = bias(`${a}.q_proj`, H * hd, spec.qkvBias);
      L.kb = bias(`${a}.k_proj`, KVH * hd, spec.qkvBias);
      L.vb = bias(`${a}.v_proj`, KVH * hd, spec.qkvBias);
      L.gate = w.linear(`${p}.mlp.gate_proj.weight`, ff, d);
      L.up = w.linear(`${p}.mlp.up_proj.weight`, ff, d);
      L.gateB = bias(`${p}.mlp.gate_proj`, ff, spec.mlpBias);
      L.upB = bias(`${p}.mlp.up_proj`, ff, spec.mlpBias);
    }
    if (spec.qkNorm) {
      L.qNorm = gain(`${a}.q_norm.weight`, hd, qScaleInGain ? qFactor : 1);
      L.kNorm = gain(`${a}.k_norm.weight`, hd);
    }
    if (spec.sandwichNorms) {
      L.preFfnNorm = gain(`${p}.pre_feedforward_layernorm.weight`, d);
      L.postFfnNorm = gain(`${p}.post_feedforward_layernorm.weight`, d);
    }
    return L;
  });
  const finalNorm = gain('model.norm.weight', d);
  const head = config.tieWordEmbeddings ? op.transpose(embed, [1, 0]) : w.linear('lm_head.weight', V, d);

  /** q/k/v of normed input h, split into heads: [B, H|KV, S, hd]. */
  const project = (h: Value, L: Layer): [Value, Value, Value] => {
    let q: Value, k: Value, v: Value;
    if (L.qkv) {
      const [q0, k0, v0] = op.split(op.matmul(h, L.qkv), -1, [H * hd, KVH * hd, KVH * hd]);
      [q, k, v] = [q0!, k0!, v0!];
    } else {
      [q, k, v] = [linear(h, L.q!, L.qb), linear(h, L.k!, L.kb), linear(h, L.v!, L.vb)];
    }
    return [splitHeads(q, H, hd), splitHeads(k, KVH, hd), splitHeads(v, KVH, hd)];
  };

  const mlp = (m: Value, L: Layer): Value => {
    let gate: Value, up: Value;
    if (L.gateUp) {
      const [g0, u0] = op.split(op.matmul(m, L.gateUp), -1, [ff, ff]); // Phi-3: rows [gate | up]
      [gate, up] = [g0!, u0!];
    } else {
      [gate, up] = [linear(m, L.gate!, L.gateB), linear(m, L.up!, L.upB)];
    }
    return linear(op.mul(act(gate), up), L.down, L.downB);
  };

  return {
    config,
    graph: g,
    dtype,
    // Gemma scales inside the embedding module, so virtual tokens (placed as embeddings) are not scaled.
    embedTokens: (ids) => (spec.embedScale === 1 ? op.gather(embed, ids) : op.mul(op.gather(embed, ids), spec.embedScale)),
    lmHead: (hidden) => op.matmul(hidden, head),
    forward({ embeds, positionIds, attentionMask, past, segmentIds }: ForwardInputs): ForwardOutputs {
      const fullBias = attentionBias(embeds, attentionMask, dtype, segmentIds);
      const biases = new Map<number | null, Value>([[null, fullBias]]);
      const ropes = new Map<string, RopeTables>();
      let keyPos: Value | undefined;
      for (const L of layers) {
        if (L.window !== null && !biases.has(L.window)) {
          keyPos ??= keyPositions(positionIds, attentionMask, past !== undefined);
          biases.set(L.window, windowBias(fullBias, positionIds, keyPos, L.window, dtype));
        }
        const key = ropeKey(L.rope);
        if (!ropes.has(key)) ropes.set(key, ropeTablesFrom(positionIds, scaledInverseFrequencies(L.rope), dtype));
      }
      const present: KV[] = [];
      let x = embeds;
      // Each layer is a segment, so training can recompute it instead of keeping its activations.
      layers.forEach((L, l) => g.segment(() => {
        const tables = ropes.get(ropeKey(L.rope))!;
        const h = rmsNorm(x, L.inputNorm, eps);
        let [q, k, v] = project(h, L);
        if (L.qNorm) {
          q = rmsNorm(q, L.qNorm, eps);
          k = rmsNorm(k, L.kNorm!, eps);
        }
        if (qScaleOp) q = op.mul(q, qFactor);
        q = partialRope(q, tables, L.rope.rotaryDim, hd);
        k = partialRope(k, tables, L.rope.rotaryDim, hd);
        // Past keys were rotated when they were made (or, for a prefix, never are): no re-rotation.
        if (past) {
          k = op.concat([past[l]!.key, k], 2);
          v = op.concat([past[l]!.value, v], 2);
        }
        present.push({ key: k, value: v });
        let o = linear(mergeHeads(attention(q, k, v, biases.get(L.window)!, H, KVH, hd), H, hd), L.o, L.ob);
        if (L.postFfnNorm) {
          // Gemma 3: the post norms act on each branch's output before its residual add.
          o = rmsNorm(o, L.postAttnNorm, eps);
          x = op.add(x, o);
          x = op.add(x, rmsNorm(mlp(rmsNorm(x, L.preFfnNorm!, eps), L), L.postFfnNorm, eps));
        } else {
          x = op.add(x, o);
          x = op.add(x, mlp(rmsNorm(x, L.postAttnNorm, eps), L));
        }
      }));
      return { hidden: rmsNorm(x, finalNorm, eps), present };
    },
  };
}
